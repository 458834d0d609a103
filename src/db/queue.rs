//! The job queue's storage (`jobs`): enqueue, claim with `FOR UPDATE SKIP LOCKED` under a
//! lease, renew the lease, finish, retry with backoff, and requeue jobs whose worker died.
//! Each job names its lane; the sync lane is claimed organization by organization in turn,
//! the general lane oldest due first. What a kind is lives in `jobs`; running them, in
//! `worker`.
//!
//! A claim hands the job a fresh `lease_id`; every later write names it, so a worker whose
//! lease ran out (and whose job another worker took) cannot finish or fail it any more.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
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

/// Adds a job; None when an unfinished job with the same dedupe key exists.
pub async fn enqueue(db: impl PgExecutor<'_>, job: NewJob<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO jobs (id, kind, lane, payload, org_id, env_id, dedupe_key, max_attempts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
           DO NOTHING
           RETURNING id"#,
        Uuid::now_v7(),
        job.spec.kind,
        job.spec.lane.as_str(),
        job.payload,
        job.org_id,
        job.env_id,
        job.dedupe_key,
        job.spec.max_attempts
    )
    .fetch_optional(db)
    .await
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
                  locked_until = now() + make_interval(secs => $3), updated_at = now()
           WHERE id IN (
               SELECT id FROM jobs WHERE status = 'queued' AND lane = 'general' AND run_after <= now()
               ORDER BY run_after LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, kind, payload, org_id, env_id, attempts, max_attempts, progress"#,
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
                  locked_until = now() + make_interval(secs => $3), updated_at = now()
           FROM picked WHERE jobs.id = picked.id
           RETURNING jobs.id AS "id!", jobs.kind AS "kind!", jobs.payload AS "payload!",
                     jobs.org_id, jobs.env_id, jobs.attempts AS "attempts!",
                     jobs.max_attempts AS "max_attempts!", jobs.progress AS "progress!""#,
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
            })
        })
        .collect()
}

/// Queues a sync of every linked account that is due, in one statement: not backed off
/// (`next_sync_at` past or unset), and with data that is, or may become, syncable (AVAILABLE,
/// PARTIAL, PROCESSING, or never fetched; the job refreshes the others from Mono first).
/// Accounts with a queued or running sync are left as they are. Answers how many were queued.
///
/// The rows are what enqueueing `spec`'s job for each account would store: the payload
/// `{accountId, env, trigger: "schedule"}` and the dedupe key `sync:{env_id}:{account}`
/// (`services::sync::job::SyncJob`, whose tests hold the two to the same shape).
pub async fn enqueue_due_syncs(db: impl PgExecutor<'_>, spec: JobSpec) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"INSERT INTO jobs (id, kind, lane, payload, org_id, env_id, dedupe_key, max_attempts)
           SELECT gen_random_uuid(), $1, $2,
                  jsonb_build_object('accountId', a.id, 'env', e.name, 'trigger', 'schedule'),
                  a.org_id, a.env_id, 'sync:' || a.env_id || ':' || a.id, $3
           FROM mono_accounts a JOIN environments e ON e.id = a.env_id
           WHERE a.unlinked_at IS NULL
             AND (a.next_sync_at IS NULL OR a.next_sync_at <= now())
             AND (a.data_status IS NULL OR a.data_status IN ('AVAILABLE', 'PARTIAL', 'PROCESSING'))
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
           DO NOTHING"#,
        spec.kind,
        spec.lane.as_str(),
        spec.max_attempts
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Queues a claimed job again after `after_secs` without using up an attempt (it could not
/// run through no fault of its own); false when the lease is no longer ours.
pub async fn postpone(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    after_secs: f64,
    progress: &Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0),
                run_after = now() + make_interval(secs => $3), progress = $4,
                lease_id = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND lease_id = $2 AND status = 'running'",
        job.id,
        job.lease_id,
        after_secs,
        progress
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
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

/// Marks a job done with its final progress; false when the lease is no longer ours.
pub async fn complete(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    progress: &Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET status = 'done', progress = $3, lease_id = NULL, locked_until = NULL,
                finished_at = now(), updated_at = now()
         WHERE id = $1 AND lease_id = $2 AND status = 'running'",
        job.id,
        job.lease_id,
        progress
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Queues a failed job again after `retry_in_secs`, or fails it for good when `retry_in_secs`
/// is None; false when the lease is no longer ours.
pub async fn fail(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    error: &str,
    retry_in_secs: Option<f64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET
            status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'queued' END,
            run_after = now() + make_interval(secs => COALESCE($4, 0)),
            finished_at = CASE WHEN $4::float8 IS NULL THEN now() END,
            last_error = $3, lease_id = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND lease_id = $2 AND status = 'running'",
        job.id,
        job.lease_id,
        error,
        retry_in_secs
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A job whose lease ran out without being renewed: its worker stopped.
#[derive(Debug, Clone)]
pub struct ExpiredJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: Value,
    /// True when it had no attempt left and is now failed; else it is queued again.
    pub failed: bool,
}

/// Requeues running jobs whose lease has expired (or fails those without an attempt left).
pub async fn requeue_expired(db: impl PgExecutor<'_>) -> Result<Vec<ExpiredJob>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"UPDATE jobs SET
               status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
               finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
               last_error = 'the worker running it stopped (lease expired)',
               run_after = now(), lease_id = NULL, locked_until = NULL, updated_at = now()
           WHERE id IN (
               SELECT id FROM jobs WHERE status = 'running' AND locked_until < now()
               FOR UPDATE SKIP LOCKED)
           RETURNING id, kind, payload, status"#
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
            })
        })
        .collect()
}

/// A job as `GET /si/mono/jobs/{id}` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobRow {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub progress: Value,
    pub attempts: i32,
    #[serde(rename = "error", skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
