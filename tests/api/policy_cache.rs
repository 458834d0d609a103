//! The compiled policy is cached per environment and replica, and a change of settings or
//! rules made through any replica is in force at the next decision of every replica.

use crate::helpers::*;
use serde_json::{json, Value};
use sqlx::PgPool;

async fn sync(app: &TestApp, account: &str) -> SyncOutcome {
    app.post("/si/mono/sync", json!({"accountId": account, "pageSize": 500}))
        .await
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
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    // A second replica: its own process state (and policy cache), the same database and tenant.
    let other = s.replica().start().await;
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
    assert!(first.drafted > 0, "{first:?}");
    let before = revision(&pool, env_id).await;

    // A settings change through the first replica: invoices in another currency, so every
    // NGN transaction is a currency mismatch.
    let _: Value = s
        .app
        .put("/si/mono/settings", json!({"invoiceCurrency": "USD"}))
        .await;
    let after_settings = revision(&pool, env_id).await;
    assert!(after_settings > before, "{before} -> {after_settings}");
    let second = sync(&other, &accounts[1]).await;
    assert!(second.fetched > 0, "{second:?}");
    assert_eq!(
        second.drafted, 0,
        "the new currency is in force on the other replica: {second:?}"
    );

    // Back to the default currency, and a deny rule for every narration through the first replica.
    let _: Value = s
        .app
        .put("/si/mono/settings", json!({"invoiceCurrency": null}))
        .await;
    let rule: RuleView = s
        .app
        .create(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": ".*", "match": "regex", "note": "hold everything"}),
        )
        .await;
    let after_rule = revision(&pool, env_id).await;
    assert!(
        after_rule > after_settings + 1,
        "{after_settings} -> {after_rule}"
    );
    let third = sync(&other, &accounts[2]).await;
    assert!(third.fetched > 0, "{third:?}");
    assert_eq!(
        third.drafted, 0,
        "the new rule is in force on the other replica: {third:?}"
    );

    // Deleting the rule moves the revision too.
    let _: Value = s.app.delete(&format!("/si/mono/allow-deny/{}", rule.id)).await;
    assert!(revision(&pool, env_id).await > after_rule);
}

#[sqlx::test]
async fn a_change_of_retention_alone_keeps_the_cached_policy(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let env_id = app
        .tenant
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .unwrap()
        .id;
    let before = revision(&pool, env_id).await;
    let _: Value = app.put("/si/mono/settings", json!({"retentionDays": 30})).await;
    assert_eq!(
        revision(&pool, env_id).await,
        before,
        "retention is not part of the policy"
    );
    let _: Value = app
        .put("/si/mono/settings", json!({"referenceRegex": "^INV-\\d+$"}))
        .await;
    assert_eq!(revision(&pool, env_id).await, before + 1);
}
