//! The request budget towards MBS (`MBS_MAX_RPS`): one row of `request_budgets` shared by
//! every replica, taken before every attempt of the MBS client; a 503 (or 429) with
//! `Retry-After` pauses every replica. Measured against the MBS sandbox's own count of the
//! calls it received per whole second.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::helpers::*;
use sandbox::mbs::faults::{FaultKind, FaultSpec};
use sandbox::mbs::state::Business;
use sandbox::SandboxHandle;
use taxpoynt_mono::budget::{Budget, MBS_BUDGET_NAME};

/// A client of `business` at `sandbox` taking tokens from the shared MBS budget on `pool`
/// (one per replica).
fn budgeted_client(pool: &PgPool, sandbox: &SandboxHandle, business: &Business, rps: u32) -> mbs::MbsClient {
    let budget = Budget::named(pool.clone(), MBS_BUDGET_NAME, rps);
    mbs::MbsClient::new(sandbox.mbs_client_config(business))
        .expect("a client")
        .with_budget(Arc::new(budget))
}

async fn demo_business(sandbox: &SandboxHandle) -> Business {
    let mbs = sandbox.state.mbs().clone();
    tokio::task::spawn_blocking(move || mbs.demo_business())
        .await
        .unwrap()
        .unwrap()
}

#[sqlx::test]
async fn two_replicas_never_exceed_mbs_max_rps_in_any_second_as_mbs_counted(pool: PgPool) {
    const RPS: u32 = 5;
    const CALLS_EACH: usize = 18;
    let sandbox = start_sandbox(sandbox_config()).await;
    let business = demo_business(&sandbox).await;
    let replicas = [
        budgeted_client(&pool, &sandbox, &business, RPS),
        budgeted_client(&pool, &sandbox, &business, RPS),
    ];
    // Calls of every kind the service makes that change nothing, many at once from each.
    let calls = replicas.iter().flat_map(|client| {
        (0..CALLS_EACH).map(move |i| async move {
            match i % 3 {
                0 => client.health().await.map(|_| ()),
                1 => client.resources("currencies").await.map(|_| ()),
                _ => client.verify_tin("12345678-0001").await.map(|_| ()),
            }
        })
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let counts = sandbox.state.mbs().calls();
    let per_second: Vec<u64> = counts.seconds.iter().map(|s| s.requests).collect();
    eprintln!(
        "mbs budget: {} calls from two replicas at MBS_MAX_RPS={RPS}; per second {per_second:?}",
        counts.requests
    );
    assert_eq!(counts.requests, 2 * CALLS_EACH as u64);
    // Far more calls than a second's budget, yet no second above it.
    assert!(per_second.len() >= 6, "{per_second:?}");
    assert!(per_second.iter().all(|c| *c <= u64::from(RPS)), "{per_second:?}");
    // Both replicas took from the one row.
    let spent: i64 = sqlx::query_scalar("SELECT count(*) FROM request_budgets WHERE name = 'mbs'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(spent, 1);
}

async fn paused_until(pool: &PgPool) -> Option<DateTime<Utc>> {
    taxpoynt_mono::db::budget::paused_until(pool, MBS_BUDGET_NAME)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_503_with_retry_after_pauses_the_other_replica_too(pool: PgPool) {
    let sandbox = start_sandbox(sandbox_config()).await;
    let business = demo_business(&sandbox).await;
    let a = budgeted_client(&pool, &sandbox, &business, 50);
    let b = budgeted_client(&pool, &sandbox, &business, 50);
    sandbox.state.mbs().faults().add(FaultSpec {
        kind: FaultKind::Status {
            status: 503,
            retry_after_secs: Some(2),
        },
        path: Some("/api/v1/invoice/transmit".into()),
        times: Some(1),
    });
    assert_eq!(paused_until(&pool).await, None);

    // A transmit is never repeated by the client: the 503 comes back, and the pause stays.
    let refused = a.transmit("INV001-TXPDEMO1-20240611").await;
    assert!(
        matches!(refused, Err(mbs::MbsError::Unavailable(_))),
        "{refused:?}"
    );
    let until = paused_until(&pool)
        .await
        .expect("the pause is recorded for every replica");

    // The other replica's next call reaches MBS only once the pause is over.
    assert!(b.health().await.unwrap());
    let log = sandbox.state.mbs().log();
    let health = log
        .iter()
        .find(|e| e.path == "/api")
        .expect("the health call arrived");
    assert!(
        health.received_at >= until,
        "the call arrived at {} during the pause until {until}",
        health.received_at
    );
}

#[sqlx::test]
async fn a_429_pauses_every_replica_and_is_not_an_unknown_outcome(pool: PgPool) {
    let sandbox = start_sandbox(sandbox_config()).await;
    let business = demo_business(&sandbox).await;
    let a = budgeted_client(&pool, &sandbox, &business, 50);
    sandbox.state.mbs().faults().add(FaultSpec {
        kind: FaultKind::Status {
            status: 429,
            retry_after_secs: Some(1),
        },
        path: Some("/api/v1/invoice/irn/validate".into()),
        times: Some(1),
    });
    let check = mbs::IrnCheck {
        business_id: business.business_id.clone(),
        invoice_reference: "INV001".into(),
        irn: "INV001-TXPDEMO1-20240611".into(),
    };
    let answer = a.validate_irn(&check).await;
    match &answer {
        Err(
            e @ mbs::MbsError::RateLimited {
                retry_after_secs: Some(1),
            },
        ) => {
            assert!(!e.outcome_unknown(), "a 429 was not processed")
        }
        other => panic!("{other:?}"),
    }
    let until = paused_until(&pool).await.expect("the pause is recorded");
    // Asked again (by the caller: a submission is never repeated by the client), it waits
    // for the pause and goes through.
    a.validate_irn(&check)
        .await
        .expect("valid once the pause is over");
    let log = sandbox.state.mbs().log();
    let last = log.last().expect("calls logged");
    assert_eq!(last.status, Some(200));
    assert!(last.received_at >= until, "{} before {until}", last.received_at);
}

/// `MBS_MAX_RPS` reaches the service's own client: code lists fetched through the API at
/// once stay within it, and the wait is in the metrics.
#[sqlx::test]
async fn the_service_calls_mbs_within_mbs_max_rps(pool: PgPool) {
    let s = TestApp::builder(pool).mbs_max_rps(2).with_sandbox().start().await;
    let lists = [
        "invoice-types",
        "tax-categories",
        "currencies",
        "services-codes",
        "payment-means",
        "countries",
    ];
    let app = &s.app;
    let answers = futures::future::join_all(
        lists
            .iter()
            .map(|name| async move { app.get_raw(&format!("/si/mbs/resources/{name}")).await }),
    )
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let counts = s.sandbox.state.mbs().calls();
    let per_second: Vec<u64> = counts.seconds.iter().map(|c| c.requests).collect();
    assert_eq!(counts.requests, lists.len() as u64);
    assert!(per_second.iter().all(|c| *c <= 2), "{per_second:?}");
    let metrics = s.app.raw(reqwest::Method::GET, "/metrics", &[], "").await.text();
    assert!(metrics.contains("mbs_budget_wait_seconds"), "{metrics}");
}
