//! `POST /si/mono/sync-stored`: every linked account of the environment synced, a few at a
//! time, each account's failure reported in its row.

use serde::Serialize;

use crate::domain::MonoAccountId;
use crate::error::ApiError;
use crate::jobs::{self, Lane, Rode};
use crate::services::sync::job;
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
    /// The account was busy (`sync_in_progress`): the sync job this request rode on instead,
    /// the account's running one (which goes round once more when it ends) or a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_job_id: Option<uuid::Uuid>,
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

/// `sync-stored` logs a progress line every this many accounts (and at the last).
const STORED_PROGRESS_EVERY: usize = 25;

/// Syncs every linked account of the environment, a few at a time; one account's failure is
/// reported in its row and does not stop the others. An account another session is syncing
/// (`sync_in_progress`) is not dropped: its row names the sync job the request rode on, the
/// account's running job marked to go round once more, or a new one that runs once the
/// account is free.
pub async fn sync_stored(
    state: &AppState,
    tenant: &Tenant,
    page_size: u32,
) -> Result<StoredOutcome, ApiError> {
    use futures::StreamExt;
    let accounts = crate::db::accounts::list_linked(&state.db, tenant, None).await?;
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
                    sync_job_id: None,
                };
            }
            let result = match sync_account(state, tenant, req).await {
                Ok(o) => StoredResult {
                    account_id: a.id,
                    drafted: o.drafted,
                    skipped: o.skipped,
                    error: None,
                    sync_job_id: None,
                },
                Err(e) => {
                    let sync_job_id = match &e {
                        ApiError::Conflict {
                            code: "sync_in_progress",
                            ..
                        } => ride_on_the_running_sync(state, tenant, &a.id).await,
                        _ => None,
                    };
                    StoredResult {
                        account_id: a.id,
                        drafted: 0,
                        skipped: 0,
                        error: Some(StoredError {
                            code: e.code().to_string(),
                            message: e.to_string(),
                        }),
                        sync_job_id,
                    }
                }
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

/// Asks for a sync job of an account that is busy; the job the request rode on, or None
/// (logged) when the database cannot say: the row reports the conflict either way.
async fn ride_on_the_running_sync(state: &AppState, tenant: &Tenant, account_id: &str) -> Option<uuid::Uuid> {
    let asked = async {
        let mut conn = state.db.acquire().await?;
        job::enqueue(&mut conn, tenant, account_id, "sync_stored").await
    }
    .await;
    match asked {
        Ok(asked) => {
            if asked.rode == Rode::New {
                jobs::wake(state, Lane::Sync);
            }
            Some(asked.id)
        }
        Err(e) => {
            tracing::warn!(account_id, error = %e, "sync-stored could not queue a sync of a busy account");
            None
        }
    }
}
