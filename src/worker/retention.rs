//! The hourly retention purge (see `services::retention`): every environment's, then what no
//! environment owns (webhook receipts, unclaimed deliveries). Every replica may run it: the
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
        let keep = retention::UnattributedRetention::from_settings(&state.settings);
        match retention::purge_unattributed(&state.db, keep, &token, false).await {
            Ok(report) if report.rows.values().any(|n| *n > 0) => {
                tracing::info!(rows = ?report.rows, "retention purge of what no environment owns");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention purge of what no environment owns failed"),
        }
    }
}
