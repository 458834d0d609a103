//! The job queue (`jobs`): enqueue, claim with `FOR UPDATE SKIP LOCKED` under a lease, renew
//! the lease, finish, retry with backoff, and requeue jobs whose worker died. Sync jobs are
//! claimed by a lane of their own (`claim_sync`, organization by organization in turn); every
//! other kind by `claim`.
//!
//! A claim hands the job a fresh `lease_id`; every later write names it, so a worker whose
//! lease ran out (and whose job another worker took) cannot finish or fail it any more.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tenancy::Tenant;

/// What a job does; stored as text, checked by the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Process one stored webhook delivery (`payload.deliveryId`).
    Webhook,
    /// Sync one account (`payload.accountId`), one unfinished per account.
    Sync,
    /// Replay the DLQ records a filter selects (`payload.filter`), in batches, resumable.
    DlqReplay,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Webhook => "webhook",
            JobKind::Sync => "sync",
            JobKind::DlqReplay => "dlq_replay",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(JobKind::Webhook),
            "sync" => Some(JobKind::Sync),
            "dlq_replay" => Some(JobKind::DlqReplay),
            _ => None,
        }
    }
}

/// A job to add.
pub struct NewJob<'a> {
    pub kind: JobKind,
    pub payload: Value,
    pub org_id: Option<Uuid>,
    pub env_id: Option<Uuid>,
    /// At most one queued or running job per key; None: no limit.
    pub dedupe_key: Option<&'a str>,
    pub max_attempts: i32,
}

/// Adds a job; None when an unfinished job with the same dedupe key exists.
pub async fn enqueue(db: impl PgExecutor<'_>, job: NewJob<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO jobs (id, kind, payload, org_id, env_id, dedupe_key, max_attempts)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
           DO NOTHING
           RETURNING id"#,
        Uuid::now_v7(),
        job.kind.as_str(),
        job.payload,
        job.org_id,
        job.env_id,
        job.dedupe_key,
        job.max_attempts
    )
    .fetch_optional(db)
    .await
}

/// A job taken by a worker.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub kind: JobKind,
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

/// Takes up to `limit` due jobs of every kind but sync, oldest due first, skipping those
/// another worker holds.
pub async fn claim(
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
               SELECT id FROM jobs WHERE status = 'queued' AND kind <> 'sync' AND run_after <= now()
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

/// Takes up to `limit` due sync jobs, organization by organization in turn: each
/// organization's oldest due job first, then each one's second, and so on. An organization
/// with thousands of accounts queued gets one slot per turn like one with a single account.
pub async fn claim_sync(
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
               FROM jobs WHERE status = 'queued' AND kind = 'sync' AND run_after <= now()
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
                kind: JobKind::parse(&r.kind).ok_or_else(|| super::unknown_value("jobs.kind", &r.kind))?,
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
pub async fn enqueue_due_syncs(db: impl PgExecutor<'_>, max_attempts: i32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"INSERT INTO jobs (id, kind, payload, org_id, env_id, dedupe_key, max_attempts)
           SELECT gen_random_uuid(), 'sync',
                  jsonb_build_object('accountId', a.id, 'env', e.name, 'trigger', 'schedule'),
                  a.org_id, a.env_id, 'sync:' || a.env_id || ':' || a.id, $1
           FROM mono_accounts a JOIN environments e ON e.id = a.env_id
           WHERE a.unlinked_at IS NULL
             AND (a.next_sync_at IS NULL OR a.next_sync_at <= now())
             AND (a.data_status IS NULL OR a.data_status IN ('AVAILABLE', 'PARTIAL', 'PROCESSING'))
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
           DO NOTHING"#,
        max_attempts
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
    pub kind: JobKind,
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
                kind: JobKind::parse(&r.kind).ok_or_else(|| super::unknown_value("jobs.kind", &r.kind))?,
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
