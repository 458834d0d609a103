//! Transaction sync over HTTP with a real database and the Mono sandbox.

use std::collections::BTreeMap;
use std::future::ready;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{
    assert_failure, count, create_account, data, eligibility_cases, fault_applied, install_fault, metric_of,
    stored_state, wait_for, AccountView, CursorView, EligibilityEvent, MonitoringEvent, SandboxApp,
    SyncOutcome, TestApp,
};

/// The fixture cases the sandbox can carry as they are: default settings, no rules, no tags.
fn plain_fixture_cases() -> Vec<Value> {
    eligibility_cases()
        .into_iter()
        .filter(|c| {
            c["settings"].as_object().is_none_or(|s| s.is_empty())
                && c["rules"].as_array().is_none_or(|r| r.is_empty())
                && c["transaction"]["tags"].is_null()
        })
        .collect()
}

/// A linked account holding exactly the plain fixture transactions.
async fn fixture_account(s: &SandboxApp) -> (String, Vec<Value>) {
    let made = create_account(&s.sandbox, json!({"transactions": 0})).await;
    let code = made["code"].as_str().unwrap().to_string();
    let account: AccountView = s.app.post("/si/mono/exchange", json!({"code": code})).await;
    let account_id = account.id;
    let cases = plain_fixture_cases();
    let txs: Vec<Value> = cases
        .iter()
        .map(|c| {
            let t = &c["transaction"];
            let mut out = json!({"amount": t["amount"], "type": t["type"], "narration": t["narration"]});
            for key in ["currency", "reference", "description", "counterparty"] {
                if !t[key].is_null() {
                    out[key] = t[key].clone();
                }
            }
            out
        })
        .collect();
    s.control_post(
        &format!("/_sandbox/accounts/{account_id}/transactions"),
        json!({"transactions": txs}),
    )
    .await;
    (account_id, cases)
}

#[sqlx::test]
async fn a_sync_stores_what_the_fixture_decisions_say(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let (account_id, cases) = fixture_account(&s).await;
    let expected = |outcome: &str| cases.iter().filter(|c| c["expect"]["outcome"] == outcome).count() as u64;
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for c in &cases {
        if c["expect"]["outcome"] != "draft" {
            *by_reason
                .entry(c["expect"]["reason"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }

    let d: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account_id, "pageSize": 7}))
        .await;
    assert_eq!(d.account_id, account_id);
    assert_eq!(d.fetched, cases.len() as u64);
    assert_eq!(d.drafted, expected("draft"));
    assert_eq!(d.dlq, expected("dlq"));
    assert_eq!(d.skipped, cases.len() as u64 - expected("draft"));
    assert_eq!(d.skipped_by_reason, by_reason);
    assert!(!d.has_more, "{d:?}");
    assert!(d.cursor.is_some(), "{d:?}");

    let drafts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invoices WHERE account_id = $1 AND status = 'DRAFT' AND source = 'mono'",
    )
    .bind(&account_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(drafts as u64, expected("draft"));
    let dlq: i64 = sqlx::query_scalar("SELECT count(*) FROM dlq_records WHERE account_id = $1")
        .bind(&account_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dlq as u64, expected("dlq"));
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM eligibility_events WHERE account_id = $1")
        .bind(&account_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events as usize, cases.len(), "one event per decision");
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM monitoring_events WHERE account_id = $1 AND kind = 'invoice_failed' AND trace_id IS NOT NULL",
    )
    .bind(&account_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        failed as u64,
        expected("dlq"),
        "an invoice_failed event per DLQ record"
    );

    // A refund debit drafts a credit note; a credit an invoice.
    let kinds: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, narration FROM invoices WHERE account_id = $1 ORDER BY narration")
            .bind(&account_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        kinds
            .iter()
            .any(|(k, n)| k == "credit_note" && n.starts_with("REFUND")),
        "{kinds:?}"
    );
    // DLQ records keep the transaction as received.
    let raw: Value = sqlx::query_scalar("SELECT transaction FROM dlq_records WHERE account_id = $1 LIMIT 1")
        .bind(&account_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(raw["id"].is_string() && raw["narration"].is_string(), "{raw}");

    // A second sync creates nothing.
    let again: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account_id}))
        .await;
    assert_eq!(again.drafted, 0);
    assert_eq!(again.dlq, 0);
    let drafts_after: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE account_id = $1")
        .bind(&account_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(drafts_after, drafts);
}

/// A linked account of the customer with a history from `seed`; returns (account, customer).
async fn account_with_seed(
    s: &SandboxApp,
    transactions: usize,
    seed: u64,
    customer: Option<&str>,
) -> (String, String) {
    let made = create_account(
        &s.sandbox,
        json!({"transactions": transactions, "seed": seed, "customer_id": customer, "bank": "058"}),
    )
    .await;
    let code = made["code"].as_str().unwrap().to_string();
    let account: AccountView = s.app.post("/si/mono/exchange", json!({"code": code})).await;
    (account.id, made["customer_id"].as_str().unwrap().to_string())
}

#[sqlx::test]
async fn an_interrupted_sync_resumes_to_the_same_end_state(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .max_retries(0)
        .with_sandbox()
        .start()
        .await;
    let (clean, customer) = account_with_seed(&s, 600, 7, None).await;
    let (broken, _) = account_with_seed(&s, 600, 7, Some(&customer)).await;

    let clean_done: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": clean, "pageSize": 50}))
        .await;

    // A share of the transactions calls fail: each sync dies part way and the next resumes.
    install_fault(
        &s.sandbox,
        json!({"endpoint": "transactions", "error_rate": 0.3, "status": 500}),
    )
    .await;
    let mut failures = 0;
    let mut done = None;
    for _ in 0..200 {
        let (status, body) = s
            .app
            .post_raw("/si/mono/sync", json!({"accountId": broken, "pageSize": 50}))
            .await;
        if status == 200 {
            let page: SyncOutcome = data(&body);
            if !page.has_more {
                done = Some(page);
                break;
            }
        }
        assert!(status == 502 || status == 200, "{status} {body}");
        failures += 1;
    }
    let done = done.expect("the sync completes eventually");
    assert!(failures > 0, "the fault interrupted at least one sync");
    assert_eq!(done.cursor, clean_done.cursor);

    let clean_state = stored_state(&pool, &clean).await;
    let broken_state = stored_state(&pool, &broken).await;
    assert_eq!(clean_state.decisions.len(), 600);
    assert_eq!(
        broken_state.decisions.len(),
        600,
        "every transaction decided exactly once"
    );
    let differing: Vec<_> = clean_state
        .decisions
        .iter()
        .zip(&broken_state.decisions)
        .filter(|(a, b)| a != b)
        .take(5)
        .collect();
    assert!(differing.is_empty(), "decisions differ: {differing:?}");
    assert_eq!(
        (clean_state.drafts, clean_state.dlq),
        (broken_state.drafts, broken_state.dlq),
        "same drafts and DLQ records as one clean run"
    );
}

#[sqlx::test]
async fn a_second_concurrent_sync_of_one_account_is_409(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    let account_id = s.link_new_account(200).await;
    let slow = install_fault(&s.sandbox, json!({"endpoint": "transactions", "latency_ms": 400})).await;
    let body = json!({"accountId": account_id, "pageSize": 50});
    let (a, b) = tokio::join!(s.app.post_raw("/si/mono/sync", body.clone()), async {
        // The first sync holds the account's lock once it fetches transactions.
        wait_for("the first sync to fetch", Duration::from_secs(10), || {
            ready(fault_applied(&s.sandbox, &slow) >= 1)
        })
        .await;
        s.app.post_raw("/si/mono/sync", body.clone()).await
    });
    let statuses = [a.0, b.0];
    assert!(statuses.contains(&200), "{a:?} {b:?}");
    assert!(statuses.contains(&409), "{a:?} {b:?}");
    let conflict = if a.0 == 409 { &a.1 } else { &b.1 };
    assert_eq!(assert_failure(conflict), "sync_in_progress");
    assert!(
        conflict["error"].get("jobId").is_none(),
        "the running sync is no job: {conflict}"
    );
    // The lock is released afterwards.
    let _: SyncOutcome = s.app.post("/si/mono/sync", body).await;
}

/// Right after a link, the sync the link queued holds the account: the 409 names that job,
/// so a dashboard knows what to watch.
#[sqlx::test]
async fn a_sync_refused_while_the_links_queued_sync_runs_names_its_job(pool: PgPool) {
    let s = TestApp::builder(pool)
        .sync_on_link(true)
        .with_sandbox()
        .start()
        .await;
    let slow = install_fault(&s.sandbox, json!({"endpoint": "transactions", "latency_ms": 400})).await;
    let account_id = s.link_new_account(200).await;
    wait_for("the queued sync to fetch", Duration::from_secs(20), || {
        ready(fault_applied(&s.sandbox, &slow) >= 1)
    })
    .await;
    let (status, body) = s
        .app
        .post_raw("/si/mono/sync", json!({"accountId": account_id, "pageSize": 50}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(assert_failure(&body), "sync_in_progress");
    let job_id = body["error"]["jobId"].as_str().expect("the job it waits for");
    let job: Value = s.app.get(&format!("/si/mono/jobs/{job_id}")).await;
    assert_eq!(job["kind"], "sync", "{job}");
}

#[sqlx::test]
async fn sync_refuses_unknown_unready_and_bad_input(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    let (status, body) = s
        .app
        .post_raw("/si/mono/sync", json!({"accountId": "acc_nobody"}))
        .await;
    assert_eq!(status, 404, "{body}");

    let made = create_account(
        &s.sandbox,
        json!({"transactions": 5, "data_status": "PROCESSING"}),
    )
    .await;
    let code = made["code"].as_str().unwrap().to_string();
    let account: AccountView = s.app.post("/si/mono/exchange", json!({"code": code})).await;
    let account_id = account.id;
    let (status, body) = s
        .app
        .post_raw("/si/mono/sync", json!({"accountId": account_id}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(assert_failure(&body), "data_not_ready");
    assert_eq!(body["error"]["dataStatus"], "PROCESSING");

    for (body, field) in [
        (json!({"accountId": account_id, "pageSize": 0}), "pageSize"),
        (json!({"accountId": account_id, "pageSize": 501}), "pageSize"),
        (json!({"accountId": account_id, "pageSize": "ten"}), "pageSize"),
        (json!({"accountId": account_id, "cursor": "garbage"}), "cursor"),
        (json!({}), "accountId"),
    ] {
        let (status, resp) = s.app.post_raw("/si/mono/sync", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {resp}");
        assert!(
            resp["error"]["fields"][field].is_string(),
            "{body} should name {field}: {resp}"
        );
    }
}

#[sqlx::test]
async fn cursor_and_events_page_newest_first(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    let account_id = s.link_new_account(120).await;
    let cursor_path = format!("/si/mono/cursor?accountId={account_id}");
    let before_sync: CursorView = s.app.get(&cursor_path).await;
    assert!(before_sync.cursor.is_none(), "no cursor before the first sync");
    let sync: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account_id}))
        .await;
    let after_sync: CursorView = s.app.get(&cursor_path).await;
    assert_eq!(after_sync.cursor, sync.cursor);
    assert!(after_sync.updated_at.is_some(), "{after_sync:?}");

    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let q = match &before {
            Some(b) => format!("/si/mono/events?accountId={account_id}&limit=50&before={b}"),
            None => format!("/si/mono/events?accountId={account_id}&limit=50"),
        };
        let (page, meta) = s.app.get_page::<EligibilityEvent>(&q).await;
        assert!(page.len() <= 50);
        seen.extend(page.iter().map(|e| e.id));
        match meta.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120, "every decision once");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no overlap");

    let failed: Vec<MonitoringEvent> = s.app.get("/si/mono/events?kind=invoice_failed&limit=200").await;
    assert_eq!(failed.len() as u64, sync.dlq);
    let dlq: Vec<EligibilityEvent> = s.app.get("/si/mono/events?outcome=dlq&limit=200").await;
    assert!(dlq.iter().all(|e| e.outcome == "dlq"), "{dlq:?}");

    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("kind=other", "kind"),
        ("before=x", "before"),
        ("reason=a%00b", "reason"),
    ] {
        let (status, body) = s.app.get_raw(&format!("/si/mono/events?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert!(body["error"]["fields"][field].is_string(), "{body}");
    }
    let (status, _) = s.app.get_raw("/si/mono/cursor").await;
    assert_eq!(status, 400);
    let (status, _) = s.app.get_raw("/si/mono/cursor?accountId=acc_other").await;
    assert_eq!(status, 404);
}

#[sqlx::test]
async fn changed_settings_apply_to_transactions_synced_afterwards(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let made = create_account(&s.sandbox, json!({"transactions": 0})).await;
    let code = made["code"].as_str().unwrap().to_string();
    let account: AccountView = s.app.post("/si/mono/exchange", json!({"code": code})).await;
    let account_id = account.id;
    let add = |narration: &str| {
        let path = format!("/_sandbox/accounts/{account_id}/transactions");
        let body = json!({"transactions": [{"amount": 5_000_000, "type": "credit", "narration": narration}]});
        let s = &s;
        async move { s.control_post(&path, body).await }
    };
    add("BETKING payment").await;
    // Text PostgreSQL cannot hold (NUL) does not block the account's sync.
    add("Loan\u{0} repayment").await;
    let first: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account_id}))
        .await;
    assert_eq!(first.drafted, 1, "{first:?}");
    assert_eq!(first.dlq, 1, "{first:?}");

    let (status, _) = s
        .app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": "betking"}),
        )
        .await;
    assert_eq!(status, 201);
    add("BETKING payment again").await;
    let second: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account_id}))
        .await;
    assert_eq!(second.drafted, 0, "{second:?}");
    assert_eq!(second.dlq, 1, "{second:?}");
    assert_eq!(second.skipped_by_reason["denylisted"], 1, "{second:?}");

    // The earlier draft stays a draft.
    let drafts = count(&pool, &format!("invoices WHERE account_id = '{account_id}'")).await;
    assert_eq!(drafts, 1);
}

#[sqlx::test]
async fn shutdown_lets_an_in_flight_sync_finish(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    let account_id = s.link_new_account(100).await;
    let slow = install_fault(&s.sandbox, json!({"endpoint": "transactions", "latency_ms": 300})).await;
    let request = s
        .app
        .post::<SyncOutcome>("/si/mono/sync", json!({"accountId": account_id, "pageSize": 50}));
    let stop = async {
        wait_for(
            "the sync to fetch its first page",
            Duration::from_secs(10),
            || ready(fault_applied(&s.sandbox, &slow) >= 1),
        )
        .await;
        s.app.shutdown.cancel();
    };
    let (page, ()) = tokio::join!(request, stop);
    // The sync stops at a page boundary, with what it stored committed and the rest resumable.
    assert!(page.fetched >= 50, "{page:?}");
    assert_eq!(page.has_more, page.fetched < 100, "{page:?}");
    let stopped = tokio::time::timeout(Duration::from_secs(10), s.app.server).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the server stopped after the request"
    );
}

#[sqlx::test]
async fn a_sync_that_outgrows_the_statistics_leaves_them_current(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let (account, _) = account_with_seed(&s, 12_000, 3, None).await;
    let before: f32 =
        sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = 'mono_transactions'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let done: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account, "pageSize": 500}))
        .await;
    assert_eq!((done.fetched, done.has_more), (12_000, false));
    // The planner knew of none of them before; the sync's answer comes after its ANALYZE.
    assert!(before < 1_000.0, "{before}");
    for table in ["mono_transactions", "eligibility_events"] {
        let known: f32 = sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = $1")
            .bind(table)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(known, 12_000.0, "{table}");
    }
}

/// A cursor at the start of the whole history: the next sync re-reads every transaction.
const FROM_THE_START: &str = "v2.-.0.-";

/// The account's ledger rows with their row versions (`xmin`): a write of a row, even one
/// that changes none of its values, shows as a new version.
async fn ledger_versions(pool: &PgPool, account_id: &str) -> BTreeMap<String, String> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT transaction_id, xmin::text FROM mono_transactions WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().collect()
}

/// The rows a sync page may add: eligibility events, invoices, DLQ records, monitoring events
/// and payments.
async fn rows_a_sync_adds(pool: &PgPool) -> [i64; 5] {
    [
        count(pool, "eligibility_events").await,
        count(pool, "invoices").await,
        count(pool, "dlq_records").await,
        count(pool, "monitoring_events").await,
        count(pool, "invoice_payments").await,
    ]
}

/// Sync pages written and held (every transaction held unchanged, nothing written) so far.
async fn pages(app: &TestApp) -> (f64, f64) {
    (
        metric_of(app, "sync_pages_total", &[r#"outcome="written""#]).await,
        metric_of(app, "sync_pages_total", &[r#"outcome="held""#]).await,
    )
}

#[sqlx::test]
async fn a_resync_of_an_unchanged_window_writes_nothing(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account_id = s.link_new_account(230).await;
    let first: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account_id, "pageSize": 50}))
        .await;
    assert_eq!((first.fetched, first.has_more), (230, false), "{first:?}");
    assert!(first.drafted > 0 && first.dlq > 0, "{first:?}");
    let versions = ledger_versions(&pool, &account_id).await;
    let added = rows_a_sync_adds(&pool).await;
    let cursor_path = format!("/si/mono/cursor?accountId={account_id}");
    let stored: CursorView = s.app.get(&cursor_path).await;
    let (written, held) = pages(&s.app).await;
    assert_eq!((written, held), (5.0, 0.0), "every page of the first sync is new");

    let again: SyncOutcome = s
        .app
        .post(
            "/si/mono/sync",
            json!({"accountId": account_id, "pageSize": 50, "cursor": FROM_THE_START}),
        )
        .await;
    assert_eq!(
        (again.fetched, again.drafted, again.dlq, again.skipped),
        (230, 0, 0, 230),
        "{again:?}"
    );
    assert_eq!(
        again.skipped_by_reason,
        BTreeMap::from([("duplicate".to_owned(), 230)])
    );
    assert!(!again.has_more);
    assert_eq!(
        again.cursor, first.cursor,
        "the same window walked to the same end"
    );
    assert_eq!(
        ledger_versions(&pool, &account_id).await,
        versions,
        "no ledger row written"
    );
    assert_eq!(
        rows_a_sync_adds(&pool).await,
        added,
        "no event, invoice, DLQ record or payment"
    );
    assert_eq!(pages(&s.app).await, (5.0, 5.0), "five pages read, none written");
    // The cursor the walk reached is committed at its end.
    let after: CursorView = s.app.get(&cursor_path).await;
    assert_eq!(after.cursor, again.cursor);
    assert!(after.updated_at > stored.updated_at, "{stored:?} {after:?}");
}

#[sqlx::test]
async fn a_changed_transaction_among_held_ones_goes_through_the_write_path(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account_id = s.link_new_account(120).await;
    let first: SyncOutcome = s
        .app
        .post("/si/mono/sync", json!({"accountId": account_id, "pageSize": 50}))
        .await;
    assert_eq!(first.fetched, 120);
    // The stored copy of one transaction no longer matches Mono's, as when Mono amends one.
    let (changed, decision): (String, (String, String)) = {
        let (id, outcome, reason): (String, String, String) = sqlx::query_as(
            "UPDATE mono_transactions SET transaction = jsonb_set(transaction, '{narration}', '\"AMENDED\"')
             WHERE (account_id, transaction_id) =
                   (SELECT account_id, transaction_id FROM mono_transactions WHERE account_id = $1
                    ORDER BY tx_date DESC, transaction_id LIMIT 1 OFFSET 60)
             RETURNING transaction_id, outcome, reason",
        )
        .bind(&account_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        (id, (outcome, reason))
    };
    let versions = ledger_versions(&pool, &account_id).await;
    let added = rows_a_sync_adds(&pool).await;
    let (written, held) = pages(&s.app).await;

    let again: SyncOutcome = s
        .app
        .post(
            "/si/mono/sync",
            json!({"accountId": account_id, "pageSize": 50, "cursor": FROM_THE_START}),
        )
        .await;
    // The page holding it goes through the write path; the other two are only read.
    assert_eq!(pages(&s.app).await, (written + 1.0, held + 2.0));
    // The write path decides it again and, as for any transaction held already, creates
    // nothing new: the ledger keeps its first decision (ELIGIBILITY.md, reconciliation).
    assert_eq!(
        (again.fetched, again.drafted, again.dlq, again.skipped),
        (120, 0, 0, 120),
        "{again:?}"
    );
    assert_eq!(
        again.skipped_by_reason,
        BTreeMap::from([("duplicate".to_owned(), 120)])
    );
    assert_eq!(again.cursor, first.cursor);
    assert_eq!(rows_a_sync_adds(&pool).await, added);
    assert_eq!(ledger_versions(&pool, &account_id).await, versions);
    let kept: (String, String) = sqlx::query_as(
        "SELECT outcome, reason FROM mono_transactions WHERE account_id = $1 AND transaction_id = $2",
    )
    .bind(&account_id)
    .bind(&changed)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(kept, decision);
}
