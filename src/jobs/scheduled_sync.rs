//! The scheduled sync: every `MONO_SYNC_INTERVAL_SECS`, every linked account with available
//! data in every environment. An account another replica (or an API call) is syncing is
//! skipped this round.

use std::time::Duration;

use crate::error::ApiError;
use crate::services::sync::{self, Round};
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
        let round = crate::telemetry::with_trace_id(trace_id.clone(), run_once(&state)).await;
        match round {
            Ok(r) => tracing::info!(
                trace_id,
                synced = r.synced,
                busy = r.busy,
                failed = r.failed,
                "scheduled sync round"
            ),
            Err(e) => tracing::warn!(trace_id, error = %e, "scheduled sync round failed"),
        }
    }
    tracing::info!("scheduled sync stopped");
}

/// One round now (tests and the loop above).
pub async fn run_once(state: &AppState) -> Result<Round, ApiError> {
    sync::scheduled_round(state).await
}
