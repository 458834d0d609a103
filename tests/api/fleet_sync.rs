//! Sync for the whole fleet: sync jobs queued once per account (webhooks, first links, the
//! sweep), run by the worker's sync lane apart from the other jobs, taken in turn between
//! organizations, backed off per account after failures, and taken over from a replica that
//! died mid-round.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

/// Unfinished sync jobs (queued or running).
async fn unfinished_syncs(pool: &PgPool) -> i64 {
    count(
        pool,
        "jobs WHERE kind = 'sync' AND status IN ('queued', 'running')",
    )
    .await
}

/// The state of an application that is built but never run: for calling the sweep, the
/// claim or a worker by hand.
async fn side_state(app: TestAppBuilder) -> AppState {
    app.application().await.state().clone()
}

fn account_updated(account: &str, event_id: &str) -> Value {
    json!({
        "event": "mono.events.account_updated",
        "event_id": event_id,
        "data": {
            "account": {"_id": account},
            "meta": {"data_status": "AVAILABLE", "auth_method": "internet_banking"}
        }
    })
}

fn new_data(account: &str, event_id: &str) -> Value {
    json!({
        "event": "mono.events.account_updated",
        "event_id": event_id,
        "data": {"account": {"_id": account}, "meta": {"has_new_data": true}}
    })
}

/// Delivers `body` and processes it here (the tests that call it run no worker of the app's
/// own); answers the delivery's result.
async fn process_webhook(s: &SandboxApp, state: &AppState, body: &Value) -> Value {
    let receipt = s.app.deliver_webhook(body).await;
    assert_eq!(receipt.outcome, "queued", "{receipt:?}");
    webhook_job::process_delivery(state, receipt.delivery_id)
        .await
        .unwrap()
}

/// The id of the account's one sync job.
async fn sync_job_of(pool: &PgPool, account: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM jobs WHERE kind = 'sync' AND payload->>'accountId' = $1")
        .bind(account)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn job_rerun(pool: &PgPool, id: Uuid) -> bool {
    sqlx::query_scalar("SELECT rerun FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A job's status, attempts and progress.
async fn job_row(pool: &PgPool, id: Uuid) -> (String, i32, Value) {
    sqlx::query_as("SELECT status, attempts, progress FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits for the job to be done; answers its progress.
async fn job_done(pool: &PgPool, id: Uuid) -> Value {
    wait_for("the sync job to be done", Duration::from_secs(30), || async {
        let (status, _, progress) = job_row(pool, id).await;
        (status == "done").then_some(progress)
    })
    .await
}

#[sqlx::test]
async fn sync_jobs_are_queued_once_per_account_whoever_asks(pool: PgPool) {
    // No worker: the jobs stay queued for the test to count.
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .sync_on_link(true)
        .with_sandbox()
        .start()
        .await;
    // A first link with AVAILABLE data queues the account's first sync.
    let a = s.link_new_account(20).await;
    let b = s.link_new_account(20).await;
    assert_eq!(unfinished_syncs(&pool).await, 2);
    let trigger: String =
        sqlx::query_scalar("SELECT payload->>'trigger' FROM jobs WHERE payload->>'accountId' = $1")
            .bind(&a)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(trigger, "link");

    // account_updated (processed here, with no worker), the sweep, twice each: nothing more;
    // each delivery names the queued job it rode on.
    let state = side_state(TestApp::builder(pool.clone())).await;
    let queued = sync_job_of(&pool, &a).await;
    for i in 0..2 {
        let result = process_webhook(&s, &state, &account_updated(&a, &format!("evt_dedupe_{i}"))).await;
        assert_eq!(result["syncQueued"], true, "{result}");
        assert_eq!(
            result["syncJobId"],
            json!(queued),
            "rode on the queued job: {result}"
        );
        assert_eq!(sweep::run_once(&state).await.unwrap(), 0);
    }
    assert!(!job_rerun(&pool, queued).await, "a queued job is never marked");
    let per_account: Vec<(String, i64)> = sqlx::query_as(
        "SELECT payload->>'accountId', count(*) FROM jobs WHERE kind = 'sync' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected = vec![(a.clone(), 1), (b.clone(), 1)];
    expected.sort();
    // One job per account, done or not: the duplicates were never queued.
    assert_eq!(per_account, expected);
}

#[sqlx::test]
async fn a_webhook_triggered_sync_runs_on_the_sync_lane(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = s.link_new_account(40).await;
    let receipt = &s
        .app
        .deliver_webhook(&account_updated(&account, "evt_lane_1"))
        .await;
    assert_eq!(receipt.outcome, "queued");
    let job: (String, Value) = wait_for("the sync job to finish", Duration::from_secs(20), || async {
        sqlx::query_as::<_, (String, Value)>(
            "SELECT status, progress FROM jobs WHERE kind = 'sync' AND payload->>'accountId' = $1",
        )
        .bind(&account)
        .fetch_optional(&pool)
        .await
        .unwrap()
        .filter(|(status, _)| status == "done")
    })
    .await;
    assert_eq!(job.1["fetched"], 40, "{}", job.1);
    let synced: AccountView = s.app.get(&format!("/si/mono/accounts/{account}")).await;
    assert!(synced.last_synced_at.is_some(), "{synced:?}");
    assert!(synced.last_sync_error.is_none(), "{synced:?}");
    assert!(synced.next_sync_at.is_none(), "{synced:?}");
    assert_eq!(count(&pool, "mono_transactions").await, 40);
}

#[sqlx::test]
async fn the_sweep_queues_due_accounts_in_one_statement_and_skips_backed_off_ones(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    let due = s.link_new_account(10).await;
    let backed_off = s.link_new_account(10).await;
    let unlinked = s.link_new_account(10).await;
    let failed = s.link_new_account(10).await;
    sqlx::query("UPDATE mono_accounts SET next_sync_at = now() + interval '10 minutes' WHERE id = $1")
        .bind(&backed_off)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE mono_accounts SET unlinked_at = now() WHERE id = $1")
        .bind(&unlinked)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE mono_accounts SET data_status = 'FAILED' WHERE id = $1")
        .bind(&failed)
        .execute(&pool)
        .await
        .unwrap();

    let state = side_state(TestApp::builder(pool.clone())).await;
    // Two sweeps at once (two replicas): the due account is queued once.
    let (x, y) = tokio::join!(sweep::run_once(&state), sweep::run_once(&state));
    assert_eq!(x.unwrap() + y.unwrap(), 1);
    let queued: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'accountId' FROM jobs WHERE kind = 'sync' AND status = 'queued'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(queued, vec![due.clone()]);

    // Once its backoff has passed, the backed-off account is due again.
    sqlx::query("UPDATE mono_accounts SET next_sync_at = now() - interval '1 second' WHERE id = $1")
        .bind(&backed_off)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(sweep::run_once(&state).await.unwrap(), 1);
    assert_eq!(unfinished_syncs(&pool).await, 2);
}

#[sqlx::test]
async fn a_processing_account_is_refreshed_by_the_sweep_and_synced_once_available(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .sync_interval(Duration::from_secs(1))
        .with_sandbox()
        .start()
        .await;
    let made = create_account(
        &s.sandbox,
        json!({"transactions": 25, "data_status": "PROCESSING"}),
    )
    .await;
    let linked: AccountView = s
        .app
        .post("/si/mono/exchange", json!({"code": made["code"]}))
        .await;
    let account = linked.id;
    assert_eq!(linked.data_status.as_deref(), Some("PROCESSING"));
    // An API sync refuses it; the sweep asks Mono again and finds it still processing.
    let (status, body) = s
        .app
        .post_raw("/si/mono/sync", json!({"accountId": account}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("data_not_ready"))
    );
    wait_for(
        "a sweep to look at Mono again",
        Duration::from_secs(20),
        || async {
            count(
                &pool,
                "jobs WHERE kind = 'sync' AND status = 'done'
                 AND progress->>'skipped' = 'data_not_ready' AND progress->>'dataStatus' = 'PROCESSING'",
            )
            .await
                >= 1
        },
    )
    .await;
    assert_eq!(count(&pool, "mono_transactions").await, 0);

    // Mono finishes: the next sweep refreshes the account and syncs it.
    let (status, _) = control(
        &s.sandbox,
        reqwest::Method::POST,
        &format!("/_sandbox/accounts/{account}/status"),
        Some(json!({"data_status": "AVAILABLE"})),
    )
    .await;
    assert_eq!(status, 200);
    wait_for("the account synced", Duration::from_secs(20), || async {
        count(&pool, "mono_transactions").await == 25
    })
    .await;
    let synced: AccountView = s.app.get(&format!("/si/mono/accounts/{account}")).await;
    assert_eq!(synced.data_status.as_deref(), Some("AVAILABLE"), "{synced:?}");
    assert!(synced.last_synced_at.is_some(), "{synced:?}");
}

#[sqlx::test]
async fn a_failing_account_backs_off_with_its_error_shown_while_the_others_finish(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let healthy = [s.link_new_account(30).await, s.link_new_account(30).await];
    let failing = s.link_new_account(30).await;
    let fault = install_fault(
        &s.sandbox,
        json!({"endpoint": "transactions", "account": failing, "status": 500}),
    )
    .await;
    let state = side_state(TestApp::builder(pool.clone())).await;
    assert_eq!(sweep::run_once(&state).await.unwrap(), 3);

    let account = wait_for("the failure recorded", Duration::from_secs(30), || async {
        let account: AccountView = s.app.get(&format!("/si/mono/accounts/{failing}")).await;
        Some(account).filter(|a| a.last_sync_error.is_some())
    })
    .await;
    let next: DateTime<Utc> = account.next_sync_at.expect("a backoff");
    assert!(next > Utc::now(), "{account:?}");
    assert!(
        account.last_sync_error.as_deref().unwrap().contains("Mono"),
        "{account:?}"
    );
    wait_for("the healthy accounts synced", Duration::from_secs(30), || async {
        count(&pool, "mono_transactions").await == 60
    })
    .await;
    for id in &healthy {
        let account: AccountView = s.app.get(&format!("/si/mono/accounts/{id}")).await;
        assert!(account.last_synced_at.is_some(), "{account:?}");
        assert!(account.last_sync_error.is_none(), "{account:?}");
    }
    // The failing account's job waits for the backoff, with an attempt used; the sweep leaves
    // the account alone meanwhile.
    let (status, attempts, run_after): (String, i32, DateTime<Utc>) =
        sqlx::query_as("SELECT status, attempts, run_after FROM jobs WHERE payload->>'accountId' = $1")
            .bind(&failing)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 1));
    assert!((run_after - next).num_seconds().abs() <= 1, "{run_after} {next}");
    assert_eq!(sweep::run_once(&state).await.unwrap(), 2);

    // Mono recovers and the backoff ends: the account syncs and its error is cleared.
    let (status, _) = control(
        &s.sandbox,
        reqwest::Method::DELETE,
        &format!("/_sandbox/faults/{}", fault["id"]),
        None,
    )
    .await;
    assert_eq!(status, 200);
    sqlx::query("UPDATE jobs SET run_after = now() WHERE payload->>'accountId' = $1 AND status = 'queued'")
        .bind(&failing)
        .execute(&pool)
        .await
        .unwrap();
    // Waits on the error clearing, not on `lastSyncedAt`: an earlier sync of the account may
    // have set it already (seen under load), and only a success clears the error.
    let account = wait_for(
        "the account synced after its backoff, its error cleared",
        Duration::from_secs(30),
        || async {
            let account: AccountView = s.app.get(&format!("/si/mono/accounts/{failing}")).await;
            Some(account).filter(|a| a.last_sync_error.is_none())
        },
    )
    .await;
    assert!(account.last_synced_at.is_some(), "{account:?}");
    assert!(account.next_sync_at.is_none(), "{account:?}");
    wait_for("every transaction stored", Duration::from_secs(30), || async {
        count(&pool, "mono_transactions").await == 90
    })
    .await;
}

#[sqlx::test]
async fn a_replica_killed_mid_round_has_its_syncs_taken_over(pool: PgPool) {
    const ACCOUNTS: usize = 6;
    const PER_ACCOUNT: i64 = 300;
    // Neither the app nor the replicas below run a worker of their own making.
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    for _ in 0..ACCOUNTS {
        s.link_new_account(PER_ACCOUNT as usize).await;
    }
    // Three pages per account, each slow: a sync is mid-way for a while.
    install_fault(&s.sandbox, json!({"endpoint": "transactions", "latency_ms": 300})).await;
    // Replicas by hand: built on the app's settings (its sandbox, no worker of their own),
    // three syncs at once each.
    let replica = || s.replica().sync_concurrency(3);
    let a = side_state(replica()).await;
    assert_eq!(sweep::run_once(&a).await.unwrap(), ACCOUNTS as u64);

    // Replica A, with a short lease, claims three syncs and dies half way through them.
    let a_worker = tokio::spawn(worker::run_with(a, Duration::from_secs(2)));
    wait_for("replica A mid-round", Duration::from_secs(30), || async {
        count(&pool, "jobs WHERE kind = 'sync' AND status = 'running'").await == 3
            && count(&pool, "mono_transactions").await > 0
    })
    .await;
    a_worker.abort();
    let _ = a_worker.await;
    let decided_at_kill = count(&pool, "mono_transactions").await;
    assert!(decided_at_kill < ACCOUNTS as i64 * PER_ACCOUNT);

    // Replica B takes the dead replica's jobs once their lease has run out, and the rest.
    let b = side_state(replica()).await;
    let b_worker = tokio::spawn(worker::run(b));
    wait_for("every sync done", Duration::from_secs(60), || async {
        count(&pool, "jobs WHERE kind = 'sync' AND status = 'done'").await == ACCOUNTS as i64
    })
    .await;
    b_worker.abort();
    let taken_over = count(&pool, "jobs WHERE kind = 'sync' AND attempts >= 2").await;
    assert!(taken_over >= 1, "the killed replica's jobs ran again");
    assert_eq!(
        count(&pool, "mono_transactions").await,
        ACCOUNTS as i64 * PER_ACCOUNT,
        "every transaction decided once"
    );
    assert_eq!(duplicate_drafts(&pool).await, 0, "no transaction drafted twice");
    assert_eq!(
        count(&pool, "eligibility_events WHERE account_id IS NOT NULL").await,
        ACCOUNTS as i64 * PER_ACCOUNT,
        "one decision event per transaction"
    );
}

#[sqlx::test]
async fn claims_take_turns_between_organizations(pool: PgPool) {
    let big = tenants::create_tenant(&pool, "Big Org").await.unwrap();
    let small = tenants::create_tenant(&pool, "Small Org").await.unwrap();
    let env_of = |t: &tenants::CreatedTenant| t.environments.iter().find(|e| e.name == "sandbox").unwrap().id;
    for i in 0..40 {
        sqlx::query(
            "INSERT INTO mono_accounts (id, org_id, env_id, data_status) VALUES ($1, $2, $3, 'AVAILABLE')",
        )
        .bind(format!("acc_big_{i:02}"))
        .bind(big.org_id)
        .bind(env_of(&big))
        .execute(&pool)
        .await
        .unwrap();
    }
    let state = side_state(TestApp::builder(pool.clone())).await;
    assert_eq!(sweep::run_once(&state).await.unwrap(), 40);
    // The small organization's only account is queued last, behind 40 of the big one's.
    sqlx::query(
        "INSERT INTO mono_accounts (id, org_id, env_id, data_status) VALUES ('acc_small', $1, $2, 'AVAILABLE')",
    )
    .bind(small.org_id)
    .bind(env_of(&small))
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(sweep::run_once(&state).await.unwrap(), 1);

    let first = job_queue::claim(&state.db, job_queue::Lane::Sync, 4, LEASE.as_secs_f64())
        .await
        .unwrap();
    let orgs: Vec<_> = first.iter().map(|j| j.org_id.unwrap()).collect();
    assert_eq!(orgs.len(), 4);
    assert!(
        orgs.contains(&small.org_id),
        "the small organization waits no turn"
    );
    assert_eq!(orgs.iter().filter(|o| **o == big.org_id).count(), 3);
    // The general lane never takes a sync job.
    let general = job_queue::claim(&state.db, job_queue::Lane::General, 10, LEASE.as_secs_f64())
        .await
        .unwrap();
    assert!(general.is_empty());
    let rest = job_queue::claim(&state.db, job_queue::Lane::Sync, 100, LEASE.as_secs_f64())
        .await
        .unwrap();
    assert_eq!(rest.len(), 37);
}

#[sqlx::test]
async fn webhooks_are_processed_while_the_sync_lane_is_full(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .sync_concurrency(2)
        .job_concurrency(2)
        .with_sandbox()
        .start()
        .await;
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(s.link_new_account(300).await);
    }
    // Slow pages (under the client's timeout): each sync takes seconds.
    install_fault(
        &s.sandbox,
        json!({"endpoint": "transactions", "latency_ms": 2000}),
    )
    .await;
    let state = side_state(TestApp::builder(pool.clone())).await;
    assert_eq!(sweep::run_once(&state).await.unwrap(), 4);
    wait_for("the sync lane full", Duration::from_secs(20), || async {
        count(&pool, "jobs WHERE kind = 'sync' AND status = 'running'").await == 2
    })
    .await;

    let receipt = s
        .app
        .deliver_webhook(&json!({
            "event": "transaction.updated",
            "event_id": "evt_lane_full",
            "data": {"account": accounts[0], "transaction": {
                "id": "tx_lane_full", "type": "credit", "amount": 900_000, "currency": "NGN",
                "date": "2026-01-05T10:00:00.000Z",
                "narration": "NIP/ZENITH/ACME LTD/Payment for invoice LANE-1"}}
        }))
        .await;
    assert_eq!(receipt.outcome, "queued");
    let delivery = receipt.delivery_id;
    wait_for("the webhook processed", Duration::from_secs(20), || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM webhook_deliveries WHERE id = $1")
            .bind(delivery)
            .fetch_one(&pool)
            .await
            .unwrap()
            == "processed"
    })
    .await;
    // Processed while the syncs were still under way: it did not wait for the lane.
    assert!(unfinished_syncs(&pool).await >= 2);
    assert_eq!(
        count(&pool, "invoices WHERE transaction_id = 'tx_lane_full'").await,
        1
    );
}

#[sqlx::test]
async fn the_documented_account_object_shows_the_sync_backoff(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let (status, doc) = app.get_raw("/openapi.json").await;
    assert_eq!(status, 200);
    // The account object's schema: the one with lastSyncedAt among its properties.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let (name, account) = schemas
        .iter()
        .find(|(_, s)| s["properties"].get("lastSyncedAt").is_some())
        .expect("the account object is documented");
    for field in ["lastSyncError", "nextSyncAt", "data_status"] {
        assert!(
            account["properties"].get(field).is_some(),
            "{field} missing from {name}: {account}"
        );
    }
    let get = &doc["paths"]["/si/mono/accounts/{id}"]["get"]["responses"]["200"];
    assert!(get.to_string().contains(name.as_str()), "{get}");
}

// ----- a sync asked for while one runs is coalesced ------------------------------------------

#[sqlx::test]
async fn new_data_while_the_sync_runs_makes_it_go_round_once_more(pool: PgPool) {
    // No worker of the app's: the test holds the job running, as a worker mid-walk would.
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    let account = s.link_new_account(30).await;
    let state = side_state(s.replica()).await;
    let first = process_webhook(&s, &state, &account_updated(&account, "evt_run_1")).await;
    let job_id: Uuid = serde_json::from_value(first["syncJobId"].clone()).expect("a new sync job");
    let claimed = job_queue::claim(&state.db, job_queue::Lane::Sync, 1, LEASE.as_secs_f64())
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job_id]);

    // Its walk (here through the API, under the account's lock): the 30 transactions.
    assert_eq!(sync_to_end(&s.app, &account, 100, WhenBusy::Fail).await, 30);
    // Mono gets 5 more during the walk and says so: the delivery rides on the running job.
    s.control_post(
        &format!("/_sandbox/accounts/{account}/transactions"),
        json!({"count": 5}),
    )
    .await;
    let result = process_webhook(&s, &state, &new_data(&account, "evt_run_2")).await;
    assert_eq!(result["syncQueued"], true, "{result}");
    assert_eq!(
        result["syncJobId"],
        json!(job_id),
        "rode on the running job: {result}"
    );
    assert!(job_rerun(&pool, job_id).await, "the running job is marked");
    assert_eq!(unfinished_syncs(&pool).await, 1, "no second job");

    // The walk ends: its result is recorded, and the job is queued again at once.
    let recorded = job_queue::complete(&state.db, &claimed[0], &json!({"fetched": 30}))
        .await
        .unwrap();
    assert_eq!(recorded, Some(job_queue::Recorded::Rerun));
    let (status, attempts, _) = job_row(&pool, job_id).await;
    assert_eq!(
        (status.as_str(), attempts),
        ("queued", 0),
        "a new round, no attempt used"
    );

    // A worker runs it once more: what arrived during the first walk is stored.
    let worker = tokio::spawn(worker::run(state.clone()));
    let progress = job_done(&pool, job_id).await;
    worker.abort();
    let _ = worker.await;
    // The cursor re-reads its last day, so what it had stored comes back as `duplicate`.
    let new = progress["fetched"].as_u64().unwrap()
        - progress["skippedByReason"]["duplicate"].as_u64().unwrap_or(0);
    assert_eq!(new, 5, "the second round fetched the new ones: {progress}");
    assert_eq!(count(&pool, "mono_transactions").await, 35);
    assert!(!job_rerun(&pool, job_id).await);
    assert_eq!(count(&pool, "jobs WHERE kind = 'sync'").await, 1);
}

#[sqlx::test]
async fn a_sync_asked_for_while_queued_rides_on_the_queued_job_and_runs_once(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    let account = s.link_new_account(30).await;
    let state = side_state(s.replica()).await;
    let first = process_webhook(&s, &state, &account_updated(&account, "evt_q_1")).await;
    let second = process_webhook(&s, &state, &new_data(&account, "evt_q_2")).await;
    let job_id = first["syncJobId"].clone();
    assert!(job_id.is_string(), "{first}");
    assert_eq!(second["syncJobId"], job_id, "{second}");
    assert_eq!(second["syncQueued"], true, "{second}");
    assert_eq!(sweep::run_once(&state).await.unwrap(), 0);
    let job_id: Uuid = serde_json::from_value(job_id).unwrap();
    assert!(!job_rerun(&pool, job_id).await);

    // One run: one walk of the account's transactions (a rule with no effect counts them).
    let calls = install_fault(
        &s.sandbox,
        json!({"endpoint": "transactions", "account": account, "latency_ms": 0}),
    )
    .await;
    let worker = tokio::spawn(worker::run(state.clone()));
    let progress = job_done(&pool, job_id).await;
    worker.abort();
    let _ = worker.await;
    assert_eq!(progress["fetched"], 30, "{progress}");
    assert_eq!(fault_applied(&s.sandbox, &calls), 1, "one walk, one page");
    let (_, attempts, _) = job_row(&pool, job_id).await;
    assert_eq!(attempts, 1);
    assert_eq!(count(&pool, "jobs WHERE kind = 'sync'").await, 1);
}

/// Sessions of this test's database waiting on a row lock.
async fn waiting_on_a_lock(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A sync job for `key`, as `SyncJob` stores one, through the queue's enqueue.
fn sync_job(key: &str) -> job_queue::NewJob<'_> {
    job_queue::NewJob {
        spec: job_spec::<SyncJob>(),
        payload: json!({"accountId": "acc_race", "env": "sandbox", "trigger": "account_updated"}),
        org_id: None,
        env_id: None,
        dedupe_key: Some(key),
    }
}

#[sqlx::test]
async fn a_request_at_the_end_of_a_run_is_never_lost(pool: PgPool) {
    let state = side_state(TestApp::builder(pool.clone())).await;
    let key = "sync:race:acc_race";
    let asked = job_queue::enqueue(&state.db, sync_job(key)).await.unwrap();
    assert_eq!(asked.rode, job_queue::Rode::New);
    let claim = || async {
        let mut claimed = job_queue::claim(&state.db, job_queue::Lane::Sync, 1, LEASE.as_secs_f64())
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        claimed.remove(0)
    };
    let run = claim().await;

    // The walk has ended; a request marks the job (its transaction not yet committed) and
    // the worker's result write comes while the mark is held: the write waits for it, then
    // reads it, and the job goes round again.
    let mut marking = pool.begin().await.unwrap();
    let on = job_queue::enqueue(&mut *marking, sync_job(key)).await.unwrap();
    assert_eq!((on.id, on.rode), (asked.id, job_queue::Rode::Running));
    let db = state.db.clone();
    let finishing = {
        let run = run.clone();
        tokio::spawn(async move { job_queue::complete(&db, &run, &json!({"fetched": 1})).await })
    };
    wait_for(
        "the result write to wait for the mark",
        Duration::from_secs(10),
        || async { waiting_on_a_lock(&pool).await == 1 },
    )
    .await;
    marking.commit().await.unwrap();
    let recorded = finishing.await.unwrap().unwrap();
    assert_eq!(recorded, Some(job_queue::Recorded::Rerun));
    let (status, attempts, progress) = job_row(&pool, asked.id).await;
    assert_eq!((status.as_str(), attempts, progress), ("queued", 0, json!({})));
    assert!(!job_rerun(&pool, asked.id).await);

    // The other order: the result is written first (not yet committed) and the request comes
    // meanwhile. It waits, then finds the job done and queues a new one: not lost either.
    let run = claim().await;
    assert_eq!(run.id, asked.id);
    let mut finishing = pool.begin().await.unwrap();
    let recorded = job_queue::complete(&mut *finishing, &run, &json!({"fetched": 0}))
        .await
        .unwrap();
    assert_eq!(recorded, Some(job_queue::Recorded::Done));
    let db = state.db.clone();
    let asking = tokio::spawn(async move { job_queue::enqueue(&db, sync_job(key)).await });
    wait_for(
        "the request to wait for the result",
        Duration::from_secs(10),
        || async { waiting_on_a_lock(&pool).await == 1 },
    )
    .await;
    finishing.commit().await.unwrap();
    let rode = asking.await.unwrap().unwrap();
    assert_eq!(rode.rode, job_queue::Rode::New);
    assert_ne!(rode.id, asked.id);
    assert_eq!(job_row(&pool, asked.id).await.0, "done");
    assert_eq!(job_row(&pool, rode.id).await.0, "queued");

    // A marked run that fails for good is not failed: it starts a new round too.
    let run = claim().await;
    assert_eq!(run.id, rode.id);
    let on = job_queue::enqueue(&state.db, sync_job(key)).await.unwrap();
    assert_eq!((on.id, on.rode), (rode.id, job_queue::Rode::Running));
    let recorded = job_queue::fail(&state.db, &run, "Mono said no", None, true)
        .await
        .unwrap();
    assert_eq!(recorded, Some(job_queue::Recorded::Rerun));
    let (status, attempts, _) = job_row(&pool, rode.id).await;
    assert_eq!((status.as_str(), attempts), ("queued", 0));
}

#[sqlx::test]
async fn the_sweep_marks_a_running_sync_to_go_round_once_more(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    let running = s.link_new_account(10).await;
    let idle = s.link_new_account(10).await;
    let state = side_state(s.replica()).await;
    let first = process_webhook(&s, &state, &account_updated(&running, "evt_sweep_1")).await;
    let job_id: Uuid = serde_json::from_value(first["syncJobId"].clone()).unwrap();
    let claimed = job_queue::claim(&state.db, job_queue::Lane::Sync, 1, LEASE.as_secs_f64())
        .await
        .unwrap();
    assert_eq!(claimed[0].id, job_id);

    // The idle account is queued; the running one is marked, not queued twice.
    assert_eq!(sweep::run_once(&state).await.unwrap(), 1);
    assert!(job_rerun(&pool, job_id).await);
    assert_eq!(unfinished_syncs(&pool).await, 2);
    let queued: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'accountId' FROM jobs WHERE kind = 'sync' AND status = 'queued'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(queued, vec![idle]);
    // A second sweep changes nothing.
    assert_eq!(sweep::run_once(&state).await.unwrap(), 0);

    let recorded = job_queue::complete(&state.db, &claimed[0], &json!({}))
        .await
        .unwrap();
    assert_eq!(recorded, Some(job_queue::Recorded::Rerun));
    assert_eq!(job_row(&pool, job_id).await.0, "queued");
}
