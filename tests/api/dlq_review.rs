//! DLQ review (list, replay, resolve), rule preview and retention, over HTTP with a real
//! database and the sandbox.

use std::time::Duration;

use crate::helpers::*;
use eligibility::{self, CompiledPolicy, EligibilitySettings, Outcome, Rule};
use mono::MonoTransaction;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

const PREVIEW: &str = "/si/mono/allow-deny/preview";

/// An app with one synced account of `n` generated transactions; answers the account id.
async fn synced(s: &SandboxApp, n: usize) -> String {
    let account = s.link_new_account(n).await;
    let synced: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account, "pageSize": 500}))
        .await;
    assert!(synced.dlq > 0, "the history has DLQ records: {synced:?}");
    account
}

async fn open_records(s: &SandboxApp, query: &str) -> Vec<Value> {
    s.app.get(&format!("/si/mono/dlq?limit=200{query}")).await
}

fn personal(records: &[Value]) -> Value {
    records
        .iter()
        .find(|r| r["reason"] == "personal_or_low_confidence")
        .expect("a personal record")
        .clone()
}

#[sqlx::test]
async fn records_carry_the_transaction_and_the_decision_and_page_newest_first(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = synced(&s, 300).await;
    let all = open_records(&s, "").await;
    let stored = count(&pool, "dlq_records").await;
    assert_eq!(all.len() as i64, stored.min(200));
    let r = &all[0];
    assert_eq!(r["accountId"], account.as_str());
    assert_eq!(r["status"], "open");
    assert_eq!(r["source"], "sync");
    assert!(r["transaction"]["id"].is_string(), "{r}");
    assert_eq!(r["transaction"]["id"], r["transactionId"]);
    assert!(
        r["amount"].is_i64() && r["currency"].is_string() && r["narration"].is_string(),
        "{r}"
    );
    let version = r["decision"]["policyVersion"].as_str().unwrap();
    assert_eq!(version.len(), 16);
    assert!(r["decision"]["keywords"].is_array());
    assert!(r["traceId"].is_string());

    // Paging: two records at a time walk the same records in the same order.
    let mut walked = Vec::new();
    let mut before = String::new();
    loop {
        let (status, body) = s.app.get_raw(&format!("/si/mono/dlq?limit=2{before}")).await;
        assert_eq!(status, 200, "{body}");
        walked.extend(body["data"].as_array().unwrap().iter().map(|r| r["id"].clone()));
        match body["meta"]["next"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
        if walked.len() >= 10 {
            break;
        }
    }
    let first: Vec<Value> = all.iter().take(walked.len()).map(|r| r["id"].clone()).collect();
    assert_eq!(walked, first);

    // Filters.
    let personal_only = open_records(&s, "&reason=personal_or_low_confidence").await;
    assert!(!personal_only.is_empty());
    assert!(personal_only
        .iter()
        .all(|r| r["reason"] == "personal_or_low_confidence"));
    assert!(open_records(&s, "&accountId=acc_nobody").await.is_empty());
    assert!(open_records(&s, "&status=resolved").await.is_empty());
    assert!(open_records(&s, "&to=2000-01-01").await.is_empty());
    let (status, body) = s.app.get_raw("/si/mono/dlq?status=maybe").await;
    assert_eq!(
        (status, assert_failure(&body)),
        (400, "invalid_request".to_string())
    );
    assert!(body["error"]["fields"]["status"].is_string());
    let (status, body) = s.app.get_raw("/si/mono/dlq?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["from"].is_string());
}

#[sqlx::test]
async fn replay_after_an_allow_rule_drafts_once_and_resolves(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = synced(&s, 300).await;
    let record = personal(&open_records(&s, "").await);
    let id = record["id"].as_str().unwrap();

    // Nothing changed: the record stays open with the same reason.
    let (status, body) = s
        .app
        .post_raw(&format!("/si/mono/dlq/{id}/replay"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["outcome"], "dlq");
    assert_eq!(body["data"]["reason"], record["reason"]);
    assert!(body["data"]["invoiceId"].is_null());
    assert!(open_records(&s, "").await.iter().any(|r| r["id"] == id));

    let narration = record["narration"].as_str().unwrap();
    let (status, body) = s
        .app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "allow", "pattern": narration, "match": "exact", "accountId": account}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .app
        .post_raw(&format!("/si/mono/dlq/{id}/replay"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["outcome"], "draft");
    assert_eq!(body["data"]["reason"], "allowlisted");
    let invoice_id = body["data"]["invoiceId"].as_str().unwrap().to_string();

    // Twice: the same answer, one invoice.
    let (status, again) = s
        .app
        .post_raw(&format!("/si/mono/dlq/{id}/replay"), json!({}))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["invoiceId"], invoice_id.as_str());
    let drafts: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE transaction_id = $1")
        .bind(record["transactionId"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(drafts, 1);

    let resolved = open_records(&s, "&status=resolved").await;
    let r = resolved.iter().find(|r| r["id"] == id).expect("resolved");
    assert_eq!(r["resolution"], "replayed");
    assert_eq!(r["invoiceId"], invoice_id.as_str());
    assert!(r["resolvedAt"].is_string());
    let (outcome, reason): (String, String) =
        sqlx::query_as("SELECT outcome, reason FROM mono_transactions WHERE transaction_id = $1")
            .bind(record["transactionId"].as_str().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((outcome.as_str(), reason.as_str()), ("draft", "allowlisted"));
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM eligibility_events WHERE transaction_id = $1 AND source = 'replay'",
    )
    .bind(record["transactionId"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 2, "each replay that decided is recorded");
}

#[sqlx::test]
async fn resolve_closes_a_record_once(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    synced(&s, 200).await;
    let records = open_records(&s, "").await;
    let id = records[0]["id"].as_str().unwrap();
    let (status, body) = s
        .app
        .post_raw(
            &format!("/si/mono/dlq/{id}/resolve"),
            json!({"resolution": "archived"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["resolution"].is_string());
    let (status, body) = s
        .app
        .post_raw(
            &format!("/si/mono/dlq/{id}/resolve"),
            json!({"resolution": "invoiced_manually", "note": "paid by cheque, invoiced by hand"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "resolved");
    assert_eq!(body["data"]["resolution"], "invoiced_manually");
    assert_eq!(body["data"]["note"], "paid by cheque, invoiced by hand");
    let (status, body) = s
        .app
        .post_raw(
            &format!("/si/mono/dlq/{id}/resolve"),
            json!({"resolution": "dismissed"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(assert_failure(&body), "already_resolved");
    let (status, body) = s
        .app
        .post_raw(&format!("/si/mono/dlq/{id}/replay"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(!open_records(&s, "").await.iter().any(|r| r["id"] == id));
}

#[sqlx::test]
async fn another_organizations_records_are_not_found(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    synced(&s, 200).await;
    let id = open_records(&s, "").await[0]["id"].as_str().unwrap().to_string();
    let other = taxpoynt_mono::services::tenants::create_tenant(&pool, "Other Org")
        .await
        .unwrap();
    let as_other = |path: String, body: Value| {
        let app = &s.app;
        let key = other.api_key.clone();
        async move {
            app.call(reqwest::Method::POST, &path, Some(&key), Some(&body))
                .await
        }
    };
    let (status, _) = as_other(format!("/si/mono/dlq/{id}/replay"), json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = as_other(
        format!("/si/mono/dlq/{id}/resolve"),
        json!({"resolution": "dismissed"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = s
        .app
        .call(reqwest::Method::GET, "/si/mono/dlq", Some(&other.api_key), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!([]));
    let (status, _) = s.app.post_raw("/si/mono/dlq/not-a-uuid/replay", json!({})).await;
    assert_eq!(status, 404);
}

/// Decides every stored transaction of the ledger under two policies with the engine itself.
async fn decide_directly(pool: &PgPool, before: &CompiledPolicy, after: &CompiledPolicy) -> (u64, [u64; 3]) {
    let rows: Vec<(String, Value)> = sqlx::query_as("SELECT account_id, transaction FROM mono_transactions")
        .fetch_all(pool)
        .await
        .unwrap();
    let mut changed = [0u64; 3];
    for (account, raw) in &rows {
        let t: MonoTransaction = serde_json::from_value(raw.clone()).unwrap();
        let tx = taxpoynt_mono::services::sync::decide::into_engine(account, Some("NGN"), t);
        if tx.amount == 0 {
            continue;
        }
        let (b, a) = (eligibility::decide(&tx, before), eligibility::decide(&tx, after));
        if b.outcome != a.outcome {
            changed[match a.outcome {
                Outcome::Draft => 0,
                Outcome::Dlq => 1,
                Outcome::Skipped => 2,
            }] += 1;
        }
    }
    (rows.len() as u64, changed)
}

#[sqlx::test]
async fn preview_counts_what_a_rule_or_a_settings_change_would_do_and_writes_nothing(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    synced(&s, 400).await;
    let snapshot = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM invoices) + (SELECT count(*) FROM dlq_records) * 1000
                  + (SELECT count(*) FROM eligibility_rules) * 1000000",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before_state = snapshot(pool.clone()).await;
    let today = CompiledPolicy::compile(&EligibilitySettings::default(), &[]).unwrap();

    // A deny rule on a word the business narrations carry.
    let (status, body) = s
        .app
        .post_raw(
            "/si/mono/allow-deny/preview",
            json!({"list": "deny", "pattern": "payment"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deny = Rule {
        id: "proposed".into(),
        list: eligibility::RuleList::Deny,
        account_id: None,
        field: Default::default(),
        match_kind: Default::default(),
        pattern: "payment".into(),
    };
    let proposed = CompiledPolicy::compile(&EligibilitySettings::default(), &[deny]).unwrap();
    let (decided, changed) = decide_directly(&pool, &today, &proposed).await;
    let d = &body["data"];
    assert_eq!(d["decided"], decided);
    assert_eq!(d["skippedWithoutTransaction"], 0);
    assert_eq!(
        d["changed"],
        json!({"toDraft": changed[0], "toDlq": changed[1], "toSkipped": changed[2]})
    );
    assert!(changed[1] > 0, "the deny rule moves drafts to the DLQ");
    let samples = d["samples"].as_array().unwrap();
    assert_eq!(samples.len() as u64, changed[1].min(20));
    assert!(samples
        .iter()
        .all(|x| x["before"]["outcome"] == "draft" && x["after"]["reason"] == "denylisted"));

    // A floor change.
    let (status, body) = s
        .app
        .post_raw("/si/mono/allow-deny/preview", json!({"settings": {"floor": 50}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let lower = EligibilitySettings {
        floor_minor: 5_000,
        ..EligibilitySettings::default()
    };
    let proposed = CompiledPolicy::compile(&lower, &[]).unwrap();
    let (_, changed) = decide_directly(&pool, &today, &proposed).await;
    assert_eq!(
        body["data"]["changed"],
        json!({"toDraft": changed[0], "toDlq": changed[1], "toSkipped": changed[2]})
    );

    // Rows written before the ledger kept bodies are counted, not decided.
    sqlx::query("UPDATE mono_transactions SET transaction = NULL WHERE transaction_id IN (SELECT transaction_id FROM mono_transactions LIMIT 5)")
        .execute(&pool)
        .await
        .unwrap();
    let (_, body) = s
        .app
        .post_raw("/si/mono/allow-deny/preview", json!({"settings": {"floor": 50}}))
        .await;
    assert_eq!(body["data"]["skippedWithoutTransaction"], 5);
    assert_eq!(body["data"]["decided"], decided - 5);

    // Bad input names the field.
    let (status, body) = s
        .app
        .post_raw(
            "/si/mono/allow-deny/preview",
            json!({"list": "deny", "pattern": "(", "match": "regex"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["pattern"].is_string(), "{body}");
    let (status, body) = s
        .app
        .post_raw(
            "/si/mono/allow-deny/preview",
            json!({"settings": {"floor": "lots"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s.app.post_raw("/si/mono/allow-deny/preview", json!({})).await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["list"].is_string());

    assert_eq!(
        snapshot(pool.clone()).await,
        before_state,
        "the preview wrote nothing"
    );
}

#[sqlx::test]
async fn preview_decides_the_kept_engine_fields_and_older_rows_json_alike(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    synced(&s, 400).await;
    let with_fields: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mono_transactions WHERE credit IS NOT NULL AND amount IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        with_fields, 400,
        "a sync keeps the engine's fields beside the JSON"
    );
    let previews = [
        json!({"list": "deny", "pattern": "payment"}),
        json!({"settings": {"floor": 50}}),
        json!({"list": "allow", "pattern": "(?i)^trf", "match": "regex"}),
    ];
    let mut from_fields = Vec::new();
    for body in &previews {
        let (status, answer) = s.app.post_raw("/si/mono/allow-deny/preview", body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        from_fields.push(answer["data"].clone());
    }
    // Half the rows as the ledger held them before it kept the fields: decided from the JSON.
    sqlx::query(
        "UPDATE mono_transactions SET credit = NULL, amount = NULL, currency = NULL, narration = NULL,
             description = NULL, reference = NULL, counterparty_name = NULL, counterparty_account = NULL,
             counterparty_bank = NULL
         WHERE transaction_id IN (SELECT transaction_id FROM mono_transactions ORDER BY transaction_id LIMIT 200)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (body, expected) in previews.iter().zip(&from_fields) {
        let (status, answer) = s.app.post_raw("/si/mono/allow-deny/preview", body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        let data = &answer["data"];
        assert_eq!(data["decided"], expected["decided"], "{body}");
        assert_eq!(data["changed"], expected["changed"], "{body}");
        assert_eq!(
            data["samples"].as_array().map(Vec::len),
            expected["samples"].as_array().map(Vec::len),
            "{body}"
        );
    }
    assert_ne!(
        from_fields[0]["changed"]["toDlq"], 0,
        "the deny rule changes something"
    );
}

/// The ranges previews have read so far (`preview_scan_ranges_total`).
async fn scan_ranges_read(app: &TestApp) -> f64 {
    metric_of(app, "preview_scan_ranges_total", &[]).await
}

/// A ledger large enough to split: the preview over four connections, each a range of the
/// table's pages, answers exactly what one scan answers (counts, and the samples in order),
/// with rows stored before the ledger kept the engine's fields (decoded from the JSON) in
/// every range; and rows changed while it waits to start reading are seen by none of its
/// connections: they all read the snapshot it took first.
#[sqlx::test]
async fn a_split_preview_answers_as_one_scan_under_one_snapshot(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .with_sandbox()
        .setting("PREVIEW_SCAN_CONNECTIONS", 4)
        .setting("PREVIEW_CONCURRENCY", 8)
        .start()
        .await;
    synced(&s, 400).await;
    // Copies of the synced rows under new ids, the JSON's id too, then every third row as
    // the ledger held it before it kept the fields.
    sqlx::query(
        "INSERT INTO mono_transactions (env_id, account_id, transaction_id, outcome, reason, created_at,
             transaction, tx_date, credit, amount, currency, narration, description, reference,
             counterparty_name, counterparty_account, counterparty_bank)
         SELECT env_id, account_id, copy_id, outcome, reason, created_at,
                CASE WHEN transaction ? '_id' THEN jsonb_set(transaction, '{_id}', to_jsonb(copy_id))
                     ELSE jsonb_set(transaction, '{id}', to_jsonb(copy_id)) END,
                tx_date, credit, amount, currency, narration, description, reference,
                counterparty_name, counterparty_account, counterparty_bank
         FROM (SELECT o.*, o.transaction_id || '-copy' || g AS copy_id
               FROM mono_transactions AS o, generate_series(1, 24) AS g) AS copied",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE mono_transactions SET credit = NULL, amount = NULL, currency = NULL, narration = NULL,
             description = NULL, reference = NULL, counterparty_name = NULL, counterparty_account = NULL,
             counterparty_bank = NULL
         WHERE abs(hashtext(transaction_id)::int8) % 3 = 0",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (pages, without_fields): (i64, i64) = sqlx::query_as(
        "SELECT pg_relation_size('mono_transactions') / current_setting('block_size')::int8,
                (SELECT count(*) FROM mono_transactions WHERE credit IS NULL)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        pages >= 4 * 128,
        "the ledger is large enough for four ranges: {pages} pages"
    );
    assert!(without_fields > 1000, "{without_fields}");

    let previews = [
        json!({"list": "deny", "pattern": "payment"}),
        json!({"settings": {"floor": 50}}),
        json!({"list": "allow", "pattern": "(?i)^trf", "match": "regex"}),
    ];
    let mut split = Vec::new();
    for body in &previews {
        let (status, answer) = s.app.post_raw(PREVIEW, body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        split.push(answer["data"].clone());
    }
    assert_eq!(
        scan_ranges_read(&s.app).await,
        12.0,
        "each preview read four ranges"
    );
    let single = s.replica().setting("PREVIEW_SCAN_CONNECTIONS", 1).start().await;
    for (body, split) in previews.iter().zip(&split) {
        let (status, answer) = single.post_raw(PREVIEW, body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(&answer["data"], split, "{body}");
    }
    assert_eq!(
        scan_ranges_read(&s.app).await,
        15.0,
        "one range each on one connection"
    );
    assert_eq!(split[0]["samples"].as_array().map(Vec::len), Some(20));
    assert_ne!(split[0]["changed"]["toDlq"], 0, "the deny rule changes something");

    // Rows changed once the preview has its snapshot, before it reads: it waits behind a
    // lock on the ledger that the writer holds until it has changed them.
    let mut writer = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE mono_transactions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *writer)
        .await
        .unwrap();
    let preview = {
        let (url, key, body) = (s.app.url(PREVIEW), s.app.key().to_owned(), previews[0].clone());
        tokio::spawn(async move { call(Method::POST, &url, Some(&key), Some(&body)).await })
    };
    wait_for(
        "the preview waiting behind the lock",
        Duration::from_secs(20),
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE '%pg_relation_size(''mono_transactions'')%'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (waiting == 1).then_some(())
        },
    )
    .await;
    for change in [
        "UPDATE mono_transactions SET narration = 'payment ' || narration WHERE credit IS NOT NULL",
        "DELETE FROM mono_transactions WHERE abs(hashtext(transaction_id)::int8) % 4 = 1",
    ] {
        sqlx::query(change).execute(&mut *writer).await.unwrap();
    }
    writer.commit().await.unwrap();
    let (status, answer) = preview.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"], split[0],
        "the rows as they were when the preview began"
    );
    assert_eq!(scan_ranges_read(&s.app).await, 19.0, "four ranges again");
    let (_, now) = s.app.post_raw(PREVIEW, previews[0].clone()).await;
    assert_ne!(
        now["data"]["decided"], split[0]["decided"],
        "the changes are seen by the next preview"
    );
    assert_ne!(now["data"]["changed"], split[0]["changed"]);
}

#[sqlx::test]
async fn retention_deletes_exactly_what_is_old_and_unsigned(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    synced(&s, 300).await;
    // Age half of everything by 40 days; sign one old invoice.
    for table in [
        "invoices",
        "dlq_records",
        "eligibility_events",
        "monitoring_events",
        "mono_transactions",
    ] {
        sqlx::query(&format!(
            "UPDATE {table} SET created_at = now() - interval '40 days'
             WHERE transaction_id IN (SELECT transaction_id FROM mono_transactions ORDER BY transaction_id LIMIT 150)
                -- at least two drafts and a DLQ record among the old, whatever the sandbox made
                OR transaction_id IN (SELECT transaction_id FROM invoices ORDER BY transaction_id LIMIT 2)
                OR transaction_id IN (SELECT transaction_id FROM dlq_records ORDER BY transaction_id LIMIT 1)"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "UPDATE invoices SET status = 'SIGNED', irn = 'INV1-TEST0001-20260101', signed_at = now(),
                signed_payload = '{}', signature = '{}'
         WHERE id = (SELECT id FROM invoices WHERE created_at < now() - interval '30 days' LIMIT 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let old_unsigned = count(
        &pool,
        "invoices WHERE created_at < now() - interval '30 days' AND status <> 'SIGNED'",
    )
    .await;
    let old_dlq = count(&pool, "dlq_records WHERE created_at < now() - interval '30 days'").await;
    let invoices = count(&pool, "invoices").await;
    let dlq = count(&pool, "dlq_records").await;
    let ledger = count(&pool, "mono_transactions").await;
    let old_ledger = count(
        &pool,
        "mono_transactions WHERE created_at < now() - interval '30 days'",
    )
    .await;
    assert!(old_unsigned > 0 && old_dlq > 0 && old_ledger >= 150);

    let stop = tokio_util::sync::CancellationToken::new();
    let dry = taxpoynt_mono::services::retention::purge(&pool, Some(30), &stop, true)
        .await
        .unwrap();
    let sandbox_env = dry.iter().find(|e| e.env == "sandbox").unwrap();
    assert_eq!(sandbox_env.rows["invoices"], old_unsigned as u64);
    assert_eq!(sandbox_env.rows["dlqRecords"], old_dlq as u64);
    assert_eq!(sandbox_env.rows["transactionBodies"], old_ledger as u64);
    assert_eq!(
        count(&pool, "invoices").await,
        invoices,
        "a dry run deletes nothing"
    );

    let done = taxpoynt_mono::services::retention::purge(&pool, Some(30), &stop, false)
        .await
        .unwrap();
    assert_eq!(
        done.iter().find(|e| e.env == "sandbox").unwrap().rows,
        sandbox_env.rows
    );
    assert_eq!(count(&pool, "invoices").await, invoices - old_unsigned);
    assert_eq!(
        count(&pool, "invoices WHERE status = 'SIGNED'").await,
        1,
        "signed invoices stay"
    );
    assert_eq!(count(&pool, "dlq_records").await, dlq - old_dlq);
    assert_eq!(
        count(&pool, "mono_transactions").await,
        ledger,
        "ledger rows stay"
    );
    assert_eq!(
        count(&pool, "mono_transactions WHERE transaction IS NULL").await,
        old_ledger
    );
    assert_eq!(
        count(
            &pool,
            "eligibility_events WHERE created_at < now() - interval '30 days'"
        )
        .await,
        0
    );

    // An environment's own retention beats the default; none at all keeps everything.
    let again = taxpoynt_mono::services::retention::purge(&pool, None, &stop, true)
        .await
        .unwrap();
    assert!(again.is_empty(), "no retention configured: nothing considered");
}

/// Polls the job until it is done; answers it.
async fn finished_job(s: &SandboxApp, job_id: &str) -> Value {
    let what = format!("job {job_id} to finish");
    wait_for(&what, std::time::Duration::from_secs(60), || async {
        let job: Value = s.app.get(&format!("/si/mono/jobs/{job_id}")).await;
        assert_ne!(job["status"], "failed", "{job}");
        (job["status"] == "done").then_some(job)
    })
    .await
}

#[sqlx::test]
async fn bulk_replay_of_a_filtered_set_runs_in_the_background_and_resumes(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    synced(&s, 400).await;
    let open_of = |reason: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM dlq_records WHERE status = 'open' AND ($1 = '' OR reason = $1)",
            )
            .bind(reason)
            .fetch_one(&pool)
            .await
            .unwrap() as usize
        }
    };
    let personal = open_of("personal_or_low_confidence").await;
    let others = open_of("").await - personal;
    assert!(personal > 2, "{personal}");
    // Today's policy lets everything through the heuristics.
    let (status, _) = s
        .app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "allow", "pattern": ".", "match": "regex"}),
        )
        .await;
    assert_eq!(status, 201);

    // A job that died after its first record: queued again, it resumes after that record.
    let first_seq: i64 = sqlx::query_scalar(
        "SELECT min(seq) FROM dlq_records WHERE status = 'open' AND reason = 'personal_or_low_confidence'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let env_id = s.app.env_id("sandbox");
    let resumed: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, org_id, env_id, status, attempts, lease_id, locked_until, progress)
         VALUES (gen_random_uuid(), 'dlq_replay',
                 jsonb_build_object('filter', jsonb_build_object('reason', 'personal_or_low_confidence'), 'env', 'sandbox'),
                 $1, $2::uuid, 'running', 1, gen_random_uuid(), now() - interval '1 minute',
                 jsonb_build_object('processed', 1, 'drafted', 0, 'stillOpen', 1, 'errors', 0, 'afterSeq', $3::int8))
         RETURNING id",
    )
    .bind(s.app.tenant.org_id)
    .bind(&env_id)
    .bind(first_seq)
    .fetch_one(&pool)
    .await
    .unwrap();
    let job = finished_job(&s, &resumed.to_string()).await;
    assert_eq!(job["kind"], "dlq_replay");
    assert_eq!(job["progress"]["processed"], personal as u64);
    assert_eq!(job["progress"]["drafted"], personal as u64 - 1);
    assert!(job["progress"]["afterSeq"].as_i64().unwrap() > first_seq);
    assert_eq!(
        open_of("personal_or_low_confidence").await,
        1,
        "only the record the dead run had passed is left"
    );

    // The public call: 202 with what it took, progress at the job, and a second run finds
    // nothing more.
    let (status, body) = s
        .app
        .post_raw(
            "/si/mono/dlq/replay",
            json!({"reason": "personal_or_low_confidence"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["taken"], 1);
    let job = finished_job(&s, body["data"]["jobId"].as_str().unwrap()).await;
    assert_eq!(job["progress"]["processed"], 1);
    assert_eq!(job["progress"]["drafted"], 1);
    assert_eq!(open_of("personal_or_low_confidence").await, 0);
    assert_eq!(open_of("").await, others, "records outside the filter stay");
    let drafted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dlq_records WHERE resolution = 'replayed' AND invoice_id IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(drafted as usize, personal);

    let (status, body) = s
        .app
        .post_raw("/si/mono/dlq/replay", json!({"from": "someday"}))
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["from"].is_string());
}
