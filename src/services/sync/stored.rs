//! `POST /si/mono/sync-stored`: a sync of every linked account of the environment, in the
//! background, as a bulk job (kind `sync_stored`) made of the accounts' own sync jobs.
//!
//! The request queues, in one transaction, the bulk job and a sync job per linked account
//! (`db::queue::enqueue_env_syncs`), and answers 202 `{jobId, accounts}`. The sync jobs are
//! the ones the sweep and the webhooks queue: the worker's sync lane on every replica runs
//! them, `MONO_SYNC_CONCURRENCY` at a time per replica, under the shared `MONO_MAX_RPS`
//! budget, organization by organization in turn. Each names the bulk job (`parent_id`):
//! every page its sync writes adds its drafts and skips to the part's own tally in the page's
//! transaction (`walk`, on the part's row, so parts do not wait on each other), and the end
//! of its part (synced, or failed with a code) is counted here with that tally
//! ([`count_part`]) in the transaction that records the job's end (`worker::lanes`). So the
//! counts are exact whichever replica runs a sync and whatever dies when: a page is counted
//! if and only if it was written, an account once when its part ends. The part that brings
//! `done + failed` to `total` finishes the bulk job. The bulk job itself is never claimed by
//! a worker: it starts `running` with no lease.
//!
//! An account whose sync is queued already is joined (that job, which has not started, is
//! the account's part); one whose sync is running is marked to go round once more and its
//! next run is the part, since the running one started before the request. Either way the
//! account is counted once. At most one sync of every stored account per environment is
//! unfinished (409 `job_running` naming it).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::queue::{self, JobSpec, Lane, NewJob};
use crate::error::ApiError;
use crate::jobs;
use crate::services::sync::job::SyncJob;
use crate::services::sync::parts::{to_json, StoredProgress};
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The bulk job's kind in the `jobs` table.
pub const KIND: &str = "sync_stored";

/// What the bulk job stores: a bulk kind, in the general lane by name only (no worker
/// claims it: it is done by its parts).
const SPEC: JobSpec = JobSpec {
    kind: KIND,
    lane: Lane::General,
    max_attempts: 1,
    bulk: true,
};

/// The answer to `POST /si/mono/sync-stored`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStoredAccepted {
    /// The bulk job: `GET /si/mono/jobs/{jobId}` shows its progress.
    pub job_id: Uuid,
    /// The linked accounts queued (or joined), the bulk job's `progress.total`.
    pub accounts: u64,
}

/// Queues a sync of every linked account of the environment as one bulk job; 409
/// `job_running` (with its `jobId`) while the environment's previous one is unfinished.
pub async fn start(state: &AppState, tenant: &Tenant) -> Result<SyncStoredAccepted, ApiError> {
    let mut tx = state.db.begin().await?;
    if queue::fail_orphaned_bulk(&mut *tx, Some(tenant.env_id), KIND).await? > 0 {
        tracing::warn!(env_id = %tenant.env_id, "a sync of every stored account whose parts ended uncounted was failed");
    }
    let empty = to_json(&StoredProgress::default())?;
    let job_id = queue::insert_bulk(
        &mut tx,
        NewJob {
            spec: SPEC,
            payload: serde_json::json!({"env": tenant.env.as_str()}),
            org_id: Some(tenant.org_id),
            env_id: Some(tenant.env_id),
            dedupe_key: None,
        },
        Some(&empty),
    )
    .await?
    .map_err(|running| ApiError::job_running(KIND, running.0))?;
    let accounts = queue::enqueue_env_syncs(&mut *tx, tenant, jobs::spec::<SyncJob>(), job_id).await? as u64;
    let progress = StoredProgress {
        total: accounts,
        ..StoredProgress::default()
    };
    // With no account there is nothing to wait for: done at once.
    queue::set_bulk_progress(&mut *tx, job_id, &to_json(&progress)?, progress.finished()).await?;
    tx.commit().await?;
    if accounts > 0 {
        jobs::wake(state, Lane::Sync);
    }
    tracing::info!(%job_id, accounts, "sync of every stored account queued");
    Ok(SyncStoredAccepted { job_id, accounts })
}
