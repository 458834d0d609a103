//! The job queue's storage (`jobs`): enqueue, claim with `FOR UPDATE SKIP LOCKED` under a
//! lease, renew the lease, finish, retry with backoff, and requeue jobs whose worker died.
//! Each job names its lane; the sync lane is claimed organization by organization in turn,
//! the general lane oldest due first. What a kind is lives in `jobs`; running them, in
//! `worker`.
//!
//! A claim hands the job a fresh `lease_id`; every later write names it, so a worker whose
//! lease ran out (and whose job another worker took) cannot finish or fail it any more.
//!
//! Asking for a job whose dedupe key names an unfinished one coalesces with it, in the
//! enqueue statement itself: a queued job is left as it is (it has not started, so it sees
//! whatever was asked for), a running one is marked (`rerun`). The statement that records the
//! end of a marked job's run queues it again at once instead of ending it, so a request that
//! arrives at any moment of a run, up to the write of its result, makes one more round.
//!
//! A bulk job (`bulk`) is one of its kind per environment while unfinished: the partial
//! unique index `jobs_one_bulk_per_env` decides it ([`insert_bulk`], [`BulkRunning`]). A job
//! may be a part of a bulk job (`parent_id`): a run records its end with the parent it was
//! claimed with ([`ClaimedJob::parent_id`]), and a part whose run ended lets go of its parent
//! in that same statement, so the worker counts it in the parent ([`lock_bulk_progress`],
//! [`set_bulk_progress`], with what the part added up in its [`tally`]) in the transaction
//! that records the end, exactly once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::tenancy::Tenant;

/// The queue's lanes, each claimed by a worker lane of its own with slots of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Webhook processing, bulk DLQ replay, … (`JOB_CONCURRENCY`), oldest due first.
    General,
    /// Account syncs (`MONO_SYNC_CONCURRENCY`), claimed organization by organization in turn.
    Sync,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::General => "general",
            Lane::Sync => "sync",
        }
    }
}

/// What a job kind stores with every job of its kind: its name, lane and attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSpec {
    pub kind: &'static str,
    pub lane: Lane,
    pub max_attempts: i32,
    /// One unfinished job of the kind per environment ([`insert_bulk`]).
    pub bulk: bool,
}

/// A job to add.
pub struct NewJob<'a> {
    pub spec: JobSpec,
    pub payload: Value,
    pub org_id: Option<Uuid>,
    pub env_id: Option<Uuid>,
    /// At most one queued or running job per key; None: no limit.
    pub dedupe_key: Option<&'a str>,
}

/// Which job a request rode on ([`enqueue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The job that does what was asked: new, or the unfinished one with the same key.
    pub id: Uuid,
    pub rode: Rode,
}

/// How a request joined the job it rode on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rode {
    /// A new job (no unfinished one had the key).
    New,
    /// The queued job with the key: it has not started, so it sees what was asked for.
    Queued,
    /// The running job with the key, now marked to go round once more when its run ends.
    Running,
}

/// Adds a job, or coalesces with the unfinished job of the same dedupe key: a queued one is
/// left as it is, a running one is marked to run again when it ends (`rerun`). One
/// statement, so it answers the job the request rode on whatever runs beside it.
pub async fn enqueue(db: impl PgExecutor<'_>, job: NewJob<'_>) -> Result<Enqueued, sqlx::Error> {
    debug_assert!(!job.spec.bulk, "{} is a bulk kind: insert_bulk", job.spec.kind);
    let new_id = Uuid::now_v7();
    let row = sqlx::query!(
        r#"INSERT INTO jobs (id, kind, lane, payload, org_id, env_id, dedupe_key, max_attempts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
           DO UPDATE SET rerun = jobs.rerun OR jobs.status = 'running'
           RETURNING id, status"#,
        new_id,
        job.spec.kind,
        job.spec.lane.as_str(),
        job.payload,
        job.org_id,
        job.env_id,
        job.dedupe_key,
        job.spec.max_attempts
    )
    .fetch_one(db)
    .await?;
    let rode = if row.id == new_id {
        Rode::New
    } else if row.status == "running" {
        Rode::Running
    } else {
        Rode::Queued
    };
    Ok(Enqueued { id: row.id, rode })
}

/// The environment's unfinished bulk job of the kind asked for: another is not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkRunning(pub Uuid);

/// Adds a bulk job (`spec.bulk`): at most one of its kind per environment is unfinished, so
/// while one is, none is added and the answer names it (race-free whichever replicas ask at
/// once: the partial unique index `jobs_one_bulk_per_env` decides). With `parts`, the job
/// is done by jobs that report to it (`parent_id`): it starts running with that progress and
/// no lease, so no worker claims it and no lease expires; the last part to report finishes
/// it ([`set_bulk_progress`]).
pub async fn insert_bulk(
    conn: &mut PgConnection,
    job: NewJob<'_>,
    parts: Option<&Value>,
) -> Result<Result<Uuid, BulkRunning>, sqlx::Error> {
    debug_assert!(job.spec.bulk, "{} is not a bulk kind", job.spec.kind);
    // The unfinished one may finish between the insert that found it and the look-up: then
    // the slot is free and the insert is tried again.
    for _ in 0..3 {
        let new_id = Uuid::now_v7();
        let added = sqlx::query_scalar!(
            r#"INSERT INTO jobs (id, kind, lane, payload, org_id, env_id, dedupe_key, max_attempts,
                                 bulk, status, progress)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true,
                       CASE WHEN $9::jsonb IS NULL THEN 'queued' ELSE 'running' END,
                       COALESCE($9, '{}'::jsonb))
               ON CONFLICT (env_id, kind) WHERE bulk AND status IN ('queued', 'running') DO NOTHING
               RETURNING id"#,
            new_id,
            job.spec.kind,
            job.spec.lane.as_str(),
            job.payload,
            job.org_id,
            job.env_id,
            job.dedupe_key,
            job.spec.max_attempts,
            parts
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = added {
            return Ok(Ok(id));
        }
        if let Some(running) = unfinished_bulk(&mut *conn, job.env_id, job.spec.kind).await? {
            return Ok(Err(BulkRunning(running)));
        }
    }
    Err(sqlx::Error::Protocol(format!(
        "the {} bulk job slot changed hands three times in a row",
        job.spec.kind
    )))
}

/// Fails the environment's bulk job of `kind` that is done by parts when it is unfinished
/// and no unfinished job names it any more: its parts all ended, some without being counted
/// (a replica of an earlier version, which knows no parents, finished them), so it would
/// hold the environment's slot for ever. A part names its parent until the transaction that
/// counts its end, so while one is uncounted and unfinished it still names it. Answers how
/// many it failed.
pub async fn fail_orphaned_bulk(
    db: impl PgExecutor<'_>,
    env_id: Option<Uuid>,
    kind: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs p SET status = 'failed', finished_at = now(), updated_at = now(),
                last_error = 'its parts ended without being counted (run by a replica of an earlier version)'
         WHERE p.env_id = $1 AND p.kind = $2 AND p.bulk AND p.status = 'running' AND p.lease_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM jobs c
                           WHERE c.parent_id = p.id AND c.status IN ('queued', 'running'))",
        env_id,
        kind
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The environment's unfinished (queued or running) bulk job of `kind`, if any.
pub async fn unfinished_bulk(
    db: impl PgExecutor<'_>,
    env_id: Option<Uuid>,
    kind: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM jobs WHERE env_id = $1 AND kind = $2 AND bulk AND status IN ('queued', 'running')",
        env_id,
        kind
    )
    .fetch_optional(db)
    .await
}

/// Queues a sync of every linked account of the tenant's environment as a part of the bulk
/// job `parent`, in one statement, and answers how many accounts it names. An account whose
/// sync is unfinished is joined, not queued twice: a queued job becomes the part (it has not
/// started, so it sees everything); a running one is marked to go round once more (`rerun`)
/// and its next run is the part (its current run started before the request). Either way
/// each account is counted once. The rows are what enqueueing `spec`'s job would store, as
/// [`enqueue_due_syncs`] writes them, with the trigger `sync_stored`; a joined job's tally
/// starts again from nothing.
pub async fn enqueue_env_syncs(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    spec: JobSpec,
    parent: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH asked AS (
               INSERT INTO jobs (id, kind, lane, payload, org_id, env_id, dedupe_key, max_attempts, parent_id)
               SELECT gen_random_uuid(), $1, $2,
                      jsonb_build_object('accountId', a.id, 'env', $3::text, 'trigger', 'sync_stored'),
                      a.org_id, a.env_id, 'sync:' || a.env_id || ':' || a.id, $4, $5
               FROM mono_accounts a
               WHERE a.env_id = $6 AND a.org_id = $7 AND a.unlinked_at IS NULL
               ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
               DO UPDATE SET parent_id = EXCLUDED.parent_id, tally = '{}',
                             rerun = jobs.rerun OR jobs.status = 'running',
                             updated_at = now()
               RETURNING 1 AS one
           )
           SELECT count(*) AS "count!" FROM asked"#,
        spec.kind,
        spec.lane.as_str(),
        tenant.env.as_str(),
        spec.max_attempts,
        parent,
        tenant.env_id,
        tenant.org_id
    )
    .fetch_one(db)
    .await
}

/// Adds `add`'s numeric members to the job's tally (what a part of a bulk job did so far),
/// in the caller's transaction: the part's own row, so parts running at once do not wait on
/// each other.
pub async fn add_to_tally(db: impl PgExecutor<'_>, id: Uuid, add: &Value) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE jobs SET tally = (
               SELECT COALESCE(jsonb_object_agg(key, total), '{}'::jsonb)
               FROM (SELECT key, sum(value::numeric) AS total
                     FROM (SELECT * FROM jsonb_each_text(jobs.tally)
                           UNION ALL SELECT * FROM jsonb_each_text($2)) members
                     GROUP BY key) sums)
           WHERE id = $1"#,
        id,
        add
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The job's tally ([`add_to_tally`]).
pub async fn tally(db: impl PgExecutor<'_>, id: Uuid) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar!("SELECT tally FROM jobs WHERE id = $1", id)
        .fetch_one(db)
        .await
}

/// The progress of the unfinished bulk job `id`, its row locked until the transaction ends
/// (parts reporting at once take turns); None when it is finished or gone.
pub async fn lock_bulk_progress(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT progress FROM jobs WHERE id = $1 AND bulk AND status = 'running' FOR NO KEY UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// Records a bulk job's progress, and with `finished` marks it done.
pub async fn set_bulk_progress(
    db: impl PgExecutor<'_>,
    id: Uuid,
    progress: &Value,
    finished: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE jobs SET progress = $2,
                status = CASE WHEN $3 THEN 'done' ELSE status END,
                finished_at = CASE WHEN $3 THEN now() ELSE finished_at END,
                updated_at = now()
         WHERE id = $1 AND status = 'running'",
        id,
        progress,
        finished
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A job taken by a worker.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub org_id: Option<Uuid>,
    pub env_id: Option<Uuid>,
    /// This run's number, from 1.
    pub attempt: i32,
    pub max_attempts: i32,
    pub lease_id: Uuid,
    /// What the job recorded so far (a resumable job continues from it).
    pub progress: Value,
    /// The bulk job this run is a part of, as the claim found it. A bulk job that joins the
    /// job while it runs marks it to go round once more (`rerun`) and is the next run's
    /// parent: this run started before it asked.
    pub parent_id: Option<Uuid>,
}

/// Takes up to `limit` due jobs of `lane`, skipping those another worker holds.
pub async fn claim(
    db: impl PgExecutor<'_>,
    lane: Lane,
    limit: i64,
    lease_secs: f64,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    match lane {
        Lane::General => claim_general(db, limit, lease_secs).await,
        Lane::Sync => claim_sync(db, limit, lease_secs).await,
    }
}

/// Takes up to `limit` due jobs of the general lane, oldest due first.
async fn claim_general(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_secs: f64,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    let lease_id = Uuid::new_v4();
    let rows = sqlx::query_as!(
        ClaimedRow,
        r#"UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_id = $2,
                  locked_until = now() + make_interval(secs => $3), rerun = false, updated_at = now()
           WHERE id IN (
               SELECT id FROM jobs WHERE status = 'queued' AND lane = 'general' AND run_after <= now()
               ORDER BY run_after LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, kind, payload, org_id, env_id, attempts, max_attempts, progress, parent_id"#,
        limit,
        lease_id,
        lease_secs
    )
    .fetch_all(db)
    .await?;
    claimed(rows, lease_id)
}

/// Takes up to `limit` due jobs of the sync lane, organization by organization in turn: each
/// organization's oldest due job first, then each one's second, and so on. An organization
/// with thousands of accounts queued gets one slot per turn like one with a single account.
async fn claim_sync(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_secs: f64,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    let lease_id = Uuid::new_v4();
    let rows = sqlx::query_as!(
        ClaimedRow,
        r#"WITH due AS (
               SELECT id, run_after,
                      row_number() OVER (PARTITION BY org_id ORDER BY run_after, id) AS turn
               FROM jobs WHERE status = 'queued' AND lane = 'sync' AND run_after <= now()
           ),
           picked AS (
               SELECT j.id FROM jobs j JOIN due ON due.id = j.id
               WHERE j.status = 'queued'
               ORDER BY due.turn, due.run_after, due.id
               LIMIT $1
               FOR UPDATE OF j SKIP LOCKED
           )
           UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_id = $2,
                  locked_until = now() + make_interval(secs => $3), rerun = false, updated_at = now()
           FROM picked WHERE jobs.id = picked.id
           RETURNING jobs.id AS "id!", jobs.kind AS "kind!", jobs.payload AS "payload!",
                     jobs.org_id, jobs.env_id, jobs.attempts AS "attempts!",
                     jobs.max_attempts AS "max_attempts!", jobs.progress AS "progress!",
                     jobs.parent_id"#,
        limit,
        lease_id,
        lease_secs
    )
    .fetch_all(db)
    .await?;
    claimed(rows, lease_id)
}

struct ClaimedRow {
    id: Uuid,
    kind: String,
    payload: Value,
    org_id: Option<Uuid>,
    env_id: Option<Uuid>,
    attempts: i32,
    max_attempts: i32,
    progress: Value,
    parent_id: Option<Uuid>,
}

fn claimed(rows: Vec<ClaimedRow>, lease_id: Uuid) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    rows.into_iter()
        .map(|r| {
            Ok(ClaimedJob {
                id: r.id,
                kind: r.kind,
                payload: r.payload,
                org_id: r.org_id,
                env_id: r.env_id,
                attempt: r.attempts,
                max_attempts: r.max_attempts,
                lease_id,
                progress: r.progress,
                parent_id: r.parent_id,
            })
        })
        .collect()
}

/// What a sweep did ([`enqueue_due_syncs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// New sync jobs.
    pub queued: u64,
    /// Running sync jobs marked to go round once more when they end.
    pub marked: u64,
}

/// Queues a sync of every linked account that is due, in one statement: not backed off
/// (`next_sync_at` past or unset), and with data that is, or may become, syncable (AVAILABLE,
/// PARTIAL, PROCESSING, or never fetched; the job refreshes the others from Mono first).
/// It coalesces as [`enqueue`] does: an account's queued sync is left as it is (and not
/// rewritten), a running one is marked to go round once more when it ends.
///
/// The rows are what enqueueing `spec`'s job for each account would store: the payload
/// `{accountId, env, trigger: "schedule"}` and the dedupe key `sync:{env_id}:{account}`
/// (`services::sync::job::SyncJob`, whose tests hold the two to the same shape).
pub async fn enqueue_due_syncs(db: impl PgExecutor<'_>, spec: JobSpec) -> Result<Swept, sqlx::Error> {
    // A row comes back for each job inserted (rerun false) or newly marked (rerun true);
    // queued jobs and running ones marked already are left untouched and come back not.
    let row = sqlx::query!(
        r#"WITH asked AS (
               INSERT INTO jobs (id, kind, lane, payload, org_id, env_id, dedupe_key, max_attempts)
               SELECT gen_random_uuid(), $1, $2,
                      jsonb_build_object('accountId', a.id, 'env', e.name, 'trigger', 'schedule'),
                      a.org_id, a.env_id, 'sync:' || a.env_id || ':' || a.id, $3
               FROM mono_accounts a JOIN environments e ON e.id = a.env_id
               WHERE a.unlinked_at IS NULL
                 AND (a.next_sync_at IS NULL OR a.next_sync_at <= now())
                 AND (a.data_status IS NULL OR a.data_status IN ('AVAILABLE', 'PARTIAL', 'PROCESSING'))
               ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
               DO UPDATE SET rerun = true WHERE jobs.status = 'running' AND NOT jobs.rerun
               RETURNING jobs.rerun
           )
           SELECT count(*) FILTER (WHERE NOT rerun) AS "queued!",
                  count(*) FILTER (WHERE rerun) AS "marked!"
           FROM asked"#,
        spec.kind,
        spec.lane.as_str(),
        spec.max_attempts
    )
    .fetch_one(db)
    .await?;
    Ok(Swept {
        queued: row.queued as u64,
        marked: row.marked as u64,
    })
}

/// Where recording the end of a run left its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Done,
    /// Queued again as the run asked: postponed, or retried after a failure. A mark
    /// (`rerun`) is cleared: the job runs again anyway and sees what was asked for.
    Queued,
    /// Failed for good.
    Failed,
    /// Asked for again while it ran (`rerun`): instead of ending (done, or failed for good)
    /// it is queued again at once for a new round, as a new job would be: no attempts used,
    /// no progress.
    Rerun,
}

/// The unfinished (queued or running) job holding `dedupe_key`, if any.
pub async fn unfinished(db: impl PgExecutor<'_>, dedupe_key: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM jobs WHERE dedupe_key = $1 AND status IN ('queued', 'running')",
        dedupe_key
    )
    .fetch_optional(db)
    .await
}

/// A queued job runs no sooner than `after_secs` from now (a job queued as a safety net for
/// work that may still finish on its own); a running job is left alone.
pub async fn defer(db: impl PgExecutor<'_>, id: Uuid, after_secs: f64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE jobs SET run_after = greatest(run_after, now() + make_interval(secs => $2)), updated_at = now()
         WHERE id = $1 AND status = 'queued'",
        id,
        after_secs
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Queues a claimed job again after `after_secs` without using up an attempt (it could not
/// run through no fault of its own); None when the lease is no longer ours.
pub async fn postpone(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    after_secs: f64,
    progress: &Value,
) -> Result<Option<Recorded>, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0),
                run_after = now() + make_interval(secs => $3), progress = $4, rerun = false,
                lease_id = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND lease_id = $2 AND status = 'running'",
        job.id,
        job.lease_id,
        after_secs,
        progress
    )
    .execute(db)
    .await?;
    Ok((done.rows_affected() == 1).then_some(Recorded::Queued))
}

/// Extends the lease of a running job; false when the lease is no longer ours.
pub async fn renew(db: impl PgExecutor<'_>, job: &ClaimedJob, lease_secs: f64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => $3), updated_at = now()
         WHERE id = $1 AND lease_id = $2 AND status = 'running'",
        job.id,
        job.lease_id,
        lease_secs
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a running job's progress; false when the lease is no longer ours.
pub async fn set_progress(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    progress: &Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET progress = $3, updated_at = now() WHERE id = $1 AND lease_id = $2 AND status = 'running'",
        job.id,
        job.lease_id,
        progress
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a job done with its final progress, or, when it was asked for again while it ran
/// (`rerun`), queues it again at once for a new round; None when the lease is no longer
/// ours. A part of a bulk job lets go of the parent it was claimed with (the worker counts
/// the run there in the same transaction). The mark is read by this UPDATE, under the row's lock: a request that marks the job
/// before it commits makes the new round, one that comes after finds it done (or queued)
/// and acts on that.
pub async fn complete(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    progress: &Value,
) -> Result<Option<Recorded>, sqlx::Error> {
    let status = sqlx::query_scalar!(
        "UPDATE jobs SET
            status = CASE WHEN rerun THEN 'queued' ELSE 'done' END,
            progress = CASE WHEN rerun THEN '{}'::jsonb ELSE $3 END,
            attempts = CASE WHEN rerun THEN 0 ELSE attempts END,
            run_after = CASE WHEN rerun THEN now() ELSE run_after END,
            finished_at = CASE WHEN rerun THEN NULL ELSE now() END,
            parent_id = CASE WHEN parent_id = $4 THEN NULL ELSE parent_id END,
            rerun = false, lease_id = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND lease_id = $2 AND status = 'running'
         RETURNING status",
        job.id,
        job.lease_id,
        progress,
        job.parent_id
    )
    .fetch_optional(db)
    .await?;
    Ok(status.map(|s| {
        if s == "queued" {
            Recorded::Rerun
        } else {
            Recorded::Done
        }
    }))
}

/// Queues a failed job again after `retry_in_secs`, or fails it for good when `retry_in_secs`
/// is None, unless it was asked for again while it ran (`rerun`): then it is queued again at
/// once for a new round (as [`complete`] does). None when the lease is no longer ours. A
/// part of a bulk job lets go of the parent it was claimed with, as in [`complete`], when
/// `ends_part` (the failure is its outcome there, whether or not the job is retried);
/// otherwise its next run is still the part.
pub async fn fail(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    error: &str,
    retry_in_secs: Option<f64>,
    ends_part: bool,
) -> Result<Option<Recorded>, sqlx::Error> {
    let status = sqlx::query_scalar!(
        "UPDATE jobs SET
            status = CASE WHEN $4::float8 IS NULL AND NOT rerun THEN 'failed' ELSE 'queued' END,
            run_after = now() + make_interval(secs => COALESCE($4, 0)),
            finished_at = CASE WHEN $4::float8 IS NULL AND NOT rerun THEN now() END,
            attempts = CASE WHEN $4::float8 IS NULL AND rerun THEN 0 ELSE attempts END,
            progress = CASE WHEN $4::float8 IS NULL AND rerun THEN '{}'::jsonb ELSE progress END,
            parent_id = CASE WHEN $6 AND parent_id = $5 THEN NULL ELSE parent_id END,
            rerun = false, last_error = $3, lease_id = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND lease_id = $2 AND status = 'running'
         RETURNING status",
        job.id,
        job.lease_id,
        error,
        retry_in_secs,
        job.parent_id,
        ends_part
    )
    .fetch_optional(db)
    .await?;
    Ok(status.map(|s| match (s.as_str(), retry_in_secs) {
        ("failed", _) => Recorded::Failed,
        (_, Some(_)) => Recorded::Queued,
        (_, None) => Recorded::Rerun,
    }))
}

/// A job whose lease ran out without being renewed: its worker stopped.
#[derive(Debug, Clone)]
pub struct ExpiredJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: Value,
    /// True when its lease ran out [`MAX_LEASE_EXPIRIES`] times and it is now failed; else it
    /// is queued again.
    pub failed: bool,
    /// The bulk job it is a part of: a failed one still names it, for the worker to count it
    /// there and let go ([`let_go_of_parent`]); a queued one keeps it for its next run.
    pub parent_id: Option<Uuid>,
}

/// Lease expiries after which a job is given up: a lease that runs out is not a
/// failed attempt (its worker may be alive, its renewal starved, or its replica killed by a
/// deploy), but a job whose process dies every time it runs must end. Replicas die for
/// reasons of their own far more often than a job kills them, so the bar is high, and each
/// expiry also waits longer before the next run ([`EXPIRY_BACKOFF_CAP_SECS`]): a job that
/// does kill its process cannot take the fleet down in a loop.
pub const MAX_LEASE_EXPIRIES: i32 = 10;

/// The longest wait before a job whose lease ran out runs again: 1 s after the first expiry,
/// doubling with each one, at most this.
pub const EXPIRY_BACKOFF_CAP_SECS: f64 = 60.0;

/// Requeues running jobs whose lease has expired, whatever their attempts (a run that lost
/// its lease records nothing, so its work is done again, or found done, by the next run),
/// each to run again after its expiry backoff; fails those that expired
/// [`MAX_LEASE_EXPIRIES`] times, unless they were asked for again while they ran: those start
/// a new round at once.
pub async fn requeue_expired(db: impl PgExecutor<'_>) -> Result<Vec<ExpiredJob>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"UPDATE jobs SET
               status = CASE WHEN lease_expiries + 1 >= $1 AND NOT rerun THEN 'failed' ELSE 'queued' END,
               finished_at = CASE WHEN lease_expiries + 1 >= $1 AND NOT rerun THEN now() END,
               lease_expiries = CASE WHEN rerun THEN 0 ELSE lease_expiries + 1 END,
               attempts = CASE WHEN attempts >= max_attempts AND rerun THEN 0 ELSE attempts END,
               progress = CASE WHEN attempts >= max_attempts AND rerun THEN '{}'::jsonb ELSE progress END,
               rerun = false, last_error = 'the worker running it stopped (lease expired)',
               run_after = CASE WHEN rerun THEN now()
                                ELSE now() + make_interval(secs => least(power(2, lease_expiries), $2))
                           END,
               lease_id = NULL, locked_until = NULL, updated_at = now()
           WHERE id IN (
               SELECT id FROM jobs WHERE status = 'running' AND locked_until < now()
               FOR UPDATE SKIP LOCKED)
           RETURNING id, kind, payload, status, parent_id"#,
        MAX_LEASE_EXPIRIES,
        EXPIRY_BACKOFF_CAP_SECS
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ExpiredJob {
                id: r.id,
                kind: r.kind,
                payload: r.payload,
                failed: r.status == "failed",
                parent_id: r.parent_id,
            })
        })
        .collect()
}

/// A finished job that was counted in its bulk job stops naming it.
pub async fn let_go_of_parent(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE jobs SET parent_id = NULL WHERE id = $1", id)
        .execute(db)
        .await?;
    Ok(())
}

/// A job of an environment, as its owner may read it.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub progress: Value,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A job of the tenant's environment.
pub async fn get(db: impl PgExecutor<'_>, tenant: &Tenant, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "SELECT id, kind, status, progress, attempts, last_error, created_at, finished_at
         FROM jobs WHERE id = $1 AND env_id = $2 AND org_id = $3",
        id,
        tenant.env_id,
        tenant.org_id
    )
    .fetch_optional(db)
    .await
}
