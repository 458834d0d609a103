//! The compiled policy is cached per environment and replica, and a change of settings or
//! rules made through any replica is in force at the next decision of every replica.

use crate::helpers::*;
use serde_json::json;
use sqlx::PgPool;

async fn sync(app: &TestApp, account: &str) -> serde_json::Value {
    let (status, body) = app
        .post("/si/mono/sync", json!({"accountId": account, "pageSize": 500}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn revision(pool: &PgPool, env_id: uuid::Uuid) -> i64 {
    sqlx::query_scalar("SELECT policy_revision FROM environments WHERE id = $1")
        .bind(env_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_change_through_one_replica_is_in_force_on_another_at_once(pool: PgPool) {
    let s = spawn_app_with_sandbox(pool.clone()).await;
    // A second replica: its own process state (and policy cache), the same database and tenant.
    let base = s.sandbox.base_url.to_string();
    let secret = sandbox_config().secret_key;
    let other = spawn_app_on(
        pool.clone(),
        test_settings(&[
            ("MONO_BASE_URL", base.as_str()),
            ("MONO_SECRET_KEY", secret.as_str()),
        ]),
        s.app.tenant.clone(),
    )
    .await;
    let env_id = s
        .app
        .tenant
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .unwrap()
        .id;
    let accounts = [
        s.link_new_account(120).await,
        s.link_new_account(120).await,
        s.link_new_account(120).await,
    ];

    // The other replica decides (and caches) under the default policy: business income drafts.
    let first = sync(&other, &accounts[0]).await;
    assert!(first["drafted"].as_u64().unwrap() > 0, "{first}");
    let before = revision(&pool, env_id).await;

    // A settings change through the first replica: invoices in another currency, so every
    // NGN transaction is a currency mismatch.
    let (status, body) = s
        .app
        .put("/si/mono/settings", json!({"invoiceCurrency": "USD"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let after_settings = revision(&pool, env_id).await;
    assert!(after_settings > before, "{before} -> {after_settings}");
    let second = sync(&other, &accounts[1]).await;
    assert!(second["fetched"].as_u64().unwrap() > 0, "{second}");
    assert_eq!(
        second["drafted"], 0,
        "the new currency is in force on the other replica: {second}"
    );

    // Back to the default currency, and a deny rule for every narration through the first replica.
    let (status, body) = s
        .app
        .put("/si/mono/settings", json!({"invoiceCurrency": null}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .app
        .post(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": ".*", "match": "regex", "note": "hold everything"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let rule_id = body["data"]["id"].as_str().unwrap().to_owned();
    let after_rule = revision(&pool, env_id).await;
    assert!(
        after_rule > after_settings + 1,
        "{after_settings} -> {after_rule}"
    );
    let third = sync(&other, &accounts[2]).await;
    assert!(third["fetched"].as_u64().unwrap() > 0, "{third}");
    assert_eq!(
        third["drafted"], 0,
        "the new rule is in force on the other replica: {third}"
    );

    // Deleting the rule moves the revision too.
    let (status, body) = s.app.delete(&format!("/si/mono/allow-deny/{rule_id}")).await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert!(revision(&pool, env_id).await > after_rule);
}

#[sqlx::test]
async fn a_change_of_retention_alone_keeps_the_cached_policy(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let env_id = app
        .tenant
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .unwrap()
        .id;
    let before = revision(&pool, env_id).await;
    let (status, body) = app.put("/si/mono/settings", json!({"retentionDays": 30})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        revision(&pool, env_id).await,
        before,
        "retention is not part of the policy"
    );
    let (status, body) = app
        .put("/si/mono/settings", json!({"referenceRegex": "^INV-\\d+$"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(revision(&pool, env_id).await, before + 1);
}
