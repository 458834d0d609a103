//! Rules are bounded per environment and listed in pages; rule previews are bounded per
//! environment and per replica, and cut by a statement timeout.

use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::task::JoinHandle;

#[sqlx::test]
async fn an_environment_holds_at_most_500_rules_listed_in_pages(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let env_id = app.env_id("sandbox");
    sqlx::query(
        "INSERT INTO eligibility_rules (id, org_id, env_id, list, field, match_kind, pattern)
         SELECT gen_random_uuid(), org_id, id, 'deny', 'narration', 'contains', 'word' || n
         FROM environments, generate_series(1, 499) AS n WHERE id = $1::uuid",
    )
    .bind(&env_id)
    .execute(&pool)
    .await
    .unwrap();
    let rule = json!({"list": "deny", "pattern": "casino"});
    let (status, body) = app.post_raw("/si/mono/allow-deny", rule.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.post_raw("/si/mono/allow-deny", rule.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(assert_failure(&body), "limit_reached");
    // Another environment has its own budget.
    let (status, _) = app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": "casino", "env": "production"}),
        )
        .await;
    assert_eq!(status, 201);

    // Pages of 200 walk all 500 once, oldest first.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (status, body) = app
            .get_raw(&format!("/si/mono/allow-deny?limit=200{after}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["meta"]["total"], 500);
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        match body["meta"]["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 500);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 500, "no rule twice");

    let (status, body) = app.get_raw("/si/mono/allow-deny?limit=0").await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["limit"].is_string());
    let (status, body) = app.get_raw("/si/mono/allow-deny?after=nope").await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["after"].is_string());
}

#[sqlx::test]
async fn concurrent_inserts_never_pass_the_cap(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let env_id = app.env_id("sandbox");
    sqlx::query(
        "INSERT INTO eligibility_rules (id, org_id, env_id, list, field, match_kind, pattern)
         SELECT gen_random_uuid(), org_id, id, 'deny', 'narration', 'contains', 'word' || n
         FROM environments, generate_series(1, 495) AS n WHERE id = $1::uuid",
    )
    .bind(&env_id)
    .execute(&pool)
    .await
    .unwrap();
    let calls = (0..12).map(|i| {
        app.post_raw(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": format!("x{i}")}),
        )
    });
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, refused), (5, 7), "{answers:?}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM eligibility_rules WHERE env_id = $1::uuid")
        .bind(&env_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 500);
}

const PREVIEW: &str = "/si/mono/allow-deny/preview";

/// A preview of a deny rule in `env`, sent from a task of its own.
fn spawn_preview(app: &TestApp, env: &str) -> JoinHandle<(u16, Value)> {
    let url = app.url(PREVIEW);
    let key = app.key().to_owned();
    let body = json!({"list": "deny", "pattern": "casino", "env": env});
    tokio::spawn(async move { call(Method::POST, &url, Some(&key), Some(&body)).await })
}

/// A preview in `env` that must be answered at once (the scans of the others are blocked):
/// the whole response.
async fn preview_now(app: &TestApp, env: &str) -> RawResponse {
    let bearer = app.bearer();
    let body = serde_json::to_vec(&json!({"list": "deny", "pattern": "casino", "env": env})).unwrap();
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    tokio::time::timeout(
        Duration::from_secs(20),
        app.raw(Method::POST, PREVIEW, &headers, body),
    )
    .await
    .expect("the preview was admitted and waits on the held lock")
}

/// Previews of this database waiting on a lock before their scan: at the size of the ledger
/// the scan is split by, the first thing a preview reads of the table, on the one connection
/// it holds until then.
async fn scans_waiting(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND query LIKE '%pg_relation_size(''mono_transactions'')%'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Holds a lock no preview's scan gets past until the transaction ends.
async fn block_scans(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE mono_transactions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

fn assert_preview_refused(resp: &RawResponse) {
    let body = resp.json();
    assert_eq!(resp.status, 429, "{body}");
    assert_eq!(assert_failure(&body), "rate_limited");
    let retry: u64 = resp
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds");
    assert!(retry >= 1);
    assert_eq!(body["error"]["retryAfter"], retry, "{body}");
}

/// Two previews at once per environment, three per replica: the next one answers 429 with
/// Retry-After at once instead of taking another connection; once they end, previews run
/// again.
#[sqlx::test]
async fn previews_at_once_are_bounded_per_environment_and_per_replica(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .setting("PREVIEW_CONCURRENCY_PER_ENV", 2)
        .setting("PREVIEW_CONCURRENCY", 3)
        .start()
        .await;
    let lock = block_scans(&pool).await;
    let sandbox = [spawn_preview(&app, "sandbox"), spawn_preview(&app, "sandbox")];
    wait_for("two previews scanning", Duration::from_secs(20), || async {
        (scans_waiting(&pool).await == 2).then_some(())
    })
    .await;
    // The environment's two are taken; another environment still has room.
    assert_preview_refused(&preview_now(&app, "sandbox").await);
    let production = spawn_preview(&app, "production");
    wait_for("three previews scanning", Duration::from_secs(20), || async {
        (scans_waiting(&pool).await == 3).then_some(())
    })
    .await;
    // The replica's three are taken: refused even where the environment has room.
    assert_preview_refused(&preview_now(&app, "production").await);

    lock.rollback().await.unwrap();
    for preview in sandbox.into_iter().chain([production]) {
        let (status, body) = preview.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app
        .post_raw(PREVIEW, json!({"list": "deny", "pattern": "casino"}))
        .await;
    assert_eq!(status, 200, "the permits came back: {body}");
}

/// A scan longer than `PREVIEW_STATEMENT_TIMEOUT_MS` is cut: 422 `preview_too_large`, and
/// the preview's slot is free again.
#[sqlx::test]
async fn a_preview_past_its_statement_timeout_is_refused_as_too_large(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .setting("PREVIEW_CONCURRENCY_PER_ENV", 1)
        .setting("PREVIEW_STATEMENT_TIMEOUT_MS", 200)
        .start()
        .await;
    let lock = block_scans(&pool).await;
    let resp = preview_now(&app, "sandbox").await;
    let body = resp.json();
    assert_eq!(resp.status, 422, "{body}");
    assert_eq!(assert_failure(&body), "preview_too_large");
    lock.rollback().await.unwrap();
    let (status, body) = app
        .post_raw(PREVIEW, json!({"list": "deny", "pattern": "casino"}))
        .await;
    assert_eq!(status, 200, "{body}");
}
