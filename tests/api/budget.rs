//! The request budget towards Mono shared by every replica (`MONO_MAX_RPS`), the pause a 429
//! with `Retry-After` puts on all of them, and the sandbox's own rate limit and latency
//! (`/_sandbox/limits`) the budget is measured against.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;
use mono::BudgetError;
use mono::MonoError;
use sandbox::SandboxHandle;
use taxpoynt_mono::budget::{Budget, BUDGET_NAME};

/// The sandbox's limits and counts (`GET /_sandbox/limits`).
async fn sandbox_limits(sandbox: &SandboxHandle) -> Value {
    let (status, body) = control(sandbox, Method::GET, "/_sandbox/limits", None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn db_now(pool: &PgPool) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn ms(base: DateTime<Utc>, millis: i64) -> Option<DateTime<Utc>> {
    Some(base + chrono::Duration::milliseconds(millis))
}

/// The take's arithmetic on the shared row, at times the test names: a token comes back one
/// window after it was spent, a take never gets more than the limit minus what the window
/// holds, and a pause gives nothing until it ends.
#[sqlx::test]
async fn budget_bucket_arithmetic_gives_back_each_token_one_window_after_it_was_spent(pool: PgPool) {
    let t0 = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let take = |want: u32, at: Option<DateTime<Utc>>| {
        let pool = pool.clone();
        async move {
            db::budget::take(&pool, BUDGET_NAME, 3, 1_100, want, at)
                .await
                .unwrap()
                .expect("the migration creates the budget's row")
        }
    };
    let first = take(2, ms(t0, 0)).await;
    assert_eq!((first.granted, first.next_back_spent_at), (2, None));
    // One left: asking for two gets one, and names the spend that comes back first.
    let second = take(2, ms(t0, 500)).await;
    assert_eq!((second.granted, second.next_back_spent_at), (1, Some(t0)));
    let spent = take(1, ms(t0, 600)).await;
    assert_eq!((spent.granted, spent.paused_until), (0, None));
    assert_eq!(spent.next_back_spent_at, Some(t0));
    // A millisecond short of one window the first spends are not back yet; at one window they
    // are (so any window [s, s + 1.1 s) holds at most the limit).
    assert_eq!(take(1, ms(t0, 1_099)).await.granted, 0);
    let back = take(5, ms(t0, 1_100)).await;
    assert_eq!(back.granted, 2, "only the two spent at t0 came back");
    assert_eq!(back.next_back_spent_at, ms(t0, 500));
    // Asking for more than the limit never gets more than the limit.
    assert_eq!(take(50, ms(t0, 10_000)).await.granted, 3);

    // A pause gives nothing, whatever is left, until it ends.
    let until = db::budget::pause(&pool, BUDGET_NAME, 60_000)
        .await
        .unwrap()
        .unwrap();
    let paused = take(1, None).await;
    assert_eq!((paused.granted, paused.paused_until), (0, Some(until)));
    assert_eq!(
        db::budget::paused_until(&pool, BUDGET_NAME).await.unwrap(),
        Some(until)
    );
    // A shorter pause asked later does not cut the longer one.
    let kept = db::budget::pause(&pool, BUDGET_NAME, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, until);
    let after = take(1, Some(until + chrono::Duration::milliseconds(1))).await;
    assert_eq!((after.granted, after.paused_until), (1, None));

    // Many takers at once share the limit: the row lock orders them, none is granted twice.
    db::budget::ensure(&pool, "race").await.unwrap();
    let takers = (0..40).map(|_| {
        let pool = pool.clone();
        async move {
            db::budget::take(&pool, "race", 10, 60_000, 1, None)
                .await
                .unwrap()
                .unwrap()
                .granted
        }
    });
    let granted: i32 = futures::future::join_all(takers).await.into_iter().sum();
    assert_eq!(granted, 10);
}

/// Two service instances on one database sync many accounts from one sandbox at once: the
/// calls of both together stay within the budget in every whole second the sandbox counts,
/// and the sandbox, limited to the same rate, never has to refuse one.
#[sqlx::test]
async fn budget_is_shared_by_two_replicas_and_never_exceeded_in_any_second(pool: PgPool) {
    const RPS: u32 = 8;
    const ACCOUNTS: usize = 6;
    const PER_ACCOUNT: usize = 45;
    let mut config = sandbox_config();
    config.limits.max_rps = Some(RPS);
    let s = TestApp::builder(pool.clone())
        .max_rps(RPS)
        .sandbox(config)
        .start()
        .await;
    let b = s.replica().start().await;
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(s.link_new_account(PER_ACCOUNT).await);
    }

    let replicas = [&s.app, &b];
    let syncs = accounts
        .iter()
        .enumerate()
        .map(|(i, account)| sync_to_end(replicas[i % 2], account, 10, WhenBusy::Fail));
    let fetched: u64 = futures::future::join_all(syncs).await.into_iter().sum();
    assert_eq!(fetched as usize, ACCOUNTS * PER_ACCOUNT);

    let limits = sandbox_limits(&s.sandbox).await;
    let seconds = limits["seconds"].as_array().unwrap();
    let counts: Vec<u64> = seconds.iter().map(|c| c["requests"].as_u64().unwrap()).collect();
    let requests = limits["requests"].as_u64().unwrap();
    let busiest = limits["busiest_second"]["requests"].as_u64().unwrap();
    eprintln!(
        "budget: {requests} calls from two replicas at MONO_MAX_RPS={RPS}; per second {counts:?}, busiest {busiest}"
    );
    // Far more calls than one second's budget, so the budget held them back.
    assert!(requests > u64::from(RPS) * 4, "{limits}");
    assert!(busiest <= u64::from(RPS), "{limits}");
    assert!(counts.iter().all(|c| *c <= u64::from(RPS)), "{limits}");
    assert_eq!(limits["rate_limited"], 0, "{limits}");
    // Every call waited for its token (both replicas record in this one process).
    let metrics = s.app.raw(Method::GET, "/metrics", &[], "").await.text();
    assert!(
        metric(&metrics, "mono_budget_wait_seconds_count", &[]) >= requests as f64,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "mono_budget_wait_seconds_sum", &[]) > 0.0,
        "{metrics}"
    );
}

/// One replica gets a 429 with `Retry-After`; the other replica's calls wait for the pause
/// too: none reaches the sandbox while it lasts, and its sync cannot end before the pause does.
#[sqlx::test]
async fn budget_pause_after_a_429_holds_back_the_other_replica(pool: PgPool) {
    const RETRY_AFTER: i64 = 3;
    let s = TestApp::builder(pool.clone())
        .max_rps(50)
        .with_sandbox()
        .start()
        .await;
    let b = s.replica().start().await;
    let x = s.link_new_account(30).await;
    let y = s.link_new_account(30).await;
    assert_eq!(db::budget::paused_until(&pool, BUDGET_NAME).await.unwrap(), None);
    let rule = install_fault(
        &s.sandbox,
        json!({"endpoint": "transactions", "rate_limit_retry_after": RETRY_AFTER, "count": 1}),
    )
    .await;

    let a = &s.app;
    let a_sync = async { sync_to_end(a, &x, 10, WhenBusy::Fail).await };
    let b_sync = async {
        let until = wait_for(
            "replica A's 429 to pause the budget",
            Duration::from_secs(10),
            || {
                let pool = pool.clone();
                async move { db::budget::paused_until(&pool, BUDGET_NAME).await.unwrap() }
            },
        )
        .await;
        let started = db_now(&pool).await;
        assert!(started < until, "replica B starts within the pause");
        let fetched = sync_to_end(&b, &y, 10, WhenBusy::Fail).await;
        (until, fetched, db_now(&pool).await)
    };
    let (a_fetched, (until, b_fetched, b_done)) = tokio::join!(a_sync, b_sync);
    assert_eq!((a_fetched, b_fetched), (30, 30));
    assert_eq!(fault_applied(&s.sandbox, &rule), 1);
    assert!(
        b_done >= until,
        "replica B's sync ended at {b_done}, inside the pause until {until}"
    );

    // Whole seconds the pause covers saw no call at all, from either replica.
    let from = (until - chrono::Duration::seconds(RETRY_AFTER)).timestamp() + 1;
    let to = until.timestamp();
    assert!(to > from, "the pause covers whole seconds");
    let limits = sandbox_limits(&s.sandbox).await;
    let quiet: Vec<&Value> = limits["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| (from..to).contains(&c["second"].as_i64().unwrap()))
        .collect();
    assert!(quiet.is_empty(), "calls within the pause: {quiet:?}");
    let metrics = s.app.raw(Method::GET, "/metrics", &[], "").await.text();
    assert!(
        metric(&metrics, "mono_rate_limited_total", &[]) >= 1.0,
        "{metrics}"
    );
}

/// The sandbox refuses calls past `max_rps` in a second with 429, `Retry-After` and Mono's
/// failure envelope, makes every call wait `latency_ms`, counts calls per second, and answers
/// bad limits with 400 naming the field.
#[sqlx::test]
async fn budget_sandbox_limit_answers_429_with_retry_after_and_applies_latency(_pool: PgPool) {
    let sandbox = start_sandbox(sandbox_config()).await;
    let (status, body) = control(
        &sandbox,
        Method::PUT,
        "/_sandbox/limits",
        Some(json!({"latency_ms": 40, "max_rps": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["data"]["latency_ms"].clone(),
            body["data"]["max_rps"].clone()
        ),
        (json!(40), json!(2))
    );

    let key = sandbox.state.config().secret_key.clone();
    let url = sandbox_url(&sandbox, "/v2/accounts");
    let started = Instant::now();
    let headers = [("mono-sec-key", key.as_str())];
    let calls = (0..6).map(|_| raw(Method::GET, &url, &headers, ""));
    let answers = futures::future::join_all(calls).await;
    assert!(started.elapsed() >= Duration::from_millis(40), "latency applied");
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    let passed = answers.iter().filter(|r| r.status == 200).count();
    // Six calls within at most two whole seconds: at most four let through.
    assert!(!refused.is_empty() && passed >= 2 && passed + refused.len() == 6);
    for r in &refused {
        assert_eq!(r.header("retry-after"), Some("1"));
        let body = r.json();
        assert_eq!(body["status"], "failed", "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["data"].is_null());
    }
    let limits = sandbox_limits(&sandbox).await;
    assert_eq!(limits["requests"], 6);
    assert_eq!(limits["rate_limited"], refused.len());
    for second in limits["seconds"].as_array().unwrap() {
        let let_through = second["requests"].as_u64().unwrap() - second["rate_limited"].as_u64().unwrap();
        assert!(let_through <= 2, "{limits}");
    }
    assert!(
        limits["busiest_second"]["requests"].as_u64().unwrap() >= 3,
        "{limits}"
    );

    // The Mono client rides through the limit: it waits Retry-After and tries again.
    let client = client(&sandbox);
    let (a, b, c) = tokio::join!(
        client.list_accounts(None),
        client.list_accounts(None),
        client.list_accounts(None)
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");

    // Bad limits: 400 naming the field, the limits unchanged.
    for bad in [
        json!({"max_rps": 0}),
        json!({"latency_ms": 600_001}),
        json!({"latency_ms": "slow"}),
        json!({"max_rps": -1}),
        json!({"maxRps": 3}),
        json!([1, 2]),
    ] {
        let (status, body) = control(&sandbox, Method::PUT, "/_sandbox/limits", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status"], "failed", "{body}");
    }
    let empty = raw(Method::PUT, &sandbox_url(&sandbox, "/_sandbox/limits"), &[], "").await;
    assert_eq!(empty.status, 400, "{}", empty.text());
    let limits = sandbox_limits(&sandbox).await;
    assert_eq!(
        (limits["latency_ms"].clone(), limits["max_rps"].clone()),
        (json!(40), json!(2))
    );
    // Lifting them: `{}` is no latency and no limit.
    let (status, body) = control(&sandbox, Method::PUT, "/_sandbox/limits", Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["max_rps"], Value::Null);
}

/// A call waiting for the budget, and a call sleeping before a retry, both end when shutdown
/// is asked for instead of waiting on.
#[sqlx::test]
async fn budget_waits_and_retry_sleeps_end_at_shutdown(pool: PgPool) {
    let budget = Budget::new(pool.clone(), 1);
    let shutdown = CancellationToken::new();
    budget.acquire(&shutdown).await.expect("the first token is there");
    // A pause of a minute: the next take would wait that long.
    budget
        .pause(Duration::from_secs(60))
        .await
        .expect("pause recorded");
    let waiting = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { budget.acquire(&shutdown).await }
    });
    // Whenever the cancel lands (before the take or during its sleep), the wait ends with it.
    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the wait ended at shutdown")
        .unwrap();
    assert_eq!(ended, Err(BudgetError::Cancelled));

    // A 429 asking for 30 s: the retry sleep ends at shutdown with Mono's answer.
    let sandbox = start_sandbox(sandbox_config()).await;
    let rule = install_fault(
        &sandbox,
        json!({"endpoint": "balance", "rate_limit_retry_after": 30}),
    )
    .await;
    let shutdown = CancellationToken::new();
    let c = client(&sandbox).with_shutdown(shutdown.clone());
    let call = tokio::spawn(async move { c.balance("any", false).await });
    wait_for("the first attempt to be refused", Duration::from_secs(5), || {
        std::future::ready(fault_applied(&sandbox, &rule) == 1)
    })
    .await;
    shutdown.cancel();
    let answer = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the retry sleep ended at shutdown")
        .unwrap();
    assert!(matches!(answer, Err(MonoError::RateLimited { .. })), "{answer:?}");
    assert_eq!(
        fault_applied(&sandbox, &rule),
        1,
        "no second attempt after shutdown"
    );
}

/// Shutdown while a sync's next page waits for the budget: the sync stops at the page
/// boundary with what it wrote, as when shutdown comes between pages, not with an error.
#[sqlx::test]
async fn budget_wait_cut_by_shutdown_ends_a_sync_at_a_page_boundary(pool: PgPool) {
    let s = TestApp::builder(pool).max_rps(1).with_sandbox().start().await;
    let account = s.link_new_account(50).await;
    let pages = install_fault(&s.sandbox, json!({"endpoint": "transactions"})).await;
    let request = s
        .app
        .post::<SyncOutcome>("/si/mono/sync", json!({"accountId": account, "pageSize": 10}));
    let stop = async {
        wait_for("the first page to be fetched", Duration::from_secs(10), || {
            std::future::ready(fault_applied(&s.sandbox, &pages) >= 1)
        })
        .await;
        s.app.shutdown.cancel();
    };
    let (page, ()) = tokio::join!(request, stop);
    assert!((10..50).contains(&page.fetched), "{page:?}");
    assert!(page.has_more, "{page:?}");
    let stopped = tokio::time::timeout(Duration::from_secs(10), s.app.server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "the server stopped");
}

/// The account's sync state as a queued sync leaves it: (last error, next sync, failures,
/// connection).
async fn sync_state(pool: &PgPool, account: &str) -> (Option<String>, Option<DateTime<Utc>>, i32, String) {
    sqlx::query_as(
        "SELECT last_sync_error, next_sync_at, sync_failures, connection FROM mono_accounts WHERE id = $1",
    )
    .bind(account)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The account's queued sync job: (status, attempts, progress).
async fn sync_job_row(pool: &PgPool, job: uuid::Uuid) -> (String, i32, Value) {
    sqlx::query_as("SELECT status, attempts, progress FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Queues a sync of `account` as `account_updated` would; answers the job.
async fn queue_sync(app: &TestApp, account: &str) -> uuid::Uuid {
    let env_id = app.env_id("sandbox").parse().unwrap();
    let tenant = taxpoynt_mono::tenancy::Tenant::system(
        app.tenant.org_id,
        env_id,
        taxpoynt_mono::tenancy::EnvName::Sandbox,
    );
    let mut conn = app.pool.acquire().await.unwrap();
    taxpoynt_mono::services::sync::job::enqueue(&mut conn, &tenant, account, "account_updated")
        .await
        .unwrap()
        .id
}

/// Shutdown while a queued sync waits for the budget is not the account's doing: the job
/// goes back to the queue without using an attempt, due at once, and the account is not put
/// in backoff (no `lastSyncError`, no `nextSyncAt`, connection unchanged).
#[sqlx::test]
async fn a_queued_sync_cut_by_shutdown_leaves_the_account_due(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .max_rps(1)
        .with_sandbox()
        .start()
        .await;
    let account = s.link_new_account(5).await;
    // A pause of a minute: the sync's first call to Mono waits for the budget.
    db::budget::pause(&pool, BUDGET_NAME, 60_000).await.unwrap();
    let job = queue_sync(&s.app, &account).await;
    wait_for("the sync job to be running", Duration::from_secs(20), || async {
        (sync_job_row(&pool, job).await.0 == "running").then_some(())
    })
    .await;
    s.app.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(20), s.app.server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "the server stopped");

    let (status, attempts, progress) = sync_job_row(&pool, job).await;
    assert_eq!((status.as_str(), attempts), ("queued", 0), "{progress}");
    let due: bool = sqlx::query_scalar("SELECT run_after <= now() FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(due, "the job is due again at once");
    let (error, next, failures, connection) = sync_state(&pool, &account).await;
    assert_eq!(error, None);
    assert_eq!(next, None);
    assert_eq!(failures, 0);
    assert_eq!(connection, "ok");
}

/// The budget's storage failing is not the account's doing either: the job is postponed
/// without using an attempt and the account keeps its state.
#[sqlx::test]
async fn a_queued_sync_without_a_readable_budget_leaves_the_account_alone(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .max_rps(1)
        .with_sandbox()
        .start()
        .await;
    let account = s.link_new_account(5).await;
    // The budget's row can no longer be taken from.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_budget() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'the budget store is down'; END $$;
         CREATE TRIGGER refuse_budget BEFORE UPDATE ON request_budgets
             FOR EACH ROW EXECUTE FUNCTION refuse_budget();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let job = queue_sync(&s.app, &account).await;
    let (status, attempts, progress) =
        wait_for("the sync to be postponed", Duration::from_secs(20), || async {
            // Claimed and back in the queue: an attempt used, or postponed with what it waits on.
            let row = sync_job_row(&pool, job).await;
            (row.0 == "queued" && (row.1 > 0 || row.2.get("waiting").is_some())).then_some(row)
        })
        .await;
    assert_eq!((status.as_str(), attempts), ("queued", 0), "{progress}");
    assert_eq!(progress["waiting"], "mono_budget_unavailable", "{progress}");
    let (error, next, failures, connection) = sync_state(&pool, &account).await;
    assert_eq!(error, None);
    assert_eq!(next, None);
    assert_eq!(failures, 0);
    assert_eq!(connection, "ok");
}

/// Shutdown cutting short the wait before a retry (Mono asked for 30 s with a 429): Mono's
/// trouble that the retry would have handled, not the account's; the job is queued again
/// without an attempt and the account keeps its state.
#[sqlx::test]
async fn a_queued_sync_whose_retry_shutdown_cut_short_leaves_the_account_due(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = s.link_new_account(5).await;
    let rule = install_fault(
        &s.sandbox,
        json!({"endpoint": "transactions", "rate_limit_retry_after": 30}),
    )
    .await;
    let job = queue_sync(&s.app, &account).await;
    wait_for("the first attempt to be refused", Duration::from_secs(20), || {
        std::future::ready((fault_applied(&s.sandbox, &rule) == 1).then_some(()))
    })
    .await;
    s.app.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(20), s.app.server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "the server stopped");
    assert_eq!(fault_applied(&s.sandbox, &rule), 1, "no retry after shutdown");

    let (status, attempts, progress) = sync_job_row(&pool, job).await;
    assert_eq!((status.as_str(), attempts), ("queued", 0), "{progress}");
    assert_eq!(progress["waiting"], "shutting_down", "{progress}");
    let (error, next, failures, connection) = sync_state(&pool, &account).await;
    assert_eq!((error, next, failures), (None, None, 0));
    assert_eq!(connection, "ok");
}
