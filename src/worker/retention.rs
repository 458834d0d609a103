//! The hourly retention purge (see `services::retention`). Every replica may run it: the
//! batched deletes are idempotent, so two at once only share the work.

use std::time::Duration;

use crate::services::retention;
use crate::state::AppState;

pub const INTERVAL: Duration = Duration::from_secs(3600);

pub async fn run(state: AppState) {
    let token = state.shutdown.clone();
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match retention::purge(&state.db, state.settings.retention_days, &token, false).await {
            Ok(report) => {
                for env in report.iter().filter(|e| e.rows.values().any(|n| *n > 0)) {
                    tracing::info!(env_id = %env.env_id, rows = ?env.rows, "retention purge");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
    }
}
