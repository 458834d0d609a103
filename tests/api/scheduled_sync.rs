//! The scheduled sync: every linked account with available data, swept into sync jobs by
//! several replicas at once, stopping on shutdown.

use std::future::ready;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{count, fault_applied, install_fault, sweep, wait_for, TestApp};

#[sqlx::test]
async fn two_replicas_sync_every_account_once_and_stop_cleanly(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .sync_interval(Duration::from_secs(1))
        .with_sandbox()
        .start()
        .await;
    // A rule that changes nothing counts the transaction fetches; a round fetches every account.
    let fetches = install_fault(&s.sandbox, json!({"endpoint": "transactions"})).await;
    let accounts = [
        s.link_new_account(150).await,
        s.link_new_account(150).await,
        s.link_new_account(150).await,
    ];
    // A second replica on the same database and the same Mono.
    let replica = s.replica().start().await;

    wait_for(
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
    wait_for("more rounds on both replicas", Duration::from_secs(20), || {
        ready(fault_applied(&s.sandbox, &fetches) >= before + 12)
    })
    .await;
    let decided = count(&pool, "mono_transactions").await;
    let events = count(&pool, "eligibility_events").await;
    assert_eq!(decided, 450);
    assert_eq!(
        events, 450,
        "one event per transaction across every round and replica"
    );

    replica.shutdown.cancel();
    s.app.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        replica.server.await.unwrap().unwrap();
        s.app.server.await.unwrap().unwrap();
    })
    .await;
    assert!(stopped.is_ok(), "server and jobs stop on shutdown");
}

#[sqlx::test]
async fn concurrent_sweeps_queue_each_account_once(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    for _ in 0..4 {
        s.link_new_account(300).await;
    }
    let state = TestApp::builder(pool.clone()).application().await.state().clone();
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
