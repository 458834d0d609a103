//! Mono webhooks end to end: both authentication forms and every way to fail them, durable
//! intake with duplicates (also two at once), every event, reconciliation against invoices,
//! the job worker (including one that died mid-job), webhook-status, and the sandbox's own
//! signed deliveries after a link.

use std::time::Duration;

use crate::helpers::*;
use chrono::Utc;
use mono::signature;
use serde_json::{json, Value};
use sqlx::PgPool;
use taxpoynt_mono::services::tenants;
use taxpoynt_mono::tenancy::Role;
use uuid::Uuid;

/// `MONO_WEBHOOK_SECRET` of the test apps.
const SECRET: &str = WEBHOOK_SECRET;
const WAIT: Duration = Duration::from_secs(20);

enum Auth {
    SecretHeader(&'static str),
    /// Signed at `now + skew` seconds with `secret`; `prefix` adds `sha256=`.
    Signed {
        secret: &'static str,
        skew: i64,
        prefix: bool,
    },
    None,
}

async fn deliver_raw(app: &TestApp, body: &[u8], auth: Auth) -> (u16, Value) {
    let mut request = app
        .http()
        .post(app.url("/si/mono/webhook"))
        .header("content-type", "application/json");
    match auth {
        Auth::SecretHeader(s) => request = request.header(signature::HEADER_WEBHOOK_SECRET, s),
        Auth::Signed { secret, skew, prefix } => {
            let ts = Utc::now().timestamp() + skew;
            let sig = signature::sign(secret.as_bytes(), ts, body);
            let sig = if prefix { format!("sha256={sig}") } else { sig };
            request = request
                .header(signature::HEADER_TIMESTAMP, ts.to_string())
                .header(signature::HEADER_SIGNATURE, sig);
        }
        Auth::None => {}
    }
    split(request.body(body.to_vec()).send().await.unwrap()).await
}

/// Posts a correctly signed delivery; answers its receipt.
async fn deliver(app: &TestApp, body: &Value) -> WebhookReceipt {
    let bytes = serde_json::to_vec(body).unwrap();
    let (status, resp) = deliver_raw(
        app,
        &bytes,
        Auth::Signed {
            secret: SECRET,
            skew: 0,
            prefix: false,
        },
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    data(&resp)
}

pub(crate) fn event(name: &str, data: Value) -> Value {
    json!({"event": name, "event_id": format!("evt_{}", Uuid::new_v4().simple()), "data": data})
}

pub(crate) fn transaction(id: &str, amount: i64, currency: &str, reference: Option<&str>) -> Value {
    let mut t = json!({
        "id": id, "type": "credit", "amount": amount, "currency": currency,
        "narration": format!("NIP/GTB/ACME LTD/Payment for invoice {}", reference.unwrap_or("")),
        "date": "2026-01-05T10:00:00.000Z",
    });
    if let Some(r) = reference {
        t["reference"] = json!(r);
    }
    t
}

pub(crate) fn tx_event(name: &str, account: &str, tx: Value) -> Value {
    event(name, json!({"account": account, "transaction": tx}))
}

/// The delivery once it is no longer queued: (status, result).
async fn processed(pool: &PgPool, id: Uuid) -> (String, Value) {
    wait_for("the delivery to be processed", WAIT, || async {
        let (status, result): (String, Option<Value>) =
            sqlx::query_as("SELECT status, result FROM webhook_deliveries WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
        (status != "queued").then(|| (status, result.unwrap_or(Value::Null)))
    })
    .await
}

/// Delivers and waits for processing; answers the delivery's result.
pub(crate) async fn deliver_processed(app: &TestApp, body: &Value) -> Value {
    let receipt = deliver(app, body).await;
    assert_eq!(receipt.outcome, "queued", "{receipt:?}");
    let (status, result) = processed(&app.pool, receipt.delivery_id).await;
    assert_eq!(status, "processed", "{result}");
    result
}

/// Checks that the webhook jobs name every queued-at-intake delivery exactly once (a job per
/// intake batch and environment, in the delivery's environment); answers how many they name.
async fn jobs_cover_each_delivery_once(pool: &PgPool) -> i64 {
    let named: Vec<(Uuid, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT d.id, j.env_id, d.env_id
         FROM jobs j CROSS JOIN jsonb_array_elements_text(j.payload->'deliveryIds') AS x(id)
         LEFT JOIN webhook_deliveries d ON d.id = x.id::uuid
         WHERE j.kind = 'webhook'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let distinct: std::collections::HashSet<_> = named.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(
        distinct.len(),
        named.len(),
        "a delivery named by two jobs: {named:?}"
    );
    assert!(
        named
            .iter()
            .all(|(_, job_env, env)| job_env.is_some() && job_env == env),
        "a job names a delivery of another environment: {named:?}"
    );
    let unnamed = count(
        pool,
        "webhook_deliveries d WHERE d.status <> 'ignored' AND NOT EXISTS (
             SELECT 1 FROM jobs j WHERE j.payload->'deliveryIds' ? d.id::text)",
    )
    .await;
    assert_eq!(unnamed, 0, "a delivery to process that no job names");
    named.len() as i64
}

async fn admin_key(app: &TestApp) -> String {
    tenants::create_key(&app.pool, app.tenant.org_id, Role::Admin)
        .await
        .unwrap()
        .api_key
}

async fn status_with(app: &TestApp, key: &str) -> Value {
    let (status, body) = app
        .call(reqwest::Method::GET, "/si/mono/webhook-status", Some(key), None)
        .await;
    assert_eq!(status, 200, "{body}");
    data(&body)
}

/// An invoice the tenant made by hand (`source: manual`), as reconciliation finds them.
pub(crate) async fn manual_invoice(app: &TestApp, reference: &str, amount: i64, currency: &str) -> Uuid {
    let id = Uuid::new_v4();
    let env: Uuid = app.env_id("sandbox").parse().unwrap();
    sqlx::query(
        "INSERT INTO invoices (id, org_id, env_id, source, kind, amount, currency, reference)
         VALUES ($1, $2, $3, 'manual', 'invoice', $4, $5, $6)",
    )
    .bind(id)
    .bind(app.tenant.org_id)
    .bind(env)
    .bind(amount)
    .bind(currency)
    .bind(reference)
    .execute(&app.pool)
    .await
    .unwrap();
    id
}

/// Points the sandbox's signed deliveries at the app's webhook endpoint.
async fn send_sandbox_webhooks_to(s: &SandboxApp) {
    let resp = s
        .app
        .http()
        .put(s.control("/_sandbox/webhook"))
        .json(&json!({"url": s.app.url("/si/mono/webhook"), "secret": SECRET}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

pub(crate) async fn payment_status(pool: &PgPool, invoice: Uuid) -> String {
    sqlx::query_scalar("SELECT payment_status FROM invoices WHERE id = $1")
        .bind(invoice)
        .fetch_one(pool)
        .await
        .unwrap()
}

// ----- authentication ----------------------------------------------------------------------

#[sqlx::test]
async fn both_forms_authenticate_and_every_bad_credential_is_401_and_counted(pool: PgPool) {
    // Refusals are written once an hour: none while the test looks.
    let app = TestApp::builder(pool.clone())
        .setting("MONO_WEBHOOK_REFUSAL_FLUSH_SECS", 3600)
        .start()
        .await;
    let ok = |n: u32| serde_json::to_vec(&event("mono.events.something_new", json!({"n": n}))).unwrap();

    let (status, body) = deliver_raw(&app, &ok(1), Auth::SecretHeader(SECRET)).await;
    assert_eq!(status, 200, "{body}");
    for (n, prefix) in [(2, false), (3, true)] {
        let auth = Auth::Signed {
            secret: SECRET,
            skew: 0,
            prefix,
        };
        let (status, body) = deliver_raw(&app, &ok(n), auth).await;
        assert_eq!(status, 200, "{body}");
    }
    // Within the 300 s window either way.
    for (n, skew) in [(4, -290), (5, 290)] {
        let auth = Auth::Signed {
            secret: SECRET,
            skew,
            prefix: false,
        };
        let (status, body) = deliver_raw(&app, &ok(n), auth).await;
        assert_eq!(status, 200, "{body}");
    }

    let signed = |skew| Auth::Signed {
        secret: SECRET,
        skew,
        prefix: false,
    };
    let cases: Vec<(&str, Vec<u8>, Auth)> = vec![
        ("wrong secret", ok(10), Auth::SecretHeader("not-the-secret")),
        (
            "wrong signature",
            ok(11),
            Auth::Signed {
                secret: "another-secret",
                skew: 0,
                prefix: false,
            },
        ),
        ("stale timestamp", ok(12), signed(-301)),
        ("future timestamp", ok(13), signed(301)),
        ("no headers", ok(14), Auth::None),
    ];
    for (what, body, auth) in cases {
        let (status, resp) = deliver_raw(&app, &body, auth).await;
        assert_eq!(status, 401, "{what}: {resp}");
        assert_eq!(assert_failure(&resp), "unauthorized", "{what}");
    }
    // A body altered after signing.
    let body = ok(15);
    let ts = Utc::now().timestamp();
    let sig = signature::sign(SECRET.as_bytes(), ts, &body);
    let mut altered = body.clone();
    altered.extend_from_slice(b" ");
    let resp = app
        .http()
        .post(app.url("/si/mono/webhook"))
        .header(signature::HEADER_TIMESTAMP, ts.to_string())
        .header(signature::HEADER_SIGNATURE, sig)
        .body(altered)
        .send()
        .await
        .unwrap();
    let (status, resp) = split(resp).await;
    assert_eq!(status, 401, "{resp}");
    // A signature that is not hex, and a timestamp that is not a number.
    let resp = app
        .http()
        .post(app.url("/si/mono/webhook"))
        .header(signature::HEADER_TIMESTAMP, "soon")
        .header(signature::HEADER_SIGNATURE, "zz")
        .body(ok(16))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Nothing refused was stored, not even a receipt (refusals are counted in memory and
    // written once a period); every refusal was counted.
    assert_eq!(count(&pool, "webhook_deliveries").await, 5);
    assert_eq!(count(&pool, "webhook_receipts WHERE kind = 'rejected'").await, 0);
    let admin = status_with(&app, &admin_key(&app).await).await;
    assert_eq!(admin["signatureVerification"], true);
    assert_eq!(admin["last24h"]["rejected"], 7, "{admin}");
    assert_eq!(admin["last24h"]["received"], 5, "{admin}");
    assert_eq!(admin["last24h"]["ignored"], 5, "{admin}");
    assert_eq!(admin["lastFailure"]["reason"], "malformed_timestamp", "{admin}");
    // Unattributed deliveries and refusals are the platform's, not a tenant's.
    let tenant = status_with(&app, app.key()).await;
    assert_eq!(tenant["last24h"]["rejected"], 0, "{tenant}");
    assert_eq!(tenant["last24h"]["received"], 0, "{tenant}");
    assert!(tenant["lastFailure"].is_null(), "{tenant}");
}

#[sqlx::test]
async fn verification_off_accepts_unsigned_deliveries(pool: PgPool) {
    let app = TestApp::builder(pool).verify_signature(false).start().await;
    let body = serde_json::to_vec(&event("mono.events.something_new", json!({}))).unwrap();
    let (status, resp) = deliver_raw(&app, &body, Auth::None).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["data"]["outcome"], "ignored");
    let (status, resp) = deliver_raw(&app, b"{}", Auth::SecretHeader("anything")).await;
    assert_eq!(status, 400, "{resp}");
    assert!(resp["error"]["fields"]["event"].is_string(), "{resp}");
    assert_eq!(status_with(&app, app.key()).await["signatureVerification"], false);
}

#[sqlx::test]
async fn bodies_over_a_mebibyte_are_413_and_bad_json_is_400(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let big = vec![b' '; 1024 * 1024 + 1];
    let (status, resp) = deliver_raw(&app, &big, Auth::SecretHeader(SECRET)).await;
    assert_eq!(status, 413, "{resp}");
    assert_eq!(assert_failure(&resp), "payload_too_large");
    let (status, resp) = deliver_raw(&app, b"{not json", Auth::SecretHeader(SECRET)).await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(assert_failure(&resp), "malformed_json");
}

// ----- intake --------------------------------------------------------------------------------

#[sqlx::test]
async fn a_delivery_seen_before_is_a_duplicate_even_two_at_once(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;

    let body = tx_event(
        "transaction.updated",
        &account,
        transaction("tx_dup_1", 250_000, "NGN", None),
    );
    let first = deliver(app, &body).await;
    assert!(!first.duplicate, "{first:?}");
    assert_eq!(first.event, "transaction.updated");
    let again = deliver(app, &body).await;
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.delivery_id, first.delivery_id);

    // The same event id with another body is the same delivery.
    let mut changed = body.clone();
    changed["data"]["transaction"]["amount"] = json!(999_999);
    assert!(deliver(app, &changed).await.duplicate);

    // Without an event id, the same body is.
    let mut no_id = tx_event(
        "transaction.updated",
        &account,
        transaction("tx_dup_2", 250_000, "NGN", None),
    );
    no_id.as_object_mut().unwrap().remove("event_id");
    let third = deliver(app, &no_id).await;
    assert!(!third.duplicate);
    assert!(deliver(app, &no_id).await.duplicate);

    // Two copies at once: exactly one is stored and queued.
    let twin = tx_event(
        "transaction.settled",
        &account,
        transaction("tx_dup_3", 250_000, "NGN", None),
    );
    let (a, b) = tokio::join!(deliver(app, &twin), deliver(app, &twin));
    assert_eq!(a.delivery_id, b.delivery_id);
    assert_ne!(a.duplicate, b.duplicate, "{a:?} {b:?}");

    processed(&pool, first.delivery_id).await;
    processed(&pool, third.delivery_id).await;
    processed(&pool, a.delivery_id).await;
    assert_eq!(count(&pool, "webhook_deliveries").await, 3);
    assert_eq!(jobs_cover_each_delivery_once(&pool).await, 3);
    assert_eq!(
        count(&pool, "invoices WHERE transaction_id LIKE 'tx_dup_%'").await,
        3
    );
    // A duplicate of a processed delivery says so.
    let late = deliver(app, &body).await;
    assert!(late.duplicate, "{late:?}");
    assert_eq!(late.outcome, "processed");
    let st = status_with(app, app.key()).await;
    assert_eq!(st["last24h"]["duplicate"], 5, "{st}");
    assert_eq!(st["last24h"]["received"], 3, "{st}");
    assert_eq!(st["last24h"]["processed"], 3, "{st}");
    assert_eq!(st["pending"], 0, "{st}");
    assert!(st["lastProcessedAt"].is_string(), "{st}");
}

#[sqlx::test]
async fn many_copies_at_once_store_each_delivery_once(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    // 12 deliveries, 6 copies of each, all in flight together: intake stores them in shared
    // commits, and copies in one commit or in different ones are duplicates alike.
    let bodies: Vec<Value> = (0..12)
        .map(|i| {
            tx_event(
                "transaction.updated",
                &account,
                transaction(&format!("tx_many_{i}"), 250_000 + i, "NGN", None),
            )
        })
        .collect();
    let sends = bodies
        .iter()
        .flat_map(|b| std::iter::repeat_n(b, 6))
        .map(|b| deliver(app, b));
    let answers = futures::future::join_all(sends).await;
    for group in answers.chunks(6) {
        let firsts = group.iter().filter(|a| !a.duplicate).count();
        assert_eq!(firsts, 1, "exactly one copy is the delivery: {group:?}");
        assert!(
            group.iter().all(|a| a.delivery_id == group[0].delivery_id),
            "{group:?}"
        );
    }
    assert_eq!(count(&pool, "webhook_deliveries").await, 12);
    assert_eq!(jobs_cover_each_delivery_once(&pool).await, 12);
    assert_eq!(
        count(&pool, "webhook_receipts WHERE kind = 'duplicate'").await,
        60
    );
    for a in answers.iter().step_by(6) {
        processed(&pool, a.delivery_id).await;
    }
    assert_eq!(
        count(&pool, "invoices WHERE transaction_id LIKE 'tx_many_%'").await,
        12
    );
}

#[sqlx::test]
async fn unknown_events_and_unknown_accounts_are_ignored_and_recorded(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let unknown_event = deliver(&app, &event("mono.events.brand_new", json!({"account": "x"}))).await;
    assert_eq!(unknown_event.outcome, "ignored");
    let unknown_account = deliver(
        &app,
        &tx_event(
            "transaction.updated",
            "acc_nobody",
            transaction("tx_1", 1, "NGN", None),
        ),
    )
    .await;
    assert_eq!(unknown_account.outcome, "ignored");
    let unknown_ref = deliver(
        &app,
        &event(
            "mono.events.account_connected",
            json!({"id": "acc_new", "meta": {"ref": "never-issued-ref"}}),
        ),
    )
    .await;
    assert_eq!(unknown_ref.outcome, "ignored");
    let results: Vec<(String, Value)> =
        sqlx::query_as("SELECT status, result FROM webhook_deliveries ORDER BY received_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        results[0],
        ("ignored".into(), json!({"ignored": "unknown_event"}))
    );
    assert_eq!(
        results[1],
        ("ignored".into(), json!({"ignored": "unknown_account"}))
    );
    assert_eq!(count(&pool, "jobs").await, 0);
    let admin = status_with(&app, &admin_key(&app).await).await;
    assert_eq!(admin["last24h"]["ignored"], 3, "{admin}");
}

// ----- account events ------------------------------------------------------------------------

#[sqlx::test]
async fn account_events_update_reauth_unlink_income_and_jobs(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(3).await;

    // account_updated: camelCase keys refresh the account; reauth is marked; no sync while
    // the data is not available.
    let result = deliver_processed(
        app,
        &event(
            "mono.events.account_updated",
            json!({
                "account": {"_id": account, "name": "ACME TRADING LTD", "accountNumber": "0123456789",
                            "currency": "NGN", "balance": 7_000_000, "type": "CURRENT",
                            "bvn": "22212345678", "authMethod": "internet_banking",
                            "institution": {"name": "GTBank", "bankCode": "058", "type": "BUSINESS_BANKING"}},
                "meta": {"data_status": "PROCESSING", "sync_status": "REAUTHORISATION_REQUIRED"}
            }),
        ),
    )
    .await;
    assert_eq!(result["reauthRequired"], true, "{result}");
    assert_eq!(result["syncQueued"], false, "{result}");
    let view: AccountView = app.get(&format!("/si/mono/accounts/{account}")).await;
    assert_eq!(view.name.as_deref(), Some("ACME TRADING LTD"));
    assert_eq!(view.account_number.as_deref(), Some("0123456789"));
    assert_eq!(view.balance, Some(7_000_000));
    assert_eq!(view.bvn.as_deref(), Some("5678"));
    assert_eq!(view.institution.bank_code.as_deref(), Some("058"));
    assert_eq!(view.data_status.as_deref(), Some("PROCESSING"));
    assert!(view.reauth_required, "{view:?}");

    // account_reauthorized clears it.
    let result = deliver_processed(
        app,
        &event(
            "mono.events.account_reauthorized",
            json!({"account": {"_id": account}}),
        ),
    )
    .await;
    assert_eq!(result["reauthRequired"], false);
    let view: AccountView = app.get(&format!("/si/mono/accounts/{account}")).await;
    assert!(!view.reauth_required, "{view:?}");

    // AVAILABLE queues a sync, which runs: the account is synced.
    let result = deliver_processed(
        app,
        &event(
            "mono.events.account_updated",
            json!({"account": {"_id": account}, "meta": {"data_status": "AVAILABLE", "has_new_data": true}}),
        ),
    )
    .await;
    assert_eq!(result["syncQueued"], true, "{result}");
    let job_id = result["syncJobId"].as_str().expect("a sync job").to_string();
    let job = wait_for("the sync job to finish", WAIT, || async {
        let job: Value = app.get(&format!("/si/mono/jobs/{job_id}")).await;
        (job["status"] == "done").then_some(job)
    })
    .await;
    assert_eq!(job["kind"], "sync");
    assert_eq!(job["progress"]["fetched"], 3, "{job}");
    let view: AccountView = app.get(&format!("/si/mono/accounts/{account}")).await;
    assert!(view.last_synced_at.is_some(), "{view:?}");
    // Another tenant cannot see the job.
    let other = tenants::create_tenant(&pool, "Other Org").await.unwrap();
    let resp = app
        .http()
        .get(app.url(&format!("/si/mono/jobs/{job_id}")))
        .bearer_auth(&other.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Income and Mono's jobs are recorded on the delivery.
    let result = deliver_processed(
        app,
        &event(
            "mono.events.account_income",
            json!({"account": account, "income_summary": {"total_income": 123}, "income_streams": []}),
        ),
    )
    .await;
    assert_eq!(result["incomeSummary"]["total_income"], 123);
    let result = deliver_processed(
        app,
        &event(
            "mono.accounts.jobs.update",
            json!({"account": account, "id": "job_1", "name": "data_sync", "status": "finished"}),
        ),
    )
    .await;
    assert_eq!(result["monoJob"]["status"], "finished");

    // account_unlinked marks it unlinked: no more syncs.
    let result = deliver_processed(
        app,
        &event(
            "mono.events.account_unlinked",
            json!({"account": {"id": account}}),
        ),
    )
    .await;
    assert_eq!(result["unlinked"], true);
    let view: AccountView = app.get(&format!("/si/mono/accounts/{account}")).await;
    assert!(view.unlinked_at.is_some(), "{view:?}");
    // Transactions of an unlinked account are ignored.
    let receipt = deliver(
        app,
        &tx_event(
            "transaction.settled",
            &account,
            transaction("tx_after", 500_000, "NGN", None),
        ),
    )
    .await;
    let (status, result) = processed(&pool, receipt.delivery_id).await;
    assert_eq!(
        (status.as_str(), &result),
        ("ignored", &json!({"ignored": "account_unlinked"}))
    );

    // A payload that does not fit its event fails, with the field named.
    let receipt = deliver(
        app,
        &event(
            "mono.events.account_updated",
            json!({"account": {"_id": account, "balance": "lots"}}),
        ),
    )
    .await;
    let (status, _) = processed(&pool, receipt.delivery_id).await;
    assert_eq!(status, "failed");
    let st = status_with(app, app.key()).await;
    assert_eq!(st["last24h"]["failed"], 1, "{st}");
    assert!(
        st["lastFailure"]["reason"].as_str().unwrap().contains("balance"),
        "{st}"
    );
}

#[sqlx::test]
async fn account_connected_links_a_hosted_link_by_its_ref(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let _: WidgetLink = app
        .post(
            "/si/mono/widget-link",
            json!({"customer": {"name": "Ada Obi", "email": "ada@acme.ng"},
                   "redirectUrl": "https://dashboard.example/cb", "meta": {"ref": "hosted-link-0001"},
                   "env": "production"}),
        )
        .await;
    // Mono knows the ref in the organization's namespace, and echoes it so.
    let mono_ref = taxpoynt_mono::services::link::namespaced_ref(app.tenant.org_id, "hosted-link-0001");
    // An account Mono made for that link (the sandbox's control API stands in for the widget).
    let made = s
        .control_post("/_sandbox/accounts", json!({"transactions": 0, "ref": mono_ref}))
        .await;
    let account = made["data"]["id"].as_str().unwrap().to_string();
    let result = deliver_processed(
        app,
        &event(
            "mono.events.account_connected",
            json!({"id": account, "customer": {"id": made["data"]["customer_id"]},
                   "meta": {"data_status": "AVAILABLE", "auth_method": "mobile_banking", "ref": mono_ref}}),
        ),
    )
    .await;
    assert_eq!(result["linked"], true, "{result}");
    // Linked in the ref's environment, with the details Mono has.
    let view: AccountView = app
        .get(&format!("/si/mono/accounts/{account}?env=production"))
        .await;
    assert_eq!(
        view.account_number.as_deref(),
        made["data"]["account_number"].as_str()
    );
    assert_eq!(view.data_status.as_deref(), Some("AVAILABLE"));
    let (status, _) = app.get_raw(&format!("/si/mono/accounts/{account}")).await;
    assert_eq!(status, 404, "not in the sandbox environment");
    let completed: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT completed_at FROM mono_link_refs WHERE client_ref = 'hosted-link-0001'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(completed.is_some());
    // The delivery counts for that environment.
    let st = status_with(app, app.key()).await;
    assert_eq!(st["last24h"]["received"], 0, "sandbox environment: {st}");
    let resp = app
        .http()
        .get(app.url("/si/mono/webhook-status?env=production"))
        .bearer_auth(app.key())
        .send()
        .await
        .unwrap();
    let (_, st) = split(resp).await;
    assert_eq!(st["data"]["last24h"]["processed"], 1, "{st}");
}

/// A late `account_connected` (delayed, or redelivered by Mono) for an account the customer
/// unlinked after the link's ref was issued neither links it again nor queues a sync; a ref
/// issued after the unlink links it as ever.
#[sqlx::test]
async fn a_late_account_connected_does_not_relink_an_account_unlinked_since_its_ref(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .sync_on_link(true)
        .with_sandbox()
        .start()
        .await;
    let app = &s.app;
    let issue = |client_ref: &'static str| async move {
        let _: WidgetLink = app
            .post(
                "/si/mono/widget-link",
                json!({"customer": {"name": "Ada Obi", "email": "ada@acme.ng"},
                       "redirectUrl": "https://dashboard.example/cb", "meta": {"ref": client_ref}}),
            )
            .await;
        taxpoynt_mono::services::link::namespaced_ref(app.tenant.org_id, client_ref)
    };
    let first_ref = issue("late-connect-0001").await;
    let made = s
        .control_post("/_sandbox/accounts", json!({"transactions": 2, "ref": first_ref}))
        .await;
    let account = made["data"]["id"].as_str().unwrap().to_string();
    let connected = |r: &str| {
        event(
            "mono.events.account_connected",
            json!({"id": account, "customer": {"id": made["data"]["customer_id"]},
                   "meta": {"data_status": "AVAILABLE", "auth_method": "mobile_banking", "ref": r}}),
        )
    };
    let unfinished_syncs = || async {
        count(
            &pool,
            &format!(
                "jobs WHERE kind = 'sync' AND payload->>'accountId' = '{account}'
                   AND status IN ('queued', 'running')"
            ),
        )
        .await
    };
    let linked = deliver_processed(app, &connected(&first_ref)).await;
    assert_eq!(linked["linked"], true, "{linked}");
    assert_eq!(linked["syncQueued"], true, "{linked}");
    wait_for("the first sync to finish", WAIT, || async {
        (unfinished_syncs().await == 0).then_some(())
    })
    .await;
    let unlinked: Unlinked = app
        .post(&format!("/si/mono/accounts/{account}/unlink"), json!({}))
        .await;
    assert!(unlinked.unlinked);

    // The same ref again, after the unlink: ignored, and the account stays unlinked.
    let receipt = deliver(app, &connected(&first_ref)).await;
    let (status, result) = processed(&pool, receipt.delivery_id).await;
    assert_eq!(status, "ignored", "{result}");
    assert_eq!(result, json!({"ignored": "unlinked_after_ref"}));
    let view: AccountView = app.get(&format!("/si/mono/accounts/{account}")).await;
    assert!(view.unlinked_at.is_some(), "{view:?}");
    assert_eq!(unfinished_syncs().await, 0, "no sync queued");

    // A new link of the same account, by a ref issued after the unlink, links it again.
    let second_ref = issue("late-connect-0002").await;
    let relinked = deliver_processed(app, &connected(&second_ref)).await;
    assert_eq!(relinked["linked"], true, "{relinked}");
    let view: AccountView = app.get(&format!("/si/mono/accounts/{account}")).await;
    assert!(view.unlinked_at.is_none(), "{view:?}");
}

// ----- reconciliation ------------------------------------------------------------------------

#[sqlx::test]
async fn reconciliation_marks_a_matching_invoice_pending_then_settled(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    let invoice = manual_invoice(app, "INV-4242", 500_000, "NGN").await;

    let tx = transaction("tx_pay_1", 500_000, "NGN", Some("inv-4242"));
    let result = deliver_processed(app, &tx_event("transaction.updated", &account, tx.clone())).await;
    assert_eq!(result["outcome"], "reconciled", "{result}");
    assert_eq!(result["invoiceId"], invoice.to_string());
    assert_eq!(payment_status(&pool, invoice).await, "pending");
    let result = deliver_processed(app, &tx_event("transaction.settled", &account, tx.clone())).await;
    assert_eq!(result["outcome"], "reconciled", "{result}");
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    // Never back from settled to pending.
    deliver_processed(app, &tx_event("transaction.updated", &account, tx)).await;
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    // No draft for a payment of an existing invoice; one ledger row, one event.
    assert_eq!(count(&pool, "invoices").await, 1);
    assert_eq!(
        count(&pool, "mono_transactions WHERE reason = 'reconciled'").await,
        1
    );
    assert_eq!(
        count(&pool, "eligibility_events WHERE source = 'webhook'").await,
        1
    );
}

#[sqlx::test]
async fn reconciliation_sends_mismatches_to_the_dlq_and_drafts_the_rest(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    manual_invoice(app, "INV-7000", 500_000, "NGN").await;
    manual_invoice(app, "INV-USD-1", 500_000, "USD").await;

    // Another amount than the invoice's.
    let result = deliver_processed(
        app,
        &tx_event(
            "transaction.settled",
            &account,
            transaction("tx_amt", 499_999, "NGN", Some("INV-7000")),
        ),
    )
    .await;
    assert_eq!(result["outcome"], "dlq", "{result}");
    assert_eq!(result["reason"], "amount_mismatch");
    // Another currency than the invoice's (the engine's own currency check passes: NGN).
    let result = deliver_processed(
        app,
        &tx_event(
            "transaction.updated",
            &account,
            transaction("tx_cur", 500_000, "NGN", Some("INV-USD-1")),
        ),
    )
    .await;
    assert_eq!(result["reason"], "currency_mismatch", "{result}");
    let dlq: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT transaction_id, reason, source, trace_id FROM dlq_records ORDER BY transaction_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(dlq.len(), 2);
    assert_eq!(
        (dlq[0].0.as_str(), dlq[0].1.as_str()),
        ("tx_amt", "amount_mismatch")
    );
    assert_eq!(
        (dlq[1].0.as_str(), dlq[1].1.as_str()),
        ("tx_cur", "currency_mismatch")
    );
    assert!(dlq.iter().all(|d| d.2 == "webhook" && d.3.is_some()));
    // Each with an invoice_failed event carrying the environment and the delivery's trace id.
    let failed: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT m.env_id, m.reason, m.trace_id FROM monitoring_events m
         JOIN webhook_deliveries d ON d.trace_id = m.trace_id
         WHERE m.kind = 'invoice_failed' ORDER BY m.reason",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|f| f.0.to_string() == app.env_id("sandbox")));

    // No invoice named: a DRAFT, idempotent on the transaction id.
    let new = transaction("tx_new", 700_000, "NGN", Some("INV-4242"));
    let result = deliver_processed(app, &tx_event("transaction.settled", &account, new.clone())).await;
    assert_eq!(result["outcome"], "draft", "{result}");
    let result = deliver_processed(app, &tx_event("transaction.updated", &account, new)).await;
    assert_eq!(result["outcome"], "duplicate", "{result}");
    let drafted: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT transaction_id, reference, status FROM invoices WHERE source = 'mono'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        drafted,
        vec![("tx_new".into(), Some("INV-4242".into()), "DRAFT".into())]
    );
    // A second transaction naming that draft with another amount: the DLQ.
    let result = deliver_processed(
        app,
        &tx_event(
            "transaction.settled",
            &account,
            transaction("tx_new_2", 1_000_000, "NGN", Some("INV-4242")),
        ),
    )
    .await;
    assert_eq!(result["reason"], "amount_mismatch", "{result}");
}

#[sqlx::test]
async fn a_transaction_synced_and_then_delivered_is_not_drafted_twice(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(20).await;
    s.control_post(
        &format!("/_sandbox/accounts/{account}/transactions"),
        json!({"transactions": [{"amount": 650_000, "type": "credit",
                                  "narration": "NIP/GTB/ACME LTD/Payment for invoice 77"}]}),
    )
    .await;
    let synced: SyncOutcome = app.post("/si/mono/sync", json!({"accountId": account})).await;
    let drafted = synced.drafted as i64;
    assert!(drafted > 0, "{synced:?}");
    let tx_id: String = sqlx::query_scalar("SELECT transaction_id FROM invoices LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    // The sandbox delivers the same transaction, signed, to the app.
    send_sandbox_webhooks_to(&s).await;
    s.control_post(
        &format!("/_sandbox/accounts/{account}/events"),
        json!({"event": "transaction.settled", "transaction_id": tx_id}),
    )
    .await;
    let (status, result) = wait_for("the sandbox's delivery", WAIT, || async {
        let row: Option<(String, Option<Value>)> = sqlx::query_as(
            "SELECT status, result FROM webhook_deliveries WHERE event = 'transaction.settled' AND status <> 'queued'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        row
    })
    .await;
    assert_eq!(status, "processed");
    assert_eq!(result.unwrap()["outcome"], "duplicate");
    assert_eq!(count(&pool, "invoices").await, drafted, "no second draft");
}

// ----- the worker ----------------------------------------------------------------------------

#[sqlx::test]
async fn a_job_whose_worker_died_is_processed_once_after_a_restart(pool: PgPool) {
    use mono::signature::PresentedAuth;
    use taxpoynt_mono::db::queue::{self, Lane};
    use taxpoynt_mono::services::webhooks::{intake, job};

    // The first process: it takes two deliveries in, claims their jobs and dies, one job
    // before doing anything, the other after committing its work but before marking it done.
    let first = TestApp::builder(pool.clone()).application().await;
    let state = first.state().clone();
    org_with_account(&pool, "Crash Org", "acc_crash").await;
    let auth = PresentedAuth {
        webhook_secret: Some(SECRET),
        ..Default::default()
    };
    let mut deliveries = Vec::new();
    for tx_id in ["tx_crash_before", "tx_crash_after"] {
        let body = tx_event(
            "transaction.settled",
            "acc_crash",
            transaction(tx_id, 600_000, "NGN", None),
        );
        let receipt = intake::receive(&state, auth, &serde_json::to_vec(&body).unwrap())
            .await
            .unwrap();
        assert_eq!(receipt.outcome, "queued");
        deliveries.push(receipt.delivery_id);
    }
    let claimed = queue::claim(&state.db, Lane::General, 10, 0.3).await.unwrap();
    assert_eq!(claimed.len(), 2);
    job::process_delivery(&state, deliveries[1]).await.unwrap();
    drop(first);

    // A second process takes both jobs again once their leases run out.
    let app = TestApp::builder(pool.clone()).start().await;
    for id in &deliveries {
        let (status, _) = processed(&pool, *id).await;
        assert_eq!(status, "processed");
    }
    let jobs_done = jobs_when_all_done(&pool).await;
    assert_eq!(jobs_done.len(), 2, "{jobs_done:?}");
    assert!(
        jobs_done.iter().all(|(attempts, _)| *attempts == 2),
        "{jobs_done:?}"
    );
    for tx_id in ["tx_crash_before", "tx_crash_after"] {
        let q = format!("invoices WHERE transaction_id = '{tx_id}'");
        assert_eq!(count(&pool, &q).await, 1, "{tx_id}");
        let q = format!("eligibility_events WHERE transaction_id = '{tx_id}'");
        assert_eq!(count(&pool, &q).await, 1, "{tx_id}");
    }
    app.shutdown.cancel();
}

/// An environment of a new organization with one AVAILABLE account `account` in it.
pub(crate) async fn org_with_account(pool: &PgPool, name: &str, account: &str) -> Uuid {
    let tenant = tenants::create_tenant(pool, name).await.unwrap();
    let env = tenant
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .unwrap()
        .id;
    sqlx::query(
        "INSERT INTO mono_accounts (id, org_id, env_id, currency, data_status) VALUES ($1, $2, $3, 'NGN', 'AVAILABLE')",
    )
    .bind(account)
    .bind(tenant.org_id)
    .bind(env)
    .execute(pool)
    .await
    .unwrap();
    env
}

/// Every job once all are done: (attempts, progress), by environment and age.
async fn jobs_when_all_done(pool: &PgPool) -> Vec<(i32, Value)> {
    wait_for("every job to be done", WAIT, || async {
        let rows: Vec<(String, i32, Value)> =
            sqlx::query_as("SELECT status, attempts, progress FROM jobs ORDER BY env_id, created_at")
                .fetch_all(pool)
                .await
                .unwrap();
        rows.iter()
            .all(|(status, _, _)| status == "done")
            .then(|| rows.into_iter().map(|(_, a, p)| (a, p)).collect())
    })
    .await
}

/// A `transaction.settled` delivery as intake hands it to storage.
fn pending(account: &str, tx_id: &str) -> taxpoynt_mono::db::webhooks::PendingDelivery {
    let body = tx_event(
        "transaction.settled",
        account,
        transaction(tx_id, 600_000, "NGN", None),
    );
    taxpoynt_mono::db::webhooks::PendingDelivery {
        dedupe_key: format!("event:{}", body["event_id"].as_str().unwrap()),
        event: "transaction.settled".into(),
        event_id: body["event_id"].as_str().map(str::to_owned),
        account_id: Some(account.into()),
        link_ref: None,
        body: body.to_string(),
        trace_id: format!("trace-{tx_id}"),
        known_event: true,
    }
}

#[sqlx::test]
async fn one_intake_batch_is_one_job_per_environment_in_arrival_order(pool: PgPool) {
    use taxpoynt_mono::db::webhooks::intake_batch;
    let env_a = org_with_account(&pool, "Batch Org A", "acc_batch_a").await;
    let env_b = org_with_account(&pool, "Batch Org B", "acc_batch_b").await;
    let batch = vec![
        pending("acc_batch_a", "tx_a1"),
        pending("acc_batch_b", "tx_b1"),
        pending("acc_batch_a", "tx_a2"),
        pending("acc_nobody", "tx_n1"),
        pending("acc_batch_a", "tx_a3"),
    ];
    let stored = intake_batch(&pool, &batch, &[], webhook_job_spec(8))
        .await
        .unwrap();
    assert_eq!(stored.len(), 5);
    let id_of = |tx: &str| {
        let key = &batch.iter().find(|d| d.body.contains(tx)).unwrap().dedupe_key;
        stored.iter().find(|s| &s.dedupe_key == key).unwrap().intake.id
    };
    let jobs: Vec<(Uuid, Value)> = sqlx::query_as(
        "SELECT env_id, payload->'deliveryIds' FROM jobs WHERE kind = 'webhook' ORDER BY env_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut want = vec![
        (env_a, json!([id_of("tx_a1"), id_of("tx_a2"), id_of("tx_a3")])),
        (env_b, json!([id_of("tx_b1")])),
    ];
    want.sort_by_key(|(env, _)| *env);
    assert_eq!(
        jobs, want,
        "the unknown account's delivery is ignored, not queued"
    );
    assert_eq!(jobs_cover_each_delivery_once(&pool).await, 4);

    // Storing the same batch again stores nothing and queues nothing.
    let again = intake_batch(&pool, &batch, &[], webhook_job_spec(8))
        .await
        .unwrap();
    assert!(again.iter().all(|s| !s.intake.inserted));
    assert_eq!(count(&pool, "jobs").await, 2);

    // The worker processes every delivery of both jobs.
    let app = TestApp::builder(pool.clone()).start().await;
    for tx in ["tx_a1", "tx_a2", "tx_a3", "tx_b1"] {
        let (status, result) = processed(&pool, id_of(tx)).await;
        assert_eq!(status, "processed", "{tx}: {result}");
        let q = format!("invoices WHERE transaction_id = '{tx}'");
        assert_eq!(count(&pool, &q).await, 1, "{tx}");
    }
    let done = jobs_when_all_done(&pool).await;
    assert_eq!(done.len(), 2, "{done:?}");
    let reported: usize = done
        .iter()
        .map(|(_, p)| p["deliveries"].as_array().unwrap().len())
        .sum();
    assert_eq!(reported, 4, "{done:?}");
    app.shutdown.cancel();

    // Deleting an organization takes its deliveries and jobs with it, and nothing of another.
    sqlx::query("DELETE FROM organizations WHERE id = (SELECT org_id FROM environments WHERE id = $1)")
        .bind(env_a)
        .execute(&pool)
        .await
        .unwrap();
    let left: Vec<(Option<Uuid>, i64)> =
        sqlx::query_as("SELECT env_id, count(*) FROM webhook_deliveries GROUP BY env_id ORDER BY count(*)")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left, vec![(None, 1), (Some(env_b), 1)]);
    let jobs_left: Vec<Uuid> = sqlx::query_scalar("SELECT env_id FROM jobs")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(jobs_left, vec![env_b]);
}

#[sqlx::test]
async fn a_failing_delivery_is_retried_alone_and_failed_when_its_job_runs_out(pool: PgPool) {
    use taxpoynt_mono::db::webhooks::intake_batch;
    org_with_account(&pool, "Poison Org", "acc_poison").await;
    // The database refuses to record one transaction's decision, every time.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'refused transaction %', NEW.transaction_id; END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON eligibility_events FOR EACH ROW
             WHEN (NEW.transaction_id = 'tx_poison') EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let batch = vec![
        pending("acc_poison", "tx_fine_1"),
        pending("acc_poison", "tx_poison"),
        pending("acc_poison", "tx_fine_2"),
    ];
    let stored = intake_batch(&pool, &batch, &[], webhook_job_spec(2))
        .await
        .unwrap();
    let id_of = |tx: &str| {
        let key = &batch.iter().find(|d| d.body.contains(tx)).unwrap().dedupe_key;
        stored.iter().find(|s| &s.dedupe_key == key).unwrap().intake.id
    };

    let app = TestApp::builder(pool.clone()).start().await;
    // The job's two attempts: the others are processed by the first, once.
    let (status, result) = processed(&pool, id_of("tx_poison")).await;
    assert_eq!(status, "failed", "{result}");
    let error: String = sqlx::query_scalar("SELECT error FROM webhook_deliveries WHERE id = $1")
        .bind(id_of("tx_poison"))
        .fetch_one(&pool)
        .await
        .unwrap();
    // Its own error (a database error's text stays in the log: webhook-status shows this
    // error to the tenant); the job's names how many of its deliveries failed.
    assert_eq!(error, "internal error");
    for tx in ["tx_fine_1", "tx_fine_2"] {
        assert_eq!(processed(&pool, id_of(tx)).await.0, "processed", "{tx}");
        let q = format!("eligibility_events WHERE transaction_id = '{tx}'");
        assert_eq!(count(&pool, &q).await, 1, "{tx} decided once over two attempts");
    }
    let (job_status, attempts, last_error): (String, i32, Option<String>) =
        sqlx::query_as("SELECT status, attempts, last_error FROM jobs WHERE kind = 'webhook'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((job_status.as_str(), attempts), ("failed", 2));
    assert_eq!(
        last_error.as_deref(),
        Some("1 of 3 deliveries failed; the first: internal error")
    );
    let st = status_with(&app, &admin_key(&app).await).await;
    assert_eq!(st["last24h"]["failed"], 1, "{st}");
    assert_eq!(st["last24h"]["processed"], 2, "{st}");
    assert_eq!(st["lastFailure"]["reason"], error.as_str(), "{st}");
    app.shutdown.cancel();
}

// ----- the sandbox end to end ----------------------------------------------------------------

#[sqlx::test]
async fn the_sandboxs_signed_webhooks_link_and_sync_an_account(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    send_sandbox_webhooks_to(&s).await;
    let link: WidgetLink = app
        .post(
            "/si/mono/widget-link",
            json!({"customer": {"name": "Ada Obi", "email": "ada@acme.ng"},
                   "redirectUrl": "https://dashboard.example/cb"}),
        )
        .await;
    // The customer finishes the widget; no code reaches the dashboard (hosted link).
    let resp = app.http().get(&link.mono_url).send().await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());

    // account_connected links it; account_updated (AVAILABLE) queues its first sync.
    let account = wait_for("the account to be synced", WAIT, || async {
        let linked: Vec<AccountView> = app.get("/si/mono/accounts?linkedOnly=true").await;
        linked.into_iter().next().filter(|a| a.last_synced_at.is_some())
    })
    .await;
    let id = account.id.as_str();
    let deliveries = settled_deliveries(&s.sandbox).await;
    assert!(deliveries.iter().all(|d| d.status == Some(200)), "{deliveries:?}");
    let events: Vec<(String, String)> = sqlx::query_as(
        "SELECT event, status FROM webhook_deliveries WHERE account_id = $1 ORDER BY received_at",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![
            ("mono.events.account_connected".into(), "processed".into()),
            ("mono.events.account_updated".into(), "processed".into()),
        ]
    );
    let decided = count(&pool, &format!("mono_transactions WHERE account_id = '{id}'")).await;
    assert!(decided > 0);
}

/// The webhook job's kind as intake stores it, with `max_attempts` attempts.
fn webhook_job_spec(max_attempts: i32) -> taxpoynt_mono::jobs::JobSpec {
    taxpoynt_mono::jobs::JobSpec {
        max_attempts,
        ..taxpoynt_mono::jobs::spec::<taxpoynt_mono::services::webhooks::job::WebhookJob>()
    }
}

/// A delivery whose event name, or the account it names, holds a NUL (which a text column
/// cannot store) is refused with 400 naming where, not failed with a 500 at the database;
/// nothing is stored.
#[sqlx::test]
async fn a_delivery_holding_a_nul_is_refused_naming_where(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (body, field) in [
        (
            br#"{"event": "mono.events.account_updated\u0000", "data": {}}"#.as_slice(),
            "event",
        ),
        (
            br#"{"event": "mono.events.account_updated", "data": {"account": {"_id": "a\u0000b"}}}"#
                .as_slice(),
            "data",
        ),
        // Not a Mono event: its data is not an object.
        (
            br#"{"event": "mono.events.account_updated", "data": [null, null]}"#.as_slice(),
            "data",
        ),
    ] {
        let (status, resp) = deliver_raw(&app, body, Auth::SecretHeader(SECRET)).await;
        assert_eq!(status, 400, "{resp}");
        assert!(resp["error"]["fields"].get(field).is_some(), "{resp}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(after, before, "nothing stored");
}

/// A lease that runs out on a job's last attempt is not a failure: its worker may be alive
/// and working (its renewal starved of a connection). The job is queued again and its
/// still-queued deliveries are left queued; only a job whose lease ran out
/// `MAX_LEASE_EXPIRIES` times is given up, failing its deliveries.
#[sqlx::test]
async fn a_lease_that_runs_out_on_the_last_attempt_fails_nothing(pool: PgPool) {
    use taxpoynt_mono::db::queue::MAX_LEASE_EXPIRIES;
    // Built, never run: no worker of its own claims the job.
    let state = TestApp::builder(pool.clone()).application().await.state().clone();
    let delivery = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, dedupe_key, event, body, trace_id, status)
         VALUES ($1, 'lease-test', 'mono.events.account_updated', '{}', 't', 'queued')",
    )
    .bind(delivery)
    .execute(&pool)
    .await
    .unwrap();
    let job: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts)
         VALUES (gen_random_uuid(), 'webhook', jsonb_build_object('deliveryIds', jsonb_build_array($1::text)),
                 'queued', 0, 1)
         RETURNING id",
    )
    .bind(delivery.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    let state_of = |table: &'static str, id: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(&format!("SELECT status FROM {table} WHERE id = $1"))
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    for expiry in 1..=MAX_LEASE_EXPIRIES {
        // Claimed on its last attempt (attempts = max_attempts), and the lease runs out.
        sqlx::query(
            "UPDATE jobs SET status = 'running', attempts = max_attempts, lease_id = gen_random_uuid(),
                             locked_until = now() - interval '1 second' WHERE id = $1",
        )
        .bind(job)
        .execute(&pool)
        .await
        .unwrap();
        let expired = taxpoynt_mono::worker::lanes::requeue_expired(&state)
            .await
            .unwrap();
        assert_eq!(expired, 1);
        if expiry < MAX_LEASE_EXPIRIES {
            assert_eq!(state_of("jobs", job).await, "queued", "expiry {expiry}");
            // Each expiry waits longer before the next run: 1 s, 2 s, 4 s, ... at most 60 s.
            let wait: f64 = sqlx::query_scalar(
                "SELECT extract(epoch FROM run_after - now())::float8 FROM jobs WHERE id = $1",
            )
            .bind(job)
            .fetch_one(&pool)
            .await
            .unwrap();
            let backoff = 2f64.powi(expiry - 1).min(60.0);
            assert!(
                wait > backoff - 1.0 && wait <= backoff,
                "expiry {expiry}: runs again in {wait} s"
            );
            assert_eq!(
                state_of("webhook_deliveries", delivery).await,
                "queued",
                "expiry {expiry}"
            );
        } else {
            assert_eq!(state_of("jobs", job).await, "failed");
            assert_eq!(state_of("webhook_deliveries", delivery).await, "failed");
        }
    }
}
