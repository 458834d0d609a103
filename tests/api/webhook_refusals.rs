//! What a refused webhook costs and what retention keeps of webhooks: refusals counted in
//! memory and in `/metrics` (no write per request), flushed once per period and read by every
//! replica's webhook-status; refused attempts throttled per source address while signed
//! deliveries from it still pass; receipts and unclaimed deliveries purged by retention; a
//! retention too large for a date refused at start-up; and a duplicate's outcome always one
//! the contract lists.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::helpers::*;
use crate::webhooks::{event, org_with_account, transaction, tx_event};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use taxpoynt_mono::services::retention::{self, UnattributedRetention};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A `mono-webhook-secret` that is not the app's.
const WRONG_SECRET: &str = "not-the-secret-0f9e8d";
const WAIT: Duration = Duration::from_secs(20);

/// Posts a delivery with the wrong secret header through `client`.
async fn refused_through(client: &reqwest::Client, app: &TestApp, n: u32) -> (u16, Option<String>, Value) {
    let body = serde_json::to_vec(&event("mono.events.account_updated", json!({"n": n}))).unwrap();
    let resp = client
        .post(app.url("/si/mono/webhook"))
        .header("content-type", "application/json")
        .header(mono::signature::HEADER_WEBHOOK_SECRET, WRONG_SECRET)
        .body(body)
        .send()
        .await
        .unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = split(resp).await;
    (status, retry_after, body)
}

async fn refused(app: &TestApp, n: u32) -> (u16, Option<String>, Value) {
    refused_through(app.http(), app, n).await
}

async fn admin_key(app: &TestApp) -> String {
    tenants::create_key(&app.pool, app.tenant.org_id, Role::Admin)
        .await
        .unwrap()
        .api_key
}

async fn status_with(app: &TestApp, key: &str) -> Value {
    let (status, body) = app
        .call(Method::GET, "/si/mono/webhook-status", Some(key), None)
        .await;
    assert_eq!(status, 200, "{body}");
    data(&body)
}

/// The refusals flushed to the database: (reason, count, sample).
async fn flushed(pool: &PgPool) -> Vec<(String, i32, Value)> {
    sqlx::query_as(
        "SELECT reason, count, COALESCE(sample, 'null') FROM webhook_receipts
         WHERE kind = 'rejected' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

// ----- refusals cost no write ----------------------------------------------------------------

#[sqlx::test]
async fn refused_deliveries_write_nothing_yet_are_reported_and_counted(pool: PgPool) {
    // No flush while the test runs: only shutdown writes what was counted.
    let app = TestApp::builder(pool.clone())
        .setting("MONO_WEBHOOK_REFUSAL_FLUSH_SECS", 3600)
        .start()
        .await;
    let other = app.replica().start().await;
    let admin = admin_key(&app).await;
    let rows_before = count(&pool, "webhook_receipts").await;
    let counted_before = metric_of(&app, "webhook_refusals_total", &[r#"reason="secret_mismatch""#]).await;
    let rejected_before = metric_of(&app, "webhook_deliveries_total", &[r#"outcome="rejected""#]).await;

    let mut answered = std::collections::BTreeMap::new();
    for n in 0..200 {
        let (status, _, body) = refused(&app, n).await;
        let code = assert_failure(&body);
        assert!(
            (status, code.as_str()) == (401, "unauthorized")
                || (status, code.as_str()) == (429, "rate_limited"),
            "{status}: {body}"
        );
        *answered.entry(status).or_insert(0) += 1;
    }
    assert!(answered[&401] >= 1, "{answered:?}");

    assert_eq!(
        count(&pool, "webhook_receipts").await,
        rows_before,
        "a refusal writes no row"
    );
    assert_eq!(count(&pool, "webhook_deliveries").await, 0);
    let st = status_with(&app, &admin).await;
    assert_eq!(st["last24h"]["rejected"], 200, "{st}");
    assert_eq!(st["lastFailure"]["reason"], "secret_mismatch", "{st}");
    // Refusals are the platform's: a tenant's key does not see them.
    let tenant = status_with(&app, app.key()).await;
    assert_eq!(tenant["last24h"]["rejected"], 0, "{tenant}");
    assert!(tenant["lastFailure"].is_null(), "{tenant}");
    let counted = metric_of(&app, "webhook_refusals_total", &[r#"reason="secret_mismatch""#]).await;
    assert_eq!(counted - counted_before, 200.0);
    let throttled = metric_of(
        &app,
        "webhook_refusals_total",
        &[r#"reason="secret_mismatch""#, r#"status="429""#],
    )
    .await;
    assert_eq!(throttled, f64::from(answered.get(&429).copied().unwrap_or(0)));
    let rejected = metric_of(&app, "webhook_deliveries_total", &[r#"outcome="rejected""#]).await;
    assert_eq!(rejected - rejected_before, 200.0);
    // Another replica learns of them from the database, so not before a flush.
    assert_eq!(status_with(&other, &admin).await["last24h"]["rejected"], 0);

    // Shutdown flushes: one row for the one reason, its sample bounded and secret-free.
    app.shutdown.cancel();
    tokio::time::timeout(WAIT, app.server)
        .await
        .expect("the app stops")
        .unwrap()
        .unwrap();
    let rows = flushed(&pool).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (reason, n, sample) = &rows[0];
    assert_eq!((reason.as_str(), *n), ("secret_mismatch", 200));
    let sample = sample.as_array().expect("a sample");
    assert!(!sample.is_empty() && sample.len() <= 20, "{sample:?}");
    for s in sample {
        assert_eq!(s["source"], "127.0.0.1", "{s}");
        assert!(s["at"].is_string() && s["traceId"].is_string(), "{s}");
    }
    assert!(!rows[0].2.to_string().contains(WRONG_SECRET));
    let st = status_with(&other, &admin).await;
    assert_eq!(st["last24h"]["rejected"], 200, "{st}");
    assert_eq!(st["lastFailure"]["reason"], "secret_mismatch", "{st}");
}

#[sqlx::test]
async fn refusals_reach_every_replica_within_the_flush_period(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .setting("MONO_WEBHOOK_REFUSAL_FLUSH_SECS", 1)
        .start()
        .await;
    let other = app.replica().start().await;
    let admin = admin_key(&app).await;
    for n in 0..5 {
        assert_eq!(refused(&app, n).await.0, 401);
    }
    wait_for("the other replica to report the refusals", WAIT, || async {
        status_with(&other, &admin).await["last24h"]["rejected"] == 5
    })
    .await;
    let rows = flushed(&pool).await;
    assert_eq!(rows.iter().map(|r| i64::from(r.1)).sum::<i64>(), 5, "{rows:?}");
    assert!(rows.len() <= 5, "{rows:?}");
    // What was flushed is no longer counted from memory as well.
    let st = status_with(&app, &admin).await;
    assert_eq!(st["last24h"]["rejected"], 5, "{st}");
}

// ----- throttling ----------------------------------------------------------------------------

#[sqlx::test]
async fn a_burst_of_refusals_is_throttled_per_address_while_signed_deliveries_pass(pool: PgPool) {
    // Five at once, then one a minute.
    let app = TestApp::builder(pool.clone())
        .setting("MONO_WEBHOOK_REFUSAL_LIMIT", 1)
        .setting("MONO_WEBHOOK_REFUSAL_BURST", 5)
        .start()
        .await;
    for n in 0..5 {
        let (status, _, body) = refused(&app, n).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, retry_after, body) = refused(&app, 5).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(assert_failure(&body), "rate_limited");
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(body["error"]["retryAfter"], retry_after);

    // A correctly signed delivery from the same address is not held up.
    let receipt = app
        .deliver_webhook(&event("mono.events.something_new", json!({})))
        .await;
    assert!(!receipt.duplicate);
    assert_eq!(refused(&app, 6).await.0, 429, "still throttled");

    // Another address has a bucket of its own.
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    let (status, _, body) = refused_through(&elsewhere, &app, 7).await;
    assert_eq!(status, 401, "{body}");

    let admin = admin_key(&app).await;
    let st = status_with(&app, &admin).await;
    assert_eq!(st["last24h"]["rejected"], 8, "{st}");
    assert_eq!(st["last24h"]["received"], 1, "{st}");
    assert_eq!(
        metric_of(&app, "webhook_refusals_total", &[r#"status="429""#]).await,
        2.0
    );
}

// ----- retention -----------------------------------------------------------------------------

#[sqlx::test]
async fn retention_purges_old_receipts_and_unclaimed_deliveries_in_batches(pool: PgPool) {
    let env = org_with_account(&pool, "Retention Org", "acc_kept").await;
    // 2,500 receipts 40 days old (more than one batch), 3 young ones.
    sqlx::query(
        "INSERT INTO webhook_receipts (kind, reason, received_at)
         SELECT CASE WHEN i % 2 = 0 THEN 'rejected' ELSE 'duplicate' END, 'secret_mismatch',
                now() - interval '40 days'
         FROM generate_series(1, 2500) i",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_receipts (kind, reason, received_at)
         SELECT 'rejected', 'secret_mismatch', now() - interval '20 days' FROM generate_series(1, 3)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Unclaimed deliveries (no environment): 4 eight days old, 1 young; a claimed one, old.
    let deliver = |dedupe: String, env: Option<Uuid>, days: i32, status: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, dedupe_key, event, account_id, env_id, body, trace_id,
                                                 status, received_at)
                 VALUES ($1, $2, 'transaction.updated', 'acc_x', $3, '{\"account_number\":\"0123456789\"}',
                         't', $4, now() - make_interval(days => $5))",
            )
            .bind(Uuid::now_v7())
            .bind(dedupe)
            .bind(env)
            .bind(status)
            .bind(days)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    for i in 0..4 {
        deliver(format!("old-{i}"), None, 8, "ignored").await;
    }
    deliver("young".into(), None, 1, "ignored").await;
    deliver("claimed".into(), Some(env), 8, "ignored").await;

    // No MONO_DATA_RETENTION_DAYS: receipts are kept 30 days, unclaimed deliveries 7.
    let settings = TestApp::builder(pool.clone()).settings();
    let keep = UnattributedRetention::from_settings(&settings);
    assert_eq!((keep.receipt_days, keep.unclaimed_days), (30, 7));
    let stop = CancellationToken::new();
    let dry = retention::purge_unattributed(&pool, keep, &stop, true)
        .await
        .unwrap();
    assert_eq!(dry.rows["webhookReceipts"], 2500);
    assert_eq!(dry.rows["unclaimedDeliveries"], 4);
    assert_eq!(
        count(&pool, "webhook_receipts").await,
        2503,
        "a dry run deletes nothing"
    );

    let done = retention::purge_unattributed(&pool, keep, &stop, false)
        .await
        .unwrap();
    assert_eq!(done.rows, dry.rows);
    assert_eq!(count(&pool, "webhook_receipts").await, 3);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT dedupe_key FROM webhook_deliveries ORDER BY dedupe_key")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        left,
        ["claimed", "young"],
        "a claimed delivery is its environment's"
    );

    // MONO_DATA_RETENTION_DAYS is the receipts' retention; the unclaimed one is its own.
    let settings = TestApp::builder(pool.clone())
        .setting("MONO_DATA_RETENTION_DAYS", 10)
        .setting("MONO_UNCLAIMED_RETENTION_DAYS", 30)
        .settings();
    let keep = UnattributedRetention::from_settings(&settings);
    assert_eq!((keep.receipt_days, keep.unclaimed_days), (10, 30));
    let done = retention::purge_unattributed(&pool, keep, &stop, false)
        .await
        .unwrap();
    assert_eq!(done.rows["webhookReceipts"], 3);
    assert_eq!(done.rows["unclaimedDeliveries"], 0);
    assert_eq!(count(&pool, "webhook_receipts").await, 0);
}

#[sqlx::test]
async fn a_retention_too_long_for_a_date_does_not_panic_the_purge(pool: PgPool) {
    org_with_account(&pool, "Forever Org", "acc_forever").await;
    let stop = CancellationToken::new();
    let report = retention::purge(&pool, Some(u32::MAX), &stop, false)
        .await
        .unwrap();
    assert!(
        report.iter().all(|env| env.rows.values().all(|n| *n == 0)),
        "{report:?}"
    );
}

// ----- a duplicate's outcome -----------------------------------------------------------------

#[sqlx::test]
async fn a_duplicate_answers_only_outcomes_the_contract_lists(pool: PgPool) {
    org_with_account(&pool, "Duplicate Org", "acc_dup").await;
    // No job worker: a delivery stays queued until the test moves it.
    let app = TestApp::builder(pool.clone()).job_concurrency(0).start().await;
    let body = tx_event(
        "transaction.settled",
        "acc_dup",
        transaction("tx_dup", 250_000, "NGN", None),
    );
    let first = app.deliver_webhook(&body).await;
    assert_eq!((first.duplicate, first.outcome.as_str()), (false, "queued"));
    let again = app.deliver_webhook(&body).await;
    assert_eq!((again.duplicate, again.outcome.as_str()), (true, "queued"));

    let set = |status: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE webhook_deliveries SET status = $2, error = 'refused' WHERE id = $1")
                .bind(first.delivery_id)
                .bind(status)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    // A delivery whose processing failed for good: its copy is not processed either.
    set("failed").await;
    let copy = app.deliver_webhook(&body).await;
    assert_eq!((copy.duplicate, copy.outcome.as_str()), (true, "ignored"));
    for status in ["processed", "ignored"] {
        set(status).await;
        let copy = app.deliver_webhook(&body).await;
        assert_eq!((copy.duplicate, copy.outcome.as_str()), (true, status));
    }

    // The document lists exactly those.
    let doc: Value = serde_json::from_str(taxpoynt_mono::http::router::document_json()).unwrap();
    let outcome = &doc["components"]["schemas"]["WebhookOutcome"];
    assert_eq!(
        outcome["enum"],
        json!(["processed", "queued", "ignored"]),
        "{outcome}"
    );
}
