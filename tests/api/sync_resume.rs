//! Sync correctness: resumption under any page size, the window's edges, locks that die with
//! their sync, the connection pool under many syncs, unlink during a sync, malformed items and
//! redirects. Against the sandbox (or wiremock where Mono must misbehave in a precise way).

use std::time::Duration;

use crate::helpers::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Two linked accounts of one customer with the same generated history (`seed`): the first
/// is synced cleanly in one go, the second is the one a test interrupts.
async fn twin_accounts(s: &SandboxApp, transactions: usize, seed: u64) -> (String, String) {
    let link = |customer: Option<String>| {
        let body =
            json!({"transactions": transactions, "seed": seed, "customer_id": customer, "bank": "058"});
        async move {
            let made = s.control_post("/_sandbox/accounts", body).await;
            let code = made["data"]["code"].as_str().unwrap().to_string();
            let account: AccountView = s.app.post("/si/mono/exchange", json!({"code": code})).await;
            (
                account.id,
                made["data"]["customer_id"].as_str().unwrap().to_string(),
            )
        }
    };
    let (clean, customer) = link(None).await;
    let (broken, _) = link(Some(customer)).await;
    (clean, broken)
}

async fn sync(s: &SandboxApp, account_id: &str, page_size: u32) -> (u16, Value) {
    s.app
        .post_raw(
            "/si/mono/sync",
            json!({"accountId": account_id, "pageSize": page_size}),
        )
        .await
}

/// Syncs until a call answers `hasMore: false`, cycling through `page_sizes`; answers the
/// number of calls that stopped early (interrupted) and the last answer.
async fn sync_to_the_end(s: &SandboxApp, account_id: &str, page_sizes: &[u32]) -> (usize, SyncOutcome) {
    for interrupted in 0..400 {
        let (status, body) = sync(s, account_id, page_sizes[interrupted % page_sizes.len()]).await;
        if status == 200 {
            let page: SyncOutcome = data(&body);
            if !page.has_more {
                return (interrupted, page);
            }
        }
        // A background sync of the account (the sandbox's own `account_updated` queues one)
        // may hold it for a moment: wait for it, as any client would.
        if status == 409 && body["error"]["code"] == "sync_in_progress" {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        assert!(status == 200 || status == 502, "{status} {body}");
    }
    panic!("the sync never finished");
}

async fn assert_same_end_state(pool: &PgPool, clean: &str, broken: &str, expected: usize) {
    let a = stored_state(pool, clean).await;
    let b = stored_state(pool, broken).await;
    assert_eq!(a.decisions.len(), expected);
    assert_eq!(
        b.decisions.len(),
        expected,
        "every transaction decided exactly once"
    );
    assert_eq!(ledger_rows(pool, broken).await, expected as i64);
    let differing: Vec<_> = a
        .decisions
        .iter()
        .zip(&b.decisions)
        .filter(|(x, y)| x != y)
        .take(5)
        .collect();
    assert!(differing.is_empty(), "decisions differ: {differing:?}");
    assert_eq!(
        (a.drafts, a.dlq),
        (b.drafts, b.dlq),
        "same drafts and DLQ records"
    );
}

#[sqlx::test]
async fn a_sync_cut_by_its_time_budget_resumes_under_other_page_sizes(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .sync_budget(Duration::from_secs(1))
        .with_sandbox()
        .start()
        .await;
    let (clean, broken) = twin_accounts(&s, 1200, 11).await;
    let (status, body) = sync(&s, &clean, 500).await;
    assert_eq!(status, 200, "{body}");
    let clean_done: SyncOutcome = data(&body);
    assert!(!clean_done.has_more, "{clean_done:?}");

    // Slow pages: each call gets through a few of them before its budget runs out.
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "latency_ms": 250}),
    )
    .await;
    let (interrupted, done) = sync_to_the_end(&s, &broken, &[20, 100, 7, 500, 33]).await;
    assert!(
        interrupted >= 2,
        "the budget cut the walk ({interrupted} interruptions)"
    );
    assert_eq!(done.cursor, clean_done.cursor);
    assert_same_end_state(&pool, &clean, &broken, 1200).await;
}

#[sqlx::test]
async fn a_sync_cut_by_mono_errors_resumes_under_other_page_sizes(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .max_retries(0)
        .with_sandbox()
        .start()
        .await;
    let (clean, broken) = twin_accounts(&s, 900, 12).await;
    assert_eq!(sync(&s, &clean, 100).await.0, 200);
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "error_rate": 0.3, "status": 500}),
    )
    .await;
    let (interrupted, _) = sync_to_the_end(&s, &broken, &[40, 300, 9, 100]).await;
    assert!(interrupted > 0, "the faults interrupted the walk");
    assert_same_end_state(&pool, &clean, &broken, 900).await;
}

#[sqlx::test]
async fn a_sync_through_every_upstream_fault_ends_like_a_clean_one(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .mono_timeout(Duration::from_millis(800))
        .max_retries(3)
        .with_sandbox()
        .start()
        .await;
    let (clean, broken) = twin_accounts(&s, 900, 16).await;
    assert_eq!(sync(&s, &clean, 100).await.0, 200);
    // 20% 5xx, a burst of 429s with Retry-After, latency spikes and requests that never answer.
    let rules = [
        json!({"endpoint": "transactions", "error_rate": 0.2, "status": 503}),
        json!({"endpoint": "transactions", "rate_limit_retry_after": 1, "count": 3}),
        json!({"endpoint": "transactions", "latency_ms": 400, "error_rate": 0.0, "count": 10}),
        json!({"endpoint": "transactions", "hang": true, "count": 2}),
    ]
    .map(|fault| install_fault(&s.sandbox, fault));
    let rules = futures::future::join_all(rules).await;
    let (interrupted, _) = sync_to_the_end(&s, &broken, &[50, 200, 13]).await;
    assert_same_end_state(&pool, &clean, &broken, 900).await;
    let applied: Vec<u64> = rules.iter().map(|r| fault_applied(&s.sandbox, r)).collect();
    assert!(
        applied.iter().all(|&n| n > 0),
        "every kind of fault struck: {applied:?}"
    );
    eprintln!(
        "upstream faults: the sync ended like a clean one; faults applied {applied:?}, {interrupted} calls cut short"
    );

    // Mono down for good: the sync says so (502 naming Mono's failure) and moves nothing.
    let (down, _) = twin_accounts(&s, 50, 17).await;
    clear_faults(&s).await;
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "error_rate": 1.0, "status": 500}),
    )
    .await;
    let (status, body) = sync(&s, &down, 20).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["status"], "failed");
    assert!(
        body["error"]["monoStatus"] == 500
            || body["error"]["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("mono")),
        "{body}"
    );
    assert_eq!(ledger_rows(&pool, &down).await, 0);
    let cursor: CursorView = s.app.get(&format!("/si/mono/cursor?accountId={down}")).await;
    assert!(cursor.cursor.is_none(), "{cursor:?}");
}

#[sqlx::test]
async fn shutdown_mid_walk_then_a_larger_page_size_loses_nothing(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let (clean, broken) = twin_accounts(&s, 600, 13).await;
    assert_eq!(sync(&s, &clean, 50).await.0, 200);
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "latency_ms": 150}),
    )
    .await;
    let sync_call = sync(&s, &broken, 20);
    let stop = async {
        wait_for("a few pages are stored", Duration::from_secs(20), || async {
            ledger_rows(&pool, &broken).await >= 60
        })
        .await;
        s.app.shutdown.cancel();
    };
    let ((status, body), ()) = tokio::join!(sync_call, stop);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["hasMore"], true, "{body}");
    let stored = ledger_rows(&pool, &broken).await;
    assert!(stored < 600, "stopped part way ({stored})");

    // A second application on the same database takes over with another page size.
    let app2 = s.replica().start().await;
    let page: SyncOutcome = app2
        .post("/si/mono/sync", json!({"accountId": broken, "pageSize": 500}))
        .await;
    assert!(!page.has_more, "{page:?}");
    assert_same_end_state(&pool, &clean, &broken, 600).await;
}

#[sqlx::test]
async fn an_old_page_cursor_resumes_without_loss(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let (clean, broken) = twin_accounts(&s, 450, 14).await;
    assert_eq!(sync(&s, &clean, 100).await.0, 200);
    // What an earlier version left: page 3 of a walk whose page size was not recorded.
    sqlx::query("UPDATE mono_accounts SET sync_cursor = 'v1.-.3.-' WHERE id = $1")
        .bind(&broken)
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = sync(&s, &broken, 500).await;
    assert_eq!(status, 200, "{body}");
    let page: SyncOutcome = data(&body);
    assert!(page.cursor.as_deref().unwrap().starts_with("v2."), "{page:?}");
    assert_same_end_state(&pool, &clean, &broken, 450).await;
}

#[sqlx::test]
async fn transactions_arriving_during_a_resumed_walk_are_all_decided(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .sync_budget(Duration::from_secs(1))
        .with_sandbox()
        .start()
        .await;
    let account = s.link_new_account(500).await;
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "latency_ms": 250}),
    )
    .await;
    let mut added = 0;
    let mut calls = 0;
    loop {
        let (status, body) = sync(&s, &account, [30, 70, 11][calls % 3]).await;
        assert_eq!(status, 200, "{body}");
        calls += 1;
        if !data::<SyncOutcome>(&body).has_more {
            break;
        }
        // New transactions land at the top of the list between two calls of one walk.
        s.control_post(
            &format!("/_sandbox/accounts/{account}/transactions"),
            json!({"count": 7}),
        )
        .await;
        added += 7;
        assert!(calls < 100, "the walk ends");
    }
    assert!(added > 0, "transactions arrived mid-walk");
    // The next pass picks up whatever arrived after the walk passed the top.
    let (status, _) = sync(&s, &account, 100).await;
    assert_eq!(status, 200);
    assert_eq!(ledger_rows(&pool, &account).await, 500 + added);
}

#[sqlx::test]
async fn a_forward_dated_transaction_does_not_move_the_window_past_tomorrow(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = s.link_new_account(50).await;
    s.control_post(
        &format!("/_sandbox/accounts/{account}/transactions"),
        json!({"transactions": [{"amount": 5_000_000, "type": "credit", "narration": "INVOICE 1 payment", "date": "2031-01-01T10:00:00.000Z"}]}),
    )
    .await;
    let (status, body) = sync(&s, &account, 100).await;
    assert_eq!(status, 200, "{body}");
    let cursor = data::<SyncOutcome>(&body).cursor.unwrap();
    let parts: Vec<&str> = cursor.split('.').collect();
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1))
        .format("%Y%m%d")
        .to_string();
    assert!(
        parts[3] <= tomorrow.as_str(),
        "high-water {cursor} passes {tomorrow}"
    );
    assert!(parts[1] < tomorrow.as_str(), "window start {cursor}");
    // A transaction posted today after the pass is still found by the next one.
    s.control_post(
        &format!("/_sandbox/accounts/{account}/transactions"),
        json!({"count": 3}),
    )
    .await;
    let (status, body) = sync(&s, &account, 100).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ledger_rows(&pool, &account).await, 54);
}

async fn clear_faults(s: &SandboxApp) {
    let (status, body) = control(&s.sandbox, reqwest::Method::DELETE, "/_sandbox/faults", None).await;
    assert!((200..300).contains(&status), "{status} {body}");
}

/// The app pointed at a wiremock Mono with one linked account `acc_w`.
async fn app_with_mock_mono(pool: PgPool) -> (TestApp, MockServer) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/auth"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "successful", "message": "ok", "data": {"id": "acc_w"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_w"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "successful", "message": "ok",
            "data": {
                "account": {"id": "acc_w", "name": "ACME LTD", "currency": "NGN", "type": "CURRENT",
                            "account_number": "0123456789", "balance": 100, "bvn": "12345678901",
                            "institution": {"name": "GTBank", "bank_code": "058", "type": "PERSONAL_BANKING"}},
                "customer": {"id": "cus_w"},
                "meta": {"data_status": "AVAILABLE", "auth_method": "internet_banking", "retrieved_data": ["transactions"]}
            }
        })))
        .mount(&server)
        .await;
    let app = TestApp::builder(pool)
        .mono(&server.uri(), "sk_test")
        .max_retries(0)
        .start()
        .await;
    let account: AccountView = app.post("/si/mono/exchange", json!({"code": "code_w"})).await;
    assert_eq!(account.id, "acc_w");
    (app, server)
}

fn tx(id: &str, narration: &str) -> Value {
    json!({"id": id, "narration": narration, "amount": 250_000_000, "type": "credit",
           "balance": 1, "date": "2025-05-30T10:00:00.000Z", "currency": "NGN"})
}

fn page(items: Vec<Value>, total: u64, next: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "status": "successful", "message": "ok", "data": items,
        "meta": {"total": total, "page": 1, "previous": null, "next": next}
    }))
}

#[sqlx::test]
async fn an_empty_page_that_claims_more_is_reported_never_taken_as_the_end(pool: PgPool) {
    let (app, server) = app_with_mock_mono(pool.clone()).await;
    let first = Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_w/transactions"))
        .and(query_param("page", "1"))
        .respond_with(page(
            vec![tx("t1", "INVOICE 1 payment"), tx("t2", "INVOICE 2 payment")],
            4,
            Some("?page=2"),
        ))
        .mount_as_scoped(&server)
        .await;
    let empty = Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_w/transactions"))
        .and(query_param("page", "2"))
        .respond_with(page(vec![], 4, Some("?page=3")))
        .mount_as_scoped(&server)
        .await;
    let answer: SyncOutcome = app
        .post("/si/mono/sync", json!({"accountId": "acc_w", "pageSize": 2}))
        .await;
    assert_eq!(answer.fetched, 2);
    assert!(answer.has_more, "{answer:?}");
    let cursor = answer.cursor.unwrap();
    assert!(
        cursor.starts_with("v2.-.2."),
        "the walk stays at offset 2: {cursor}"
    );
    assert!(
        empty.received_requests().await.len() >= 2,
        "the empty page was asked for again"
    );
    drop((first, empty));

    // Mono recovers: the next call continues exactly where the walk stood.
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_w/transactions"))
        .and(query_param("page", "2"))
        .respond_with(page(
            vec![tx("t3", "INVOICE 3 payment"), tx("t4", "INVOICE 4 payment")],
            4,
            None,
        ))
        .mount(&server)
        .await;
    let answer: SyncOutcome = app
        .post("/si/mono/sync", json!({"accountId": "acc_w", "pageSize": 2}))
        .await;
    assert_eq!(answer.fetched, 2);
    assert_eq!(answer.drafted, 2);
    assert!(!answer.has_more, "{answer:?}");
    assert_eq!(ledger_rows(&pool, "acc_w").await, 4);
}

#[sqlx::test]
async fn a_short_page_below_mono_total_is_not_the_end(pool: PgPool) {
    let (app, server) = app_with_mock_mono(pool.clone()).await;
    // `next` is null but the total says the window holds 3 and only 2 came.
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_w/transactions"))
        .respond_with(page(
            vec![tx("t1", "INVOICE 1 payment"), tx("t2", "INVOICE 2 payment")],
            3,
            None,
        ))
        .mount(&server)
        .await;
    let answer: SyncOutcome = app
        .post("/si/mono/sync", json!({"accountId": "acc_w", "pageSize": 10}))
        .await;
    assert!(answer.has_more, "{answer:?}");
    assert!(
        answer.cursor.as_deref().unwrap().starts_with("v2.-.2."),
        "{answer:?}"
    );
}

#[sqlx::test]
async fn a_malformed_transaction_goes_to_the_dlq_and_the_sync_moves_on(pool: PgPool) {
    let (app, server) = app_with_mock_mono(pool.clone()).await;
    let bad_with_id = json!({"id": "t_bad", "narration": "INVOICE 9", "amount": "lots", "type": "credit", "date": "2025-05-30T10:00:00.000Z"});
    let bad_without_id = json!({"narration": "???", "amount": 5});
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_w/transactions"))
        .respond_with(page(
            vec![
                tx("t1", "INVOICE 1 payment"),
                bad_with_id.clone(),
                bad_without_id,
                tx("t2", "INVOICE 2 payment"),
            ],
            4,
            None,
        ))
        .mount(&server)
        .await;
    let d: SyncOutcome = app
        .post("/si/mono/sync", json!({"accountId": "acc_w", "pageSize": 10}))
        .await;
    assert_eq!(d.fetched, 4);
    assert_eq!(d.drafted, 2);
    assert_eq!(d.dlq, 1);
    assert_eq!(d.skipped_by_reason["malformed_transaction"], 2, "{d:?}");
    assert!(!d.has_more, "{d:?}");
    let (reason, raw): (String, Value) =
        sqlx::query_as("SELECT reason, transaction FROM dlq_records WHERE transaction_id = 't_bad'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reason, "malformed_transaction");
    assert_eq!(raw, bad_with_id, "kept as Mono sent it");
}

#[sqlx::test]
async fn the_client_follows_no_redirect(pool: PgPool) {
    let (app, server) = app_with_mock_mono(pool.clone()).await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_w/transactions"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/steal", elsewhere.uri()).as_str()),
        )
        .mount(&server)
        .await;
    let (status, body) = app
        .post_raw("/si/mono/sync", json!({"accountId": "acc_w", "pageSize": 10}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "nothing, and no key, went to the other host"
    );
}

#[sqlx::test]
async fn a_client_that_disconnects_mid_sync_leaves_no_lock_behind(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = s.link_new_account(400).await;
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "latency_ms": 300}),
    )
    .await;
    // The client gives up after the sync has started and stored something.
    let impatient = reqwest::Client::new();
    let request = impatient
        .post(s.app.url("/si/mono/sync"))
        .bearer_auth(s.app.key())
        .json(&json!({"accountId": account, "pageSize": 10}))
        .send();
    let started = async {
        wait_for("the sync stored a page", Duration::from_secs(20), || async {
            ledger_rows(&pool, &account).await > 0
        })
        .await;
    };
    tokio::select! {
        _ = request => panic!("the sync should still be running"),
        _ = started => {}
    }
    // The request future is dropped here: the connection closes mid-sync.
    clear_faults(&s).await;
    let (status, body) = sync(&s, &account, 100).await;
    assert_eq!(status, 200, "the next sync starts at once: {body}");
}

#[sqlx::test]
async fn more_syncs_than_pooled_connections_do_not_starve_other_requests(pool: PgPool) {
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let s = TestApp::builder(small)
        .sync_concurrency(2)
        .with_sandbox()
        .start()
        .await;
    let mut accounts = Vec::new();
    for _ in 0..6 {
        accounts.push(s.link_new_account(120).await);
    }
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "latency_ms": 100}),
    )
    .await;
    let syncs = futures::future::join_all(accounts.iter().map(|a| sync(&s, a, 20)));
    let others = async {
        let mut answered = 0;
        for _ in 0..10 {
            let _: Value = s.app.get("/si/mono/settings").await;
            let _: Value = s.app.get("/readyz").await;
            answered += 2;
        }
        answered
    };
    let (results, answered) = tokio::join!(syncs, others);
    assert_eq!(answered, 20);
    for (status, body) in results {
        assert_eq!(status, 200, "{body}");
        assert_eq!(data::<SyncOutcome>(&body).fetched, 120);
    }
}

#[sqlx::test]
async fn unlink_with_purge_during_a_sync_leaves_nothing_behind(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = s.link_new_account(600).await;
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "latency_ms": 150}),
    )
    .await;
    let syncing = sync(&s, &account, 20);
    let unlink = async {
        wait_for("the sync stored a page", Duration::from_secs(20), || async {
            ledger_rows(&pool, &account).await > 0
        })
        .await;
        let unlinked: Unlinked = s
            .app
            .post(
                &format!("/si/mono/accounts/{account}/unlink?purge=true"),
                json!({}),
            )
            .await;
        assert!(unlinked.unlinked);
    };
    let ((status, body), ()) = tokio::join!(syncing, unlink);
    // The sync stops at its next page: its write finds the account unlinked (409), or Mono
    // already refuses the unlinked account's next page (502).
    assert!(status == 409 || status == 502, "{status} {body}");
    let left = stored_state(&pool, &account).await;
    assert_eq!(
        (left.decisions.len(), left.drafts, left.dlq),
        (0, 0, 0),
        "nothing written back after the purge"
    );
    assert_eq!(ledger_rows(&pool, &account).await, 0);
    let cursor: Option<String> = sqlx::query_scalar("SELECT sync_cursor FROM mono_accounts WHERE id = $1")
        .bind(&account)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(cursor, None);
}

/// The service binary serving against the database at `url` and the sandbox at `sandbox`,
/// killed with SIGKILL when dropped.
fn start_service(url: &str, sandbox: &str, secret: &str) -> Service {
    let mut command = std::process::Command::new(BIN);
    command
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("MONO_BASE_URL", sandbox)
        .env("MONO_SECRET_KEY", secret)
        .env("MONO_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env_remove("MONO_SYNC_INTERVAL_SECS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    Service::start(command)
}

#[sqlx::test]
async fn a_service_killed_mid_sync_resumes_under_other_page_sizes(
    _opts: sqlx::postgres::PgPoolOptions,
    conn: sqlx::postgres::PgConnectOptions,
) {
    let url = database_url_for(&conn);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(conn.clone())
        .await
        .unwrap();
    taxpoynt_mono::db::MIGRATOR.run(&pool).await.unwrap();
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    // The short version runs in the default suite; `TPM_RELIABILITY_LONG=1` runs the long one:
    // 10,000 transactions and 8 kills.
    let long = std::env::var("TPM_RELIABILITY_LONG").is_ok_and(|v| v == "1");
    let n: usize = if long { 10_000 } else { 1200 };
    let sizes: &[u32] = if long {
        &[20, 100, 7, 250, 33, 500, 64, 13]
    } else {
        &[20, 100, 7, 250, 33]
    };
    let (clean, broken) = twin_accounts(&s, n, 15).await;
    assert_eq!(sync(&s, &clean, 500).await.0, 200);
    s.control_post(
        "/_sandbox/faults",
        json!({"endpoint": "transactions", "latency_ms": 100}),
    )
    .await;
    let secret = secrecy::ExposeSecret::expose_secret(&s.sandbox.client_config().secret_key).to_string();
    let sandbox_url = s.sandbox.base_url.to_string();
    let http = reqwest::Client::new();
    let mut kills = 0;
    let mut rng = rand::thread_rng();
    let mut kill_points = Vec::new();
    for &page_size in sizes {
        let service = start_service(&url, &sandbox_url, &secret);
        service.wait_ready(Duration::from_secs(30)).await;
        let before = ledger_rows(&pool, &broken).await;
        let request = http
            .post(format!("{}/si/mono/sync", service.base))
            .bearer_auth(s.app.key())
            .json(&json!({"accountId": broken, "pageSize": page_size}))
            .send();
        // A random point of the walk: somewhere in the next share of what is left.
        let share = (n as i64 / (2 * sizes.len() as i64)).max(20);
        let kill_at = before + rand::Rng::gen_range(&mut rng, 10..=share);
        kill_points.push(kill_at);
        let progressed = wait_for("the sync stores more", Duration::from_secs(120), || async {
            ledger_rows(&pool, &broken).await >= kill_at
        });
        tokio::select! {
            answer = request => panic!("the sync finished before the kill: {answer:?}"),
            _ = progressed => {}
        }
        drop(service); // SIGKILL mid-walk
        kills += 1;
    }
    assert_eq!(kills, sizes.len());
    assert!(
        ledger_rows(&pool, &broken).await < n as i64,
        "the kills interrupted the walk"
    );
    eprintln!("killed mid-sync: {kills} SIGKILLs of {n} transactions at ledger rows {kill_points:?}, page sizes {sizes:?}");
    clear_faults(&s).await;
    let (_, done) = sync_to_the_end(&s, &broken, &[500]).await;
    assert!(!done.has_more, "{done:?}");
    assert_same_end_state(&pool, &clean, &broken, n).await;
}
