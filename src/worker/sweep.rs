//! The scheduled sweep: every `MONO_SYNC_INTERVAL_SECS`, one statement queues a sync job for
//! every linked account that is due (not backed off after failures; data AVAILABLE, PARTIAL,
//! PROCESSING or never fetched), unless one is queued or running already. The job worker's
//! sync lane on every replica runs them; a job refreshes from Mono an account whose data was
//! not AVAILABLE before it syncs it. An account whose sync is running is marked instead: its
//! job goes round once more when it ends. Every replica may sweep: the second one queues
//! nothing.

use std::time::Duration;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn run(state: AppState, interval: Duration) {
    let token = state.shutdown.clone();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let trace_id = crate::telemetry::new_trace_id();
        match crate::telemetry::with_trace_id(trace_id.clone(), run_once(&state)).await {
            Ok(queued) => tracing::info!(trace_id, queued, "scheduled sync sweep"),
            Err(e) => tracing::warn!(trace_id, error = %e, "scheduled sync sweep failed"),
        }
    }
    tracing::info!("scheduled sync stopped");
}

/// One sweep now (tests, benchmarks and the loop above): how many sync jobs it queued (new
/// ones; running ones it marked to go round once more are logged, not counted).
pub async fn run_once(state: &AppState) -> Result<u64, ApiError> {
    let swept = crate::services::sync::job::enqueue_due(state).await?;
    metrics::counter!("sync_sweep_queued_total").increment(swept.queued);
    if swept.marked > 0 {
        tracing::info!(
            marked = swept.marked,
            "sweep: running syncs marked to go round once more"
        );
    }
    Ok(swept.queued)
}
