//! 429 with Retry-After in the envelope: per API key, and between two real-time refreshes of
//! one account at Mono (across replicas).

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

fn assert_rate_limited(status: u16, body: &Value, headers: &reqwest::header::HeaderMap) -> u64 {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds");
    assert!(retry >= 1, "{retry}");
    assert_eq!(body["error"]["retryAfter"], retry, "{body}");
    retry
}

async fn as_key(app: &TestApp, key: &str) -> RawResponse {
    let bearer = format!("Bearer {key}");
    app.raw(
        Method::GET,
        "/si/mono/settings",
        &[("authorization", bearer.as_str())],
        "",
    )
    .await
}

#[sqlx::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_others_do_not(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).rate_limit(1, 5).start().await;
    // A second key of the same organization has a bucket of its own.
    let other = tenants::create_key(&pool, app.tenant.org_id, Role::Tenant)
        .await
        .unwrap();
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(as_key(&app, app.key()).await);
    }
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert!(
        (5..=6).contains(&ok),
        "the burst passes, then the rate holds: {ok} of 8"
    );
    let limited = answers.iter().find(|r| r.status == 429).expect("one refused");
    let body: Value = serde_json::from_slice(&limited.body).unwrap();
    assert_rate_limited(limited.status, &body, &limited.headers);
    let fresh = as_key(&app, &other.api_key).await;
    assert_eq!(fresh.status, 200);
    // An unknown key is refused as before, not counted against anyone.
    let unknown = as_key(&app, "tpm_unknown").await;
    assert_eq!(unknown.status, 401);
}

#[sqlx::test]
async fn a_second_refresh_within_the_cooldown_is_429_on_every_replica(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .refresh_cooldown(Duration::from_secs(3600))
        .with_sandbox()
        .start()
        .await;
    let other = s.replica().start().await;
    let account = s.link_new_account(5).await;
    let path = format!("/si/mono/accounts/{account}?refresh=true");
    let refreshed: AccountView = s.app.get(&path).await;
    assert_eq!(refreshed.id, account);
    // The stored account is still readable without a refresh.
    let stored: AccountView = other.get(&format!("/si/mono/accounts/{account}")).await;
    assert_eq!(stored.id, account);
    let bearer = other.bearer();
    let again = other
        .raw(Method::GET, &path, &[("authorization", bearer.as_str())], "")
        .await;
    let body: Value = serde_json::from_slice(&again.body).unwrap();
    let retry = assert_rate_limited(again.status, &body, &again.headers);
    assert!(retry > 3500 && retry <= 3600, "{retry}");
    // Another tenant's account is 404, cooldown or not.
    let stranger = TestApp::builder(pool.clone()).start().await;
    let (status, _) = stranger.get_raw(&path).await;
    assert_eq!(status, 404);
}
