//! The account's `connection` and `sync` as a dashboard reads them: Mono's reauthorisation and
//! failed-sync events moving the connection, a successful sync ending `sync_failed`, the
//! `connection` filter of the linked list, and the first sync of a link shown from the moment
//! it is queued.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use taxpoynt_mono::services::accounts::{Connection, SyncState};

use crate::helpers::*;
use crate::webhooks::{deliver_processed, event};

const WAIT: Duration = Duration::from_secs(30);

async fn account(app: &TestApp, id: &str) -> AccountView {
    app.get(&format!("/si/mono/accounts/{id}")).await
}

/// The ids of the linked accounts whose connection is `connection`.
async fn linked_with(app: &TestApp, connection: &str) -> Vec<String> {
    let (accounts, _) = app
        .get_page::<AccountView>(&format!(
            "/si/mono/accounts?linkedOnly=true&connection={connection}"
        ))
        .await;
    assert!(accounts.iter().all(|a| a.connection.as_str() == connection));
    accounts.into_iter().map(|a| a.id).collect()
}

#[sqlx::test]
async fn monos_events_move_the_connection(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let id = s.link_new_account(3).await;
    let other = s.link_new_account(1).await;
    let view = account(app, &id).await;
    assert_eq!(view.connection, Connection::Ok);
    assert_eq!(view.sync.state, SyncState::Idle, "no sync on link here");
    assert!(view.sync.job_id.is_none());

    // sync_failed with no message: the connection and a plain reason.
    let result = deliver_processed(
        app,
        &event("mono.events.sync_failed", json!({"account": {"_id": id}})),
    )
    .await;
    assert_eq!(result["connection"], "sync_failed", "{result}");
    let view = account(app, &id).await;
    assert_eq!(view.connection, Connection::SyncFailed);
    assert_eq!(
        view.last_sync_error.as_deref(),
        Some("Mono reported a failed sync")
    );
    assert_eq!(linked_with(app, "sync_failed").await, vec![id.clone()]);
    assert_eq!(linked_with(app, "ok").await, vec![other.clone()]);

    // Mono's message is kept when it sends one.
    deliver_processed(
        app,
        &event(
            "mono.events.sync_failed",
            json!({"account": {"_id": id}, "meta": {"message": "bank unreachable"}}),
        ),
    )
    .await;
    assert_eq!(
        account(app, &id).await.last_sync_error.as_deref(),
        Some("bank unreachable")
    );

    // A successful sync ends it.
    let synced: Value = app.post("/si/mono/sync", json!({"accountId": id})).await;
    assert_eq!(synced["fetched"], 3, "{synced}");
    let view = account(app, &id).await;
    assert_eq!(view.connection, Connection::Ok, "{view:?}");
    assert!(view.last_sync_error.is_none(), "{view:?}");

    // reauthorisation_required: only account_reauthorized ends it, not a sync.
    let result = deliver_processed(
        app,
        &event(
            "mono.events.reauthorisation_required",
            json!({"account": {"_id": id}}),
        ),
    )
    .await;
    assert_eq!(result["connection"], "reauth_required", "{result}");
    let view = account(app, &id).await;
    assert_eq!(view.connection, Connection::ReauthRequired);
    assert!(view.reauth_required);
    assert_eq!(linked_with(app, "reauth_required").await, vec![id.clone()]);
    assert!(linked_with(app, "sync_failed").await.is_empty());
    let _: Value = app.post("/si/mono/sync", json!({"accountId": id})).await;
    assert_eq!(account(app, &id).await.connection, Connection::ReauthRequired);

    // account_reauthorized: ok again, and a sync queued that runs to its end.
    let result = deliver_processed(
        app,
        &event(
            "mono.events.account_reauthorized",
            json!({"account": {"_id": id}}),
        ),
    )
    .await;
    assert_eq!(result["connection"], "ok", "{result}");
    assert_eq!(result["syncQueued"], true, "{result}");
    let job_id = result["syncJobId"].as_str().expect("a sync job").to_owned();
    let view = account(app, &id).await;
    assert_eq!(view.connection, Connection::Ok);
    assert!(!view.reauth_required);
    if view.sync.state != SyncState::Idle {
        assert_eq!(view.sync.job_id.map(|j| j.to_string()), Some(job_id.clone()));
    }
    wait_for("the reauthorised account's sync done", WAIT, || async {
        let job: Value = app.get(&format!("/si/mono/jobs/{job_id}")).await;
        (job["status"] == "done").then_some(())
    })
    .await;
    let view = wait_for("the account idle", WAIT, || async {
        let view = account(app, &id).await;
        (view.sync.state == SyncState::Idle).then_some(view)
    })
    .await;
    assert!(view.sync.job_id.is_none());

    // account_updated with sync_status REAUTHORISATION_REQUIRED.
    deliver_processed(
        app,
        &event(
            "mono.events.account_updated",
            json!({"account": {"_id": id}, "meta": {"sync_status": "REAUTHORISATION_REQUIRED"}}),
        ),
    )
    .await;
    assert_eq!(account(app, &id).await.connection, Connection::ReauthRequired);

    // Unlinked, whatever else is stored.
    let unlinked: Unlinked = app
        .post(&format!("/si/mono/accounts/{id}/unlink"), json!({}))
        .await;
    assert!(unlinked.unlinked);
    assert_eq!(account(app, &id).await.connection, Connection::Unlinked);
    assert!(linked_with(app, "reauth_required").await.is_empty());
}

#[sqlx::test]
async fn the_connection_filter_names_what_is_wrong(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let (status, body) = app
        .get_raw("/si/mono/accounts?linkedOnly=true&connection=broken")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["fields"].get("connection").is_some(), "{body}");
    let (status, body) = app.get_raw("/si/mono/accounts?connection=ok").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["fields"].get("connection").is_some(), "{body}");
    let (status, body) = app
        .get_raw("/si/mono/accounts?linkedOnly=true&connection=unlinked")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!([]));
}

#[sqlx::test]
async fn a_queued_first_sync_shows_on_the_account(pool: PgPool) {
    // No worker: the first sync stays queued.
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .sync_on_link(true)
        .with_sandbox()
        .start()
        .await;
    let id = s.link_new_account(2).await;
    let job: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM jobs WHERE kind = 'sync' AND payload->>'accountId' = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let view = account(&s.app, &id).await;
    assert_eq!(view.sync.state, SyncState::Queued, "{view:?}");
    assert_eq!(view.sync.job_id, Some(job));
    let json: Value = s.app.get(&format!("/si/mono/accounts/{id}")).await;
    assert_eq!(json["sync"], json!({"state": "queued", "jobId": job}));

    // Backed off after failures, with no job.
    sqlx::query("UPDATE jobs SET status = 'failed' WHERE id = $1")
        .bind(job)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE mono_accounts SET last_sync_error = 'boom', next_sync_at = now() + interval '1 hour'
         WHERE id = $1",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    let view = account(&s.app, &id).await;
    assert_eq!(view.sync.state, SyncState::Backoff, "{view:?}");
    assert!(view.sync.job_id.is_none());
}

#[sqlx::test]
async fn a_links_first_sync_is_shown_until_it_finishes(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .sync_on_link(true)
        .with_sandbox()
        .start()
        .await;
    let made = create_account(&s.sandbox, json!({"transactions": 5})).await;
    let code = made["code"].as_str().expect("code");
    let linked: AccountView = s.app.post("/si/mono/exchange", json!({"code": code})).await;
    assert!(
        matches!(linked.sync.state, SyncState::Queued | SyncState::Running),
        "{linked:?}"
    );
    let job = linked.sync.job_id.expect("the first sync's job");
    wait_for("the first sync done", WAIT, || async {
        let j: Value = s.app.get(&format!("/si/mono/jobs/{job}")).await;
        (j["status"] == "done").then_some(())
    })
    .await;
    let view = account(&s.app, &linked.id).await;
    assert_eq!(view.sync.state, SyncState::Idle, "{view:?}");
    assert!(view.sync.job_id.is_none());
    assert!(view.last_synced_at.is_some());
}
