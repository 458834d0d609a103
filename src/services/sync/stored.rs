//! `POST /si/mono/sync-stored`: every linked account of the environment synced, a few at a
//! time, each account's failure reported in its row.

use serde::Serialize;

use crate::domain::MonoAccountId;
use crate::error::ApiError;
use crate::services::sync::walk::{sync_account, SyncRequest};
use crate::state::AppState;
use crate::tenancy::Tenant;

/// One row of a sync-stored answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredResult {
    pub account_id: String,
    pub drafted: u64,
    pub skipped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StoredError>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredOutcome {
    pub accounts: usize,
    pub drafted: u64,
    pub skipped: u64,
    pub results: Vec<StoredResult>,
}

/// Accounts synced at once by sync-stored.
pub const STORED_CONCURRENCY: usize = 4;

/// Syncs every linked account of the environment, a few at a time; one account's failure is
/// reported in its row and does not stop the others.
/// `sync-stored` logs a progress line every this many accounts (and at the last).
const STORED_PROGRESS_EVERY: usize = 25;

pub async fn sync_stored(
    state: &AppState,
    tenant: &Tenant,
    page_size: u32,
) -> Result<StoredOutcome, ApiError> {
    use futures::StreamExt;
    let accounts = crate::db::accounts::list_linked(&state.db, tenant).await?;
    let total = accounts.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let done = &done;
    let started = std::time::Instant::now();
    let results: Vec<StoredResult> = futures::stream::iter(accounts.into_iter().map(|a| {
        let req = SyncRequest {
            account_id: MonoAccountId::from_stored(a.id.clone()),
            cursor: None,
            page_size,
        };
        async move {
            if state.shutdown.is_cancelled() {
                // Shutting down: accounts not started yet are left for the next call.
                return StoredResult {
                    account_id: a.id,
                    drafted: 0,
                    skipped: 0,
                    error: Some(StoredError {
                        code: "shutting_down".into(),
                        message: "the service is shutting down; this account was not synced".into(),
                    }),
                };
            }
            let result = match sync_account(state, tenant, req).await {
                Ok(o) => StoredResult {
                    account_id: a.id,
                    drafted: o.drafted,
                    skipped: o.skipped,
                    error: None,
                },
                Err(e) => StoredResult {
                    account_id: a.id,
                    drafted: 0,
                    skipped: 0,
                    error: Some(StoredError {
                        code: e.code().to_string(),
                        message: e.to_string(),
                    }),
                },
            };
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n == total || n.is_multiple_of(STORED_PROGRESS_EVERY) {
                tracing::info!(
                    done = n,
                    total,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "sync-stored progress"
                );
            }
            result
        }
    }))
    .buffered(STORED_CONCURRENCY)
    .collect()
    .await;
    Ok(StoredOutcome {
        accounts: results.len(),
        drafted: results.iter().map(|r| r.drafted).sum(),
        skipped: results.iter().map(|r| r.skipped).sum(),
        results,
    })
}
