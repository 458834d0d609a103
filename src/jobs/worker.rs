//! The job worker: takes due jobs from the `jobs` table (`FOR UPDATE SKIP LOCKED`, so any
//! number of replicas can run one), runs each through the services with its lease renewed
//! while it runs, and records the result: done, postponed, retried with backoff, or failed.
//!
//! Two lanes, each with slots of its own: syncs (`MONO_SYNC_CONCURRENCY`, claimed
//! organization by organization in turn) and everything else (`JOB_CONCURRENCY`: webhook
//! processing, bulk DLQ replay), so a full sync lane never keeps a webhook waiting. A lane
//! wakes on its notification (`AppState::jobs_notify`, `AppState::sync_notify`) and otherwise
//! polls every second; the sync lane also requeues the jobs of workers that died.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::services::jobs::{self, ClaimedJob, Lane, Ran, LEASE};
use crate::state::AppState;

/// The longest a lane sleeps without a notification.
pub const POLL: Duration = Duration::from_secs(1);

pub async fn run(state: AppState) {
    run_with(state, LEASE).await
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
            if let Err(e) = jobs::requeue_expired(state).await {
                tracing::warn!(error = %e, "could not requeue expired jobs");
            }
        }
        let free = slots.available_permits();
        let mut full = false;
        if free > 0 {
            match jobs::claim(state, lane, free, lease).await {
                Ok(claimed) => {
                    full = claimed.len() == free;
                    for job in claimed {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let state = state.clone();
                        running.spawn(async move {
                            run_one(&state, job, lease).await;
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

async fn run_one(state: &AppState, job: ClaimedJob, lease: Duration) {
    let started = Instant::now();
    let work = jobs::run(state, &job);
    tokio::pin!(work);
    let mut heartbeat = tokio::time::interval(lease / 3);
    heartbeat.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = heartbeat.tick() => {
                match jobs::renew(state, &job, lease).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job_id = %job.id, "job lease lost; another worker may run it"),
                    Err(e) => tracing::warn!(job_id = %job.id, error = %e, "could not renew a job lease"),
                }
            }
        }
    };
    let kind = job.kind.as_str();
    metrics::histogram!("job_duration_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
    let out_of_attempts = job.attempt >= job.max_attempts;
    let (recorded, status) = match &result {
        Ok(Ran::Done(progress)) => (jobs::complete(state, &job, progress).await, "done"),
        Ok(Ran::Later { after, progress }) => (jobs::postpone(state, &job, *after, progress).await, "later"),
        Ok(Ran::Retry { error, after }) => {
            tracing::warn!(job_id = %job.id, kind, attempt = job.attempt, error = %error, "job failed");
            let status = if out_of_attempts { "failed" } else { "retry" };
            (jobs::fail(state, &job, error, Some(*after)).await, status)
        }
        Err(e) => {
            tracing::warn!(job_id = %job.id, kind, attempt = job.attempt, error = %e, "job failed");
            let status = if out_of_attempts { "failed" } else { "retry" };
            (jobs::fail(state, &job, &e.to_string(), None).await, status)
        }
    };
    metrics::counter!("jobs_total", "kind" => kind, "status" => status).increment(1);
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(job_id = %job.id, "job finished after its lease was lost; result not recorded")
        }
        Err(e) => {
            tracing::warn!(job_id = %job.id, error = %e, "could not record a job's result; it runs again after its lease")
        }
    }
}
