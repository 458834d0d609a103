//! The job worker: takes due jobs from the `jobs` table (`FOR UPDATE SKIP LOCKED`, so any
//! number of replicas can run one), runs each through the services with its lease renewed
//! while it runs, and records the result: done, retried with backoff, or failed. It wakes on
//! `AppState::jobs_notify` (intake just queued something) and otherwise polls every second,
//! which is also when it requeues the jobs of workers that died.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::services::jobs::ClaimedJob;
use crate::services::jobs::{self, LEASE};
use crate::state::AppState;

/// The longest the worker sleeps without a notification.
pub const POLL: Duration = Duration::from_secs(1);

pub async fn run(state: AppState) {
    run_with(state, LEASE).await
}

/// The worker with a lease of `lease` (tests shorten it).
pub async fn run_with(state: AppState, lease: Duration) {
    let token = state.shutdown.clone();
    let slots = Arc::new(Semaphore::new(state.settings.job_concurrency as usize));
    let mut running = JoinSet::new();
    let mut last_sweep: Option<Instant> = None;
    loop {
        if token.is_cancelled() {
            break;
        }
        if last_sweep.is_none_or(|t| t.elapsed() >= POLL) {
            last_sweep = Some(Instant::now());
            if let Err(e) = jobs::requeue_expired(&state).await {
                tracing::warn!(error = %e, "could not requeue expired jobs");
            }
        }
        let free = slots.available_permits();
        let mut full = false;
        if free > 0 {
            match jobs::claim(&state, free, lease).await {
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
                Err(e) => tracing::warn!(error = %e, "could not claim jobs"),
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
            _ = state.jobs_notify.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    // Running jobs finish (a sync stops at its next page boundary); a job cut short by the
    // process dying is taken again when its lease expires.
    while running.join_next().await.is_some() {}
    tracing::info!("job worker stopped");
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
    let recorded = match &result {
        Ok(progress) => jobs::complete(state, &job, progress).await,
        Err(e) => {
            tracing::warn!(job_id = %job.id, kind, attempt = job.attempt, error = %e, "job failed");
            jobs::fail(state, &job, &e.to_string()).await
        }
    };
    let status = match (&result, job.attempt >= job.max_attempts) {
        (Ok(_), _) => "done",
        (Err(_), false) => "retry",
        (Err(_), true) => "failed",
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
