//! The scheduled sync: every `MONO_SYNC_INTERVAL_SECS`, every linked account with available
//! data in every environment. An account another replica (or an API call) is syncing is
//! skipped this round.

use std::time::Duration;

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::services::sync::{self, SyncRequest, DEFAULT_PAGE_SIZE};
use crate::state::AppState;

/// Counts of one round.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub synced: usize,
    pub busy: usize,
    pub failed: usize,
}

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

/// One round over every eligible account, one account at a time.
pub async fn run_once(state: &AppState) -> Result<Round, ApiError> {
    let mut round = Round::default();
    for (account_id, org_id, env_id) in crate::db::accounts::all_linked(&state.db).await? {
        if state.shutdown.is_cancelled() {
            break;
        }
        let tenant = Tenant::system(org_id, env_id);
        let req = SyncRequest {
            account_id: account_id.clone(),
            cursor: None,
            page_size: DEFAULT_PAGE_SIZE,
        };
        match sync::sync_account(state, &tenant, req).await {
            Ok(_) => round.synced += 1,
            Err(ApiError::Conflict {
                code: "sync_in_progress",
                ..
            }) => round.busy += 1,
            Err(e) => {
                round.failed += 1;
                tracing::warn!(account_id, error = %e, "scheduled sync of an account failed");
            }
        }
    }
    Ok(round)
}
