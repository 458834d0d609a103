//! `POST /si/mono/sync-stored`: a sync of every linked account of the environment queued on
//! the background job lanes as one bulk job made of the accounts' sync jobs, its progress
//! exact with several replicas and with a replica dying mid-round; and one bulk job of each
//! kind per environment at a time (sync-stored, the DLQ bulk replay, the bulk submission),
//! whichever replica is asked.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;
use taxpoynt_mono::services::sync::job as sync_job;
use taxpoynt_mono::tenancy::{EnvName, Tenant};

/// The job as `GET /si/mono/jobs/{id}` shows it.
async fn job(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/si/mono/jobs/{id}")).await
}

/// Waits for the job to be done; answers it.
async fn job_done(app: &TestApp, id: &str) -> Value {
    wait_for("the bulk job to be done", Duration::from_secs(60), || async {
        let v = job(app, id).await;
        (v["status"] == "done").then_some(v)
    })
    .await
}

/// `POST /si/mono/sync-stored` that must be accepted; answers `{jobId, accounts}`.
async fn sync_stored(app: &TestApp) -> (String, u64) {
    let (status, body) = app.post_raw("/si/mono/sync-stored", json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "successful", "{body}");
    let job_id = body["data"]["jobId"].as_str().expect("a jobId").to_owned();
    (job_id, body["data"]["accounts"].as_u64().expect("accounts"))
}

/// Of two answers to the same bulk request sent at once, one is 202 and the other 409
/// `job_running` naming the accepted job; answers that job's id.
fn one_accepted_one_refused(a: (u16, Value), b: (u16, Value)) -> String {
    let (accepted, refused) = match (a.0, b.0) {
        (202, 409) => (a.1, b.1),
        (409, 202) => (b.1, a.1),
        _ => panic!("one 202 and one 409 expected: {a:?} {b:?}"),
    };
    assert_eq!(assert_failure(&refused), "job_running");
    let job_id = accepted["data"]["jobId"].as_str().unwrap().to_owned();
    assert_eq!(refused["error"]["jobId"], job_id, "{refused}");
    job_id
}

/// The progress of a finished sync-stored, checked against the database: every account
/// counted once, every transaction stored counted once (drafted or skipped), every draft
/// counted. Answers the progress.
async fn exact_progress(pool: &PgPool, done: &Value, total: u64, transactions: u64) -> Value {
    let p = done["progress"].clone();
    assert_eq!(done["kind"], "sync_stored", "{done}");
    assert!(done["finishedAt"].is_string(), "{done}");
    assert_eq!(p["total"], total, "{p}");
    assert_eq!(
        p["done"].as_u64().unwrap() + p["failed"].as_u64().unwrap(),
        total,
        "{p}"
    );
    let drafted = p["drafted"].as_u64().unwrap();
    assert_eq!(
        drafted + p["skipped"].as_u64().unwrap(),
        transactions,
        "every transaction fetched counted once: {p}"
    );
    assert_eq!(
        drafted as i64,
        count(pool, "invoices").await,
        "every draft counted once: {p}"
    );
    assert_eq!(count(pool, "mono_transactions").await, transactions as i64);
    assert_eq!(duplicate_drafts(pool).await, 0);
    assert_eq!(
        count(pool, "jobs WHERE parent_id IS NOT NULL").await,
        0,
        "every part let go of the bulk job"
    );
    p
}

#[sqlx::test]
async fn sync_stored_queues_every_linked_account_and_counts_each_once(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let mut linked = Vec::new();
    for n in [30, 45, 60] {
        linked.push(s.link_new_account(n).await);
    }
    let unlinked = s.link_new_account(20).await;
    let (status, body) = s
        .app
        .post_raw(&format!("/si/mono/accounts/{unlinked}/unlink"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    let (job_id, accounts) = sync_stored(&s.app).await;
    assert_eq!(accounts, 3, "the unlinked account is not queued");
    let done = job_done(&s.app, &job_id).await;
    let p = exact_progress(&pool, &done, 3, 135).await;
    assert_eq!(p["done"], 3, "{p}");
    assert_eq!(p["errors"], json!([]), "{p}");
    assert!(p["drafted"].as_u64().unwrap() > 0, "{p}");
    // One sync job per linked account, asked for by sync-stored and run; none for the
    // unlinked one.
    for account in &linked {
        let (trigger, status): (String, String) = sqlx::query_as(
            "SELECT payload->>'trigger', status FROM jobs WHERE kind = 'sync' AND payload->>'accountId' = $1",
        )
        .bind(account)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((trigger.as_str(), status.as_str()), ("sync_stored", "done"));
    }
    assert_eq!(
        count(&pool, &format!("jobs WHERE payload->>'accountId' = '{unlinked}'")).await,
        0
    );

    // Done: another is accepted (the body may be left out); nothing new to fetch.
    let fetched_metric = || metric_of(&s.app, "sync_transactions_total", &[r#"outcome="fetched""#]);
    let held_metric = || metric_of(&s.app, "sync_pages_total", &[r#"outcome="held""#]);
    let (fetched_before, held_before) = (fetched_metric().await, held_metric().await);
    let (status, body) = s
        .app
        .call(
            reqwest::Method::POST,
            "/si/mono/sync-stored?env=sandbox",
            Some(s.app.key()),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let again = body["data"]["jobId"].as_str().unwrap().to_owned();
    assert_ne!(again, job_id);
    let p = job_done(&s.app, &again).await["progress"].clone();
    // A new sync re-reads the last day of its window: seen before, skipped as duplicates.
    assert_eq!(
        (&p["total"], &p["done"], &p["drafted"]),
        (&json!(3), &json!(3), &json!(0)),
        "{p}"
    );
    assert_eq!(count(&pool, "mono_transactions").await, 135);
    // Pages of transactions held unchanged are not written, yet every one re-read is counted.
    let fetched = fetched_metric().await - fetched_before;
    assert!(fetched > 0.0, "{p}");
    assert_eq!(p["skipped"].as_f64(), Some(fetched), "{p}");
    assert!(held_metric().await > held_before, "the re-read pages were held");
    // The contract's body is `{}` plus the environment: no page size any more.
    let (status, body) = s
        .app
        .post_raw("/si/mono/sync-stored", json!({"pageSize": 10}))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[sqlx::test]
async fn an_account_whose_sync_fails_is_listed_with_its_code(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let healthy = s.link_new_account(25).await;
    let gone = s.link_new_account(25).await;
    // Mono forgets one account (unlinked elsewhere): its transactions answer 404.
    client(&s.sandbox).unlink(&gone).await.unwrap();

    let (job_id, accounts) = sync_stored(&s.app).await;
    assert_eq!(accounts, 2);
    let done = job_done(&s.app, &job_id).await;
    let p = exact_progress(&pool, &done, 2, 25).await;
    assert_eq!((&p["done"], &p["failed"]), (&json!(1), &json!(1)), "{p}");
    assert_eq!(
        p["errors"],
        json!([{"accountId": gone, "code": "mono_error"}]),
        "{p}"
    );
    // The failed account's job retries on the account's backoff, outside the bulk job.
    let (status, parent): (String, Option<Uuid>) = sqlx::query_as(
        "SELECT status, parent_id FROM jobs WHERE kind = 'sync' AND payload->>'accountId' = $1",
    )
    .bind(&gone)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), parent), ("queued", None));
    let account: AccountView = s.app.get(&format!("/si/mono/accounts/{healthy}")).await;
    assert!(account.last_synced_at.is_some(), "{account:?}");
}

#[sqlx::test]
async fn a_second_sync_stored_while_one_runs_is_409_naming_it_on_any_replica(pool: PgPool) {
    // No worker: the first bulk job stays unfinished until one starts below.
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    for _ in 0..3 {
        s.link_new_account(20).await;
    }
    let other = s.replica().start().await;
    // Asked of both replicas at once: exactly one is accepted.
    let (a, b) = tokio::join!(
        s.app.post_raw("/si/mono/sync-stored", json!({})),
        other.post_raw("/si/mono/sync-stored", json!({}))
    );
    let first = one_accepted_one_refused(a, b);
    let running = job(&s.app, &first).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["progress"]["total"], 3, "{running}");
    assert_eq!(running["progress"]["done"], 0, "{running}");
    // Another environment of the organization has a slot of its own.
    let (status, body) = s
        .app
        .post_raw("/si/mono/sync-stored?env=production", json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["accounts"], 0);
    let empty = body["data"]["jobId"].as_str().unwrap().to_owned();
    let v: Value = s.app.get(&format!("/si/mono/jobs/{empty}?env=production")).await;
    assert_eq!(v["status"], "done", "nothing to wait for: {v}");

    // A worker finishes the first; then the next is accepted.
    let _worker = s.replica().job_concurrency(2).start().await;
    let done = job_done(&s.app, &first).await;
    exact_progress(&pool, &done, 3, 60).await;
    let (next, accounts) = sync_stored(&s.app).await;
    assert_ne!(next, first);
    assert_eq!(accounts, 3);
    job_done(&s.app, &next).await;
}

#[sqlx::test]
async fn a_sync_stored_whose_parts_ended_uncounted_does_not_hold_the_slot(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    for _ in 0..2 {
        s.link_new_account(5).await;
    }
    let (first, _) = sync_stored(&s.app).await;
    // A replica of an earlier version, which knows no parents, finishes the parts without
    // counting them.
    let ended =
        sqlx::query("UPDATE jobs SET status = 'done', finished_at = now() WHERE parent_id = $1::uuid")
            .bind(&first)
            .execute(&pool)
            .await
            .unwrap();
    assert_eq!(ended.rows_affected(), 2);
    let (next, accounts) = sync_stored(&s.app).await;
    assert_ne!(next, first);
    assert_eq!(accounts, 2);
    let orphan = job(&s.app, &first).await;
    assert_eq!(orphan["status"], "failed", "{orphan}");
    assert!(
        orphan["error"]
            .as_str()
            .unwrap()
            .contains("without being counted"),
        "{orphan}"
    );
}

#[sqlx::test]
async fn one_bulk_replay_per_environment_at_a_time(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).job_concurrency(0).start().await;
    let other = s.replica().start().await;
    let (a, b) = tokio::join!(
        s.post_raw("/si/mono/dlq/replay", json!({})),
        other.post_raw(
            "/si/mono/dlq/replay",
            json!({"reason": "personal_or_low_confidence"})
        )
    );
    let first = one_accepted_one_refused(a, b);
    let (status, body) = s.post_raw("/si/mono/dlq/replay", json!({})).await;
    assert_eq!((status, assert_failure(&body)), (409, "job_running".into()));
    assert_eq!(body["error"]["jobId"], first);
    // Another environment has a slot of its own.
    let (status, body) = s.post_raw("/si/mono/dlq/replay?env=production", json!({})).await;
    assert_eq!(status, 202, "{body}");

    let _worker = s.replica().job_concurrency(2).start().await;
    job_done(&s, &first).await;
    let (status, body) = s.post_raw("/si/mono/dlq/replay", json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_ne!(body["data"]["jobId"], first);
    assert_eq!(body["data"]["taken"], 0);
}

#[sqlx::test]
async fn one_bulk_submission_per_environment_at_a_time(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await
        .e_invoicing()
        .await;
    let other = s.replica().start().await;
    let validated = json!({"status": "VALIDATED"});
    let (a, b) = tokio::join!(
        s.app.post_raw("/si/invoices/sign", validated.clone()),
        other.post_raw("/si/invoices/sign", validated.clone())
    );
    let first = one_accepted_one_refused(a, b);

    let _worker = s.replica().job_concurrency(2).start().await;
    job_done(&s.app, &first).await;
    let (status, body) = s.app.post_raw("/si/invoices/sign", validated).await;
    assert_eq!(status, 202, "{body}");
    assert_ne!(body["data"]["jobId"], first);
}

#[sqlx::test]
async fn a_sync_already_queued_is_joined_and_a_running_one_counted_on_its_next_round(pool: PgPool) {
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    let running = s.link_new_account(10).await;
    let queued = s.link_new_account(12).await;
    let state = s.replica().application().await.state().clone();
    let env_id = s.app.env_id("sandbox").parse().unwrap();
    let tenant = Tenant::system(s.app.tenant.org_id, env_id, EnvName::Sandbox);
    // Both accounts' syncs asked for before; one of them is taken by a worker (running).
    let mut conn = pool.acquire().await.unwrap();
    let run_job = sync_job::enqueue(&mut conn, &tenant, &running, "account_updated")
        .await
        .unwrap()
        .id;
    let claimed = job_queue::claim(&pool, job_queue::Lane::Sync, 1, LEASE.as_secs_f64())
        .await
        .unwrap();
    assert_eq!(claimed[0].id, run_job);
    assert_eq!(claimed[0].parent_id, None);
    let queued_job = sync_job::enqueue(&mut conn, &tenant, &queued, "account_updated")
        .await
        .unwrap()
        .id;
    drop(conn);

    let (job_id, accounts) = sync_stored(&s.app).await;
    assert_eq!(accounts, 2, "each account once");
    assert_eq!(
        count(&pool, "jobs WHERE kind = 'sync'").await,
        2,
        "no sync queued twice"
    );
    let parent: Uuid = job_id.parse().unwrap();
    let row = |id: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, bool, Option<Uuid>)>(
                "SELECT status, rerun, parent_id FROM jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(row(queued_job).await, ("queued".into(), false, Some(parent)));
    assert_eq!(row(run_job).await, ("running".into(), true, Some(parent)));

    // The run that started before the request ends: not counted, and the job goes round
    // once more as the bulk job's part.
    let recorded = job_queue::complete(&pool, &claimed[0], &json!({"drafted": 0, "skipped": 0}))
        .await
        .unwrap();
    assert_eq!(recorded, Some(job_queue::Recorded::Rerun));
    assert_eq!(row(run_job).await, ("queued".into(), false, Some(parent)));
    assert_eq!(job(&s.app, &job_id).await["progress"]["done"], 0);

    let worker = tokio::spawn(worker::run(state));
    let done = job_done(&s.app, &job_id).await;
    worker.abort();
    let _ = worker.await;
    let p = exact_progress(&pool, &done, 2, 22).await;
    assert_eq!(p["done"], 2, "{p}");
}

#[sqlx::test]
async fn two_replicas_share_a_sync_stored_with_exact_totals(pool: PgPool) {
    const ACCOUNTS: usize = 10;
    const PER_ACCOUNT: usize = 150;
    let s = TestApp::builder(pool.clone())
        .sync_concurrency(2)
        .with_sandbox()
        .start()
        .await;
    let other = s.replica().start().await;
    for _ in 0..ACCOUNTS {
        s.link_new_account(PER_ACCOUNT).await;
    }
    // Two pages per account, each a little slow: both replicas' lanes fill.
    install_fault(&s.sandbox, json!({"endpoint": "transactions", "latency_ms": 50})).await;
    let (job_id, accounts) = sync_stored(&other).await;
    assert_eq!(accounts, ACCOUNTS as u64);
    let done = job_done(&s.app, &job_id).await;
    let p = exact_progress(&pool, &done, ACCOUNTS as u64, (ACCOUNTS * PER_ACCOUNT) as u64).await;
    assert_eq!(p["done"], ACCOUNTS, "{p}");
}

#[sqlx::test]
async fn a_replica_killed_mid_sync_stored_is_taken_over_with_exact_totals(pool: PgPool) {
    const ACCOUNTS: usize = 6;
    const PER_ACCOUNT: usize = 300;
    // No worker of the app's own: the replicas below run theirs by hand.
    let s = TestApp::builder(pool.clone())
        .job_concurrency(0)
        .with_sandbox()
        .start()
        .await;
    for _ in 0..ACCOUNTS {
        s.link_new_account(PER_ACCOUNT).await;
    }
    // Three pages per account, each slow: a sync is mid-way for a while.
    install_fault(&s.sandbox, json!({"endpoint": "transactions", "latency_ms": 300})).await;
    let (job_id, _) = sync_stored(&s.app).await;
    let replica = || s.replica().sync_concurrency(3);

    // Replica A, with a short lease, takes three syncs and dies half way through them.
    let a = replica().application().await.state().clone();
    let a_worker = tokio::spawn(worker::run_with(a, Duration::from_secs(2)));
    // Mid-round: syncs running that have written pages, counted in their parts' tallies,
    // which a part carries to the bulk job when it ends, whoever ends it.
    let tallied = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(sum((tally->>'drafted')::bigint + (tally->>'skipped')::bigint), 0)::bigint
             FROM jobs WHERE kind = 'sync' AND status = 'running'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    wait_for("replica A mid-round", Duration::from_secs(30), || async {
        count(&pool, "jobs WHERE kind = 'sync' AND status = 'running'").await == 3 && tallied().await > 0
    })
    .await;
    a_worker.abort();
    let _ = a_worker.await;

    // Replica B takes the dead replica's jobs once their lease has run out, and the rest.
    let b = replica().application().await.state().clone();
    let b_worker = tokio::spawn(worker::run(b));
    let done = job_done(&s.app, &job_id).await;
    b_worker.abort();
    let _ = b_worker.await;
    assert!(
        count(&pool, "jobs WHERE kind = 'sync' AND attempts >= 2").await >= 1,
        "the killed replica's jobs ran again"
    );
    let p = exact_progress(&pool, &done, ACCOUNTS as u64, (ACCOUNTS * PER_ACCOUNT) as u64).await;
    assert_eq!((&p["done"], &p["failed"]), (&json!(ACCOUNTS), &json!(0)), "{p}");
}
