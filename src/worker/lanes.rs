//! The job worker: takes due jobs from the `jobs` table (`FOR UPDATE SKIP LOCKED`, so any
//! number of replicas can run one), runs each by its kind (`registry`) with its lease renewed
//! while it runs, and records the result: done, postponed, retried with backoff, or failed;
//! a job asked for again while it ran is queued again at once instead of ending (`rerun`,
//! read by the statement that records the result).
//!
//! Two lanes, each with slots of its own: syncs (`MONO_SYNC_CONCURRENCY`, claimed
//! organization by organization in turn) and everything else (`JOB_CONCURRENCY`: webhook
//! processing, bulk DLQ replay), so a full sync lane never keeps a webhook waiting. A lane
//! wakes on its notification (`AppState::jobs_notify`, `AppState::sync_notify`) and otherwise
//! polls every second; the sync lane also requeues the jobs of workers that died and folds the
//! buyer directory's invoice counts (`db::buyers::settle_invoice_counts`).
//!
//! A run of a part of a bulk job (claimed with its `parent_id`) that finishes or fails ends
//! the part, counted in the parent in the transaction that records the end
//! (`registry::Registry::report_to_parent`); a postponed one stays the part. A run whose
//! lease was lost records nothing and counts nothing: the worker that took the job over
//! ends the part.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::registry::registry;
use crate::db::queue::{self as db, Recorded};
use crate::error::ApiError;
use crate::jobs::{self, ClaimedJob, Ended, JobContext, Lane, Ran};
use crate::state::AppState;

/// The longest a lane sleeps without a notification.
pub const POLL: Duration = Duration::from_secs(1);

pub async fn run(state: AppState) {
    let lease = state.settings.job_lease;
    run_with(state, lease).await
}

/// The worker with a lease of `lease` (tests shorten it). Dropping the future (a replica
/// dying) drops every job it runs; their leases then run out and other replicas take them.
pub async fn run_with(state: AppState, lease: Duration) {
    let general = async {
        let slots = state.settings.job_concurrency as usize;
        if slots > 0 {
            run_lane(&state, Lane::General, slots, lease).await;
        }
    };
    let sync = run_lane(
        &state,
        Lane::Sync,
        state.settings.sync_concurrency as usize,
        lease,
    );
    tokio::join!(general, sync);
    tracing::info!("job worker stopped");
}

async fn run_lane(state: &AppState, lane: Lane, slots: usize, lease: Duration) {
    let token = state.shutdown.clone();
    let notify: Arc<Notify> = match lane {
        Lane::General => state.jobs_notify.clone(),
        Lane::Sync => state.sync_notify.clone(),
    };
    let slots = Arc::new(Semaphore::new(slots));
    let mut running = JoinSet::new();
    let mut last_sweep: Option<Instant> = None;
    loop {
        if token.is_cancelled() {
            break;
        }
        if lane == Lane::Sync && last_sweep.is_none_or(|t| t.elapsed() >= POLL) {
            last_sweep = Some(Instant::now());
            if let Err(e) = requeue_expired(state).await {
                tracing::warn!(error = %e, "could not requeue expired jobs");
            }
            if let Err(e) = crate::db::buyers::settle_invoice_counts(&state.db).await {
                tracing::warn!(error = %e, "could not fold the buyers' invoice counts");
            }
        }
        let free = slots.available_permits();
        let mut full = false;
        if free > 0 {
            match db::claim(&state.db, lane, free as i64, lease.as_secs_f64()).await {
                Ok(claimed) => {
                    full = claimed.len() == free;
                    for job in claimed {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let state = state.clone();
                        running.spawn(async move {
                            run_one(state, lane, job, lease).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::warn!(?lane, error = %e, "could not claim jobs"),
            }
        }
        if full {
            // Everything claimed may not be all that is due: look again when a slot frees.
            tokio::select! {
                _ = token.cancelled() => break,
                _ = running.join_next() => {}
            }
            continue;
        }
        tokio::select! {
            _ = token.cancelled() => break,
            _ = notify.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    // Running jobs finish (a sync stops at its next page boundary); a job cut short by the
    // process dying is taken again when its lease expires.
    while running.join_next().await.is_some() {}
}

async fn run_one(state: AppState, lane: Lane, job: ClaimedJob, lease: Duration) {
    let started = Instant::now();
    let ctx = JobContext {
        state: state.clone(),
        job: job.clone(),
    };
    let work = registry().run(ctx);
    tokio::pin!(work);
    let mut heartbeat = tokio::time::interval(lease / 3);
    heartbeat.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = heartbeat.tick() => {
                match db::renew(&state.db, &job, lease.as_secs_f64()).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job_id = %job.id, "job lease lost; another worker may run it"),
                    Err(e) => tracing::warn!(job_id = %job.id, error = %e, "could not renew a job lease"),
                }
            }
        }
    };
    let kind = job.kind.clone();
    metrics::histogram!("job_duration_seconds", "kind" => kind.clone())
        .record(started.elapsed().as_secs_f64());
    let recorded = match &result {
        Ok(Ran::Done(progress)) => complete(&state, &job, progress).await,
        Ok(Ran::Later { after, progress }) => postpone(&state, &job, *after, progress).await,
        Ok(Ran::Retry { code, error, after }) => {
            tracing::warn!(job_id = %job.id, kind = %kind, attempt = job.attempt, error = %error, "job failed");
            fail(&state, &job, code, error, Some(*after)).await
        }
        Err(e) => {
            tracing::warn!(job_id = %job.id, kind = %kind, attempt = job.attempt, error = %e, "job failed");
            fail(&state, &job, e.code(), &e.to_string(), None).await
        }
    };
    let status = match (&result, &recorded) {
        (_, Ok(Some(Recorded::Rerun))) => "rerun",
        (_, Ok(Some(Recorded::Done))) => "done",
        (_, Ok(Some(Recorded::Failed))) => "failed",
        (Ok(Ran::Later { .. }), _) => "later",
        (Ok(Ran::Done(_)), _) => "done",
        _ if job.attempt >= job.max_attempts => "failed",
        _ => "retry",
    };
    metrics::counter!("jobs_total", "kind" => kind.clone(), "status" => status).increment(1);
    match recorded {
        Ok(Some(Recorded::Rerun)) => {
            tracing::info!(job_id = %job.id, kind = %kind, "job asked for again while it ran; it goes round once more");
            jobs::wake(&state, lane);
        }
        Ok(Some(_)) => {}
        Ok(None) => {
            tracing::warn!(job_id = %job.id, "job finished after its lease was lost; result not recorded")
        }
        Err(e) => {
            tracing::warn!(job_id = %job.id, error = %e, "could not record a job's result; it runs again after its lease")
        }
    }
}

/// Marks a job done (or, asked for again while it ran, queues it again for another round)
/// and counts the run in its bulk job; None when its lease was lost (another worker has it
/// now).
async fn complete(
    state: &AppState,
    job: &ClaimedJob,
    progress: &Value,
) -> Result<Option<Recorded>, ApiError> {
    let Some(parent) = job.parent_id else {
        return Ok(db::complete(&state.db, job, progress).await?);
    };
    let mut tx = state.db.begin().await?;
    let recorded = db::complete(&mut *tx, job, progress).await?;
    if recorded.is_some() {
        end_part(&mut tx, job.id, &job.kind, &job.payload, parent, Ok(progress)).await?;
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Queues a job again after `after` without using up an attempt (a part of a bulk job stays
/// one); None when its lease was lost.
async fn postpone(
    state: &AppState,
    job: &ClaimedJob,
    after: Duration,
    progress: &Value,
) -> Result<Option<Recorded>, ApiError> {
    Ok(db::postpone(&state.db, job, after.as_secs_f64(), progress).await?)
}

/// Records a failed run: the job is queued again after `retry_after` (else its backoff), or,
/// out of attempts, failed for good, its kind settling what it leaves behind in the same
/// transaction (a webhook job's deliveries fail with it). A job asked for again while it ran
/// is not failed for good: it goes round once more.
///
/// A part of a bulk job is counted there as failed with `code` when the job's own work
/// failed (`retry_after`, from `Ran::Retry`) or no attempt is left; an attempt that broke
/// (an error, the queue's backoff: the database, say) leaves the part to the next attempt.
async fn fail(
    state: &AppState,
    job: &ClaimedJob,
    code: &str,
    error: &str,
    retry_after: Option<Duration>,
) -> Result<Option<Recorded>, ApiError> {
    let retry = (job.attempt < job.max_attempts).then(|| {
        retry_after
            .unwrap_or_else(|| jobs::backoff(job.attempt))
            .as_secs_f64()
    });
    let ends_part = retry_after.is_some() || retry.is_none();
    let mut tx = state.db.begin().await?;
    let recorded = db::fail(&mut *tx, job, error, retry, ends_part).await?;
    if recorded == Some(Recorded::Failed) {
        registry()
            .gave_up(&job.kind, &job.payload, &mut tx, error)
            .await?;
    }
    if let (Some(parent), Some(_), true) = (job.parent_id, recorded, ends_part) {
        end_part(&mut tx, job.id, &job.kind, &job.payload, parent, Err(code)).await?;
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Counts the end of a bulk job's part (`part`, of `kind` with `payload`) in the bulk job
/// (`parent`) with what the part tallied while it ran, on the transaction that records the end.
async fn end_part(
    conn: &mut PgConnection,
    part: Uuid,
    kind: &str,
    payload: &Value,
    parent: Uuid,
    outcome: Result<&Value, &str>,
) -> Result<(), ApiError> {
    let tally = db::tally(&mut *conn, part).await?;
    let ended = Ended {
        outcome,
        tally: &tally,
    };
    registry()
        .report_to_parent(kind, payload, conn, parent, ended)
        .await
}

/// The code a part of a bulk job is counted failed with when its worker stopped and no
/// attempt was left.
const WORKER_STOPPED: &str = "worker_stopped";

/// Queues again the jobs whose worker stopped (lease expired); answers how many. One failed
/// for good is counted failed in its bulk job; one queued again stays its part.
pub async fn requeue_expired(state: &AppState) -> Result<usize, ApiError> {
    let mut tx = state.db.begin().await?;
    let mut expired = db::requeue_expired(&mut *tx).await?;
    // Bulk jobs' rows locked in one order by every replica: no deadlock between two of these.
    expired.sort_by_key(|j| j.parent_id);
    for job in expired.iter().filter(|j| j.failed) {
        registry()
            .gave_up(
                &job.kind,
                &job.payload,
                &mut tx,
                "the worker running it stopped (lease expired)",
            )
            .await?;
        if let Some(parent) = job.parent_id {
            end_part(
                &mut tx,
                job.id,
                &job.kind,
                &job.payload,
                parent,
                Err(WORKER_STOPPED),
            )
            .await?;
            db::let_go_of_parent(&mut *tx, job.id).await?;
        }
    }
    tx.commit().await?;
    for job in &expired {
        tracing::warn!(job_id = %job.id, kind = %job.kind, failed = job.failed, "job lease expired; its worker stopped");
    }
    Ok(expired.len())
}
