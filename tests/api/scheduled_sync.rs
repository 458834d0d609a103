//! The scheduled sync: every linked account with available data, swept into sync jobs by
//! several replicas at once, stopping on shutdown.

use std::future::ready;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{
    fault_applied, install_fault, sandbox_config, spawn_app_with_sandbox_config, sweep, test_settings,
    wait_until, Application,
};

#[sqlx::test]
async fn two_replicas_sync_every_account_once_and_stop_cleanly(pool: PgPool) {
    let s = spawn_app_with_sandbox_config(
        pool.clone(),
        sandbox_config(),
        &[("MONO_SYNC_INTERVAL_SECS", "1")],
    )
    .await;
    // A rule that changes nothing counts the transaction fetches; a round fetches every account.
    let fetches = install_fault(&s.sandbox, json!({"endpoint": "transactions"})).await;
    let accounts = [
        s.link_new_account(150).await,
        s.link_new_account(150).await,
        s.link_new_account(150).await,
    ];
    // A second replica on the same database and the same Mono.
    let base = s.sandbox.base_url.to_string();
    let secret = s.sandbox.state.config().secret_key.clone();
    let replica = Application::build_with_pool(
        test_settings(&[
            ("MONO_BASE_URL", &base),
            ("MONO_SECRET_KEY", &secret),
            ("MONO_SYNC_INTERVAL_SECS", "1"),
        ]),
        pool.clone(),
    )
    .await
    .unwrap();
    let replica_stop = replica.shutdown_token();
    let replica_task = tokio::spawn(replica.run_until_stopped());

    wait_until(
        "every account synced by the schedule",
        Duration::from_secs(20),
        || async {
            let synced = sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM mono_accounts WHERE sync_cursor IS NOT NULL AND id = ANY($1)",
            )
            .bind(&accounts[..])
            .fetch_one(&pool)
            .await
            .unwrap();
            synced == 3
        },
    )
    .await;
    // Let a few more rounds run on both replicas (two rounds of three accounts on each): nothing
    // is decided twice.
    let before = fault_applied(&s.sandbox, &fetches);
    wait_until("more rounds on both replicas", Duration::from_secs(20), || {
        ready(fault_applied(&s.sandbox, &fetches) >= before + 12)
    })
    .await;
    let decided: i64 = sqlx::query_scalar("SELECT count(*) FROM mono_transactions")
        .fetch_one(&pool)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM eligibility_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(decided, 450);
    assert_eq!(
        events, 450,
        "one event per transaction across every round and replica"
    );

    replica_stop.cancel();
    s.app.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        replica_task.await.unwrap().unwrap();
        s.app.server.await.unwrap().unwrap();
    })
    .await;
    assert!(stopped.is_ok(), "server and jobs stop on shutdown");
}

#[sqlx::test]
async fn concurrent_sweeps_queue_each_account_once(pool: PgPool) {
    let s = spawn_app_with_sandbox_config(pool.clone(), sandbox_config(), &[("JOB_CONCURRENCY", "0")]).await;
    for _ in 0..4 {
        s.link_new_account(300).await;
    }
    let state = Application::build_with_pool(test_settings(&[]), pool.clone())
        .await
        .unwrap()
        .state()
        .clone();
    let (a, b) = tokio::join!(sweep::run_once(&state), sweep::run_once(&state));
    assert_eq!(a.unwrap() + b.unwrap(), 4);
    let jobs: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT payload->>'accountId') FROM jobs WHERE kind = 'sync' AND status = 'queued'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(jobs, 4);
    assert_eq!(sweep::run_once(&state).await.unwrap(), 0);
}
