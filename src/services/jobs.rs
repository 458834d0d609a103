//! Background jobs as services see them: queueing syncs, claiming and finishing jobs for the
//! worker (`jobs::worker`: a lane for syncs, one for every other kind), running one by its
//! kind, retries with exponential backoff, and reading a job for `GET /si/mono/jobs/{id}`.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use uuid::Uuid;

use crate::db::jobs::{self as db, JobKind, NewJob};
pub use crate::db::jobs::{ClaimedJob, JobRow};
use crate::domain::MonoAccountId;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::{EnvName, Tenant};

/// How long a claim holds a job before another worker may take it; renewed while it runs.
pub const LEASE: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: f64 = 300.0;

/// Attempts a queued sync gets; between them the account backs off (`db::accounts::record_sync_failure`).
pub const SYNC_MAX_ATTEMPTS: i32 = 5;

/// The jobs' lanes: syncs run apart from the rest, so webhooks never wait behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Webhook processing and bulk DLQ replay (`JOB_CONCURRENCY`).
    General,
    /// Account syncs (`MONO_SYNC_CONCURRENCY`), claimed organization by organization.
    Sync,
}

/// Queues a sync of the account unless one is queued or running already (the job table's
/// unique index on unfinished dedupe keys); the new job's id, or None. `trigger` is kept in
/// the payload for people reading the job.
pub async fn enqueue_sync(
    conn: &mut sqlx::PgConnection,
    tenant: &Tenant,
    account_id: &str,
    trigger: &str,
) -> Result<Option<Uuid>, ApiError> {
    let key = sync_dedupe_key(tenant, account_id);
    Ok(db::enqueue(
        &mut *conn,
        NewJob {
            kind: JobKind::Sync,
            payload: serde_json::json!({"accountId": account_id, "env": tenant.env.as_str(), "trigger": trigger}),
            org_id: Some(tenant.org_id),
            env_id: Some(tenant.env_id),
            dedupe_key: Some(&key),
            max_attempts: SYNC_MAX_ATTEMPTS,
        },
    )
    .await?)
}

/// One key per account: `db::jobs::enqueue_due_syncs` builds the same one in SQL.
fn sync_dedupe_key(tenant: &Tenant, account_id: &str) -> String {
    format!("sync:{}:{account_id}", tenant.env_id)
}

/// The sweep: queues a sync of every due account in one statement; answers how many.
pub async fn enqueue_due_syncs(state: &AppState) -> Result<u64, ApiError> {
    let queued = db::enqueue_due_syncs(&state.db, SYNC_MAX_ATTEMPTS).await?;
    if queued > 0 {
        state.sync_notify.notify_one();
    }
    Ok(queued)
}

pub async fn claim(
    state: &AppState,
    lane: Lane,
    limit: usize,
    lease: Duration,
) -> Result<Vec<ClaimedJob>, ApiError> {
    let (limit, lease) = (limit as i64, lease.as_secs_f64());
    Ok(match lane {
        Lane::General => db::claim(&state.db, limit, lease).await?,
        Lane::Sync => db::claim_sync(&state.db, limit, lease).await?,
    })
}

/// What running a job came to.
#[derive(Debug)]
pub enum Ran {
    /// Finished; the value is kept as its progress.
    Done(Value),
    /// Not finished through no fault of its own (its account is busy with another sync, or
    /// has more to fetch): queued again after `after` without using up an attempt.
    Later { after: Duration, progress: Value },
    /// Failed; tried again after `after` (instead of the queue's own backoff) while attempts
    /// remain.
    Retry { error: String, after: Duration },
}

/// Extends the lease; false when the job is no longer ours.
pub async fn renew(state: &AppState, job: &ClaimedJob, lease: Duration) -> Result<bool, ApiError> {
    Ok(db::renew(&state.db, job, lease.as_secs_f64()).await?)
}

/// Runs one claimed job to its result.
pub async fn run(state: &AppState, job: &ClaimedJob) -> Result<Ran, ApiError> {
    match job.kind {
        JobKind::Webhook => {
            let ids = crate::services::webhooks::job_deliveries(&job.payload).ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("webhook job {} names no deliveries", job.id))
            })?;
            let state = AppState {
                db: state.webhook_db.clone(),
                ..state.clone()
            };
            let run = crate::services::webhooks::process_deliveries(&state, &ids).await;
            let progress = serde_json::json!({"deliveries": run.results});
            match run.first_error {
                None => Ok(Ran::Done(progress)),
                Some(e) if ids.len() == 1 => Err(e),
                Some(e) => Ok(Ran::Retry {
                    error: format!(
                        "{} of {} deliveries failed; the first: {e}",
                        run.failed,
                        ids.len()
                    ),
                    after: backoff(job.attempt),
                }),
            }
        }
        JobKind::Sync => {
            let tenant = job_tenant(job)?;
            let account = job
                .payload
                .get("accountId")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("sync job {} has no accountId", job.id)))?;
            crate::services::sync::run_queued(state, &tenant, MonoAccountId::from_stored(account.to_owned()))
                .await
        }
        JobKind::DlqReplay => {
            let tenant = job_tenant(job)?;
            crate::services::dlq::run_bulk_replay(state, &tenant, job)
                .await
                .map(Ran::Done)
        }
    }
}

fn job_tenant(job: &ClaimedJob) -> Result<Tenant, ApiError> {
    let env = job
        .payload
        .get("env")
        .and_then(Value::as_str)
        .and_then(EnvName::parse);
    match (job.org_id, job.env_id, env) {
        (Some(org), Some(env_id), Some(env)) => Ok(Tenant::system(org, env_id, env)),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "job {} names no environment",
            job.id
        ))),
    }
}

/// Marks a job done; false when its lease was lost (another worker has it now).
pub async fn complete(state: &AppState, job: &ClaimedJob, progress: &Value) -> Result<bool, ApiError> {
    Ok(db::complete(&state.db, job, progress).await?)
}

/// The wait before attempt `attempt + 1`: 1 s doubled per attempt, at most 5 minutes, with
/// ±20 % jitter so failed jobs do not come back in step.
pub fn backoff(attempt: i32) -> Duration {
    let base = 2f64.powi(attempt.clamp(1, 30) - 1).min(MAX_BACKOFF_SECS);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Duration::from_secs_f64(base * jitter)
}

/// Queues a job again after `after` without using up an attempt; false when its lease was lost.
pub async fn postpone(
    state: &AppState,
    job: &ClaimedJob,
    after: Duration,
    progress: &Value,
) -> Result<bool, ApiError> {
    Ok(db::postpone(&state.db, job, after.as_secs_f64(), progress).await?)
}

/// Records a failed run: the job is queued again after `retry_after` (else its backoff), or,
/// out of attempts, failed for good (a webhook's delivery with it, in the same transaction).
pub async fn fail(
    state: &AppState,
    job: &ClaimedJob,
    error: &str,
    retry_after: Option<Duration>,
) -> Result<bool, ApiError> {
    let retry = (job.attempt < job.max_attempts)
        .then(|| retry_after.unwrap_or_else(|| backoff(job.attempt)).as_secs_f64());
    let mut tx = state.db.begin().await?;
    let ours = db::fail(&mut *tx, job, error, retry).await?;
    if ours && retry.is_none() {
        fail_work(&mut tx, job.kind, &job.payload, error).await?;
    }
    tx.commit().await?;
    Ok(ours)
}

async fn fail_work(
    tx: &mut sqlx::PgConnection,
    kind: JobKind,
    payload: &Value,
    error: &str,
) -> Result<(), ApiError> {
    if kind == JobKind::Webhook {
        if let Some(ids) = crate::services::webhooks::job_deliveries(payload) {
            crate::services::webhooks::fail_deliveries(tx, &ids, error).await?;
        }
    }
    Ok(())
}

/// Queues again the jobs whose worker stopped (lease expired); answers how many.
pub async fn requeue_expired(state: &AppState) -> Result<usize, ApiError> {
    let mut tx = state.db.begin().await?;
    let expired = db::requeue_expired(&mut *tx).await?;
    for job in expired.iter().filter(|j| j.failed) {
        fail_work(
            &mut tx,
            job.kind,
            &job.payload,
            "the worker running it stopped (lease expired)",
        )
        .await?;
    }
    tx.commit().await?;
    for job in &expired {
        tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), failed = job.failed, "job lease expired; its worker stopped");
    }
    Ok(expired.len())
}

/// A job of the caller's environment; 404 for any other.
pub async fn get(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<JobRow, ApiError> {
    db::get(&state.db, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("job {id} not found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        for (attempt, base) in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 300.0), (40, 300.0)] {
            let got = backoff(attempt).as_secs_f64();
            assert!(got >= base * 0.8 && got <= base * 1.2, "attempt {attempt}: {got}");
        }
    }
}
