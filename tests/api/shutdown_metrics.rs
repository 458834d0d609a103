//! Operations: `/metrics` on its own address, a shutdown that keeps its deadline, and
//! background tasks that come back after a panic.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test]
async fn metrics_addr_serves_metrics_alone_and_the_api_no_longer_does(pool: PgPool) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let app = TestApp::builder(pool).metrics_addr(addr).start().await;
    let url = format!("http://{addr}/metrics");
    wait_for("the metrics listener", Duration::from_secs(10), || async {
        try_raw(Method::GET, &url, &[], "")
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
    let metrics = raw(Method::GET, &url, &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("# TYPE") || text.is_empty() || text.contains("_total"),
        "{text}"
    );
    assert_eq!(
        raw(Method::GET, &format!("http://{addr}/si/mono/settings"), &[], "")
            .await
            .status,
        404
    );
    let (status, _) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 404, "the API's address no longer serves /metrics");
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
}

#[sqlx::test]
async fn shutdown_stops_a_request_that_outlives_the_deadline(pool: PgPool) {
    let s = TestApp::builder(pool)
        .shutdown_timeout(Duration::from_secs(1))
        .with_sandbox()
        .start()
        .await;
    let account = s.link_new_account(50).await;
    // Mono answers the transactions call after a minute: far past the deadline.
    let rule = install_fault(
        &s.sandbox,
        json!({"endpoint": "transactions", "latency_ms": 60_000}),
    )
    .await;
    let app = &s.app;
    let sync = app.post_raw("/si/mono/sync", json!({"accountId": account}));
    let stop = async {
        wait_for("the sync to reach Mono", Duration::from_secs(20), || async {
            fault_applied(&s.sandbox, &rule) > 0
        })
        .await;
        app.shutdown.cancel();
    };
    let (answer, ()) = tokio::join!(tokio::time::timeout(Duration::from_secs(45), sync), stop);
    // The client saw its connection end (or a 5xx), well before Mono would have answered.
    if let Ok((status, body)) = answer {
        assert_ne!(status, 200, "{body}");
    }
    let served = tokio::time::timeout(Duration::from_secs(45), s.app.server)
        .await
        .expect("the server stops at its deadline")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
}

#[sqlx::test]
async fn a_background_task_that_panics_is_restarted_and_counted(pool: PgPool) {
    let app = TestApp::builder(pool).application().await;
    let state = app.state().clone();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    taxpoynt_mono::startup::supervise("test_task", state.clone(), move |_| {
        let runs = counted.clone();
        async move {
            if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("a bug in a background task");
            }
        }
    })
    .await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "run, restarted twice, then returned"
    );
    let text = taxpoynt_mono::services::ops::metrics_text(&state);
    assert!(
        text.lines()
            .any(|l| l.starts_with("background_task_restarts_total") && l.contains("test_task")),
        "{text}"
    );
}
