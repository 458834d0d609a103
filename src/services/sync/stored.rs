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

/// Errors kept on the bulk job, the first ones (the rest are counted in `failed`).
pub const MAX_ERRORS_KEPT: usize = 100;

/// The answer to `POST /si/mono/sync-stored`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStoredAccepted {
    /// The bulk job: `GET /si/mono/jobs/{jobId}` shows its progress.
    pub job_id: Uuid,
    /// The linked accounts queued (or joined), the bulk job's `progress.total`.
    pub accounts: u64,
}

/// The bulk job's `progress`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SyncStoredProgress)]
pub struct StoredProgress {
    /// Accounts in the job.
    pub total: u64,
    /// Accounts synced.
    pub done: u64,
    /// Drafts the accounts' syncs made.
    pub drafted: u64,
    /// Transactions they fetched and did not draft (`skipped` of a sync).
    pub skipped: u64,
    /// Accounts whose sync failed or could not run (`errors` names the first ones).
    pub failed: u64,
    /// The first failed accounts, at most 100, in the order they failed.
    pub errors: Vec<PartError>,
}

/// One account whose sync failed, with its error code (`mono_error`, `data_not_ready`,
/// `account_unlinked`, `not_found`, `worker_stopped`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SyncStoredError)]
pub struct PartError {
    pub account_id: String,
    pub code: String,
}

/// What a part's pages added up while it ran (the job's `tally`, added to with each page).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub drafted: u64,
    /// What the pages fetched and did not draft.
    pub skipped: u64,
}

/// How an account's part in the bulk job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub drafted: u64,
    pub skipped: u64,
    /// None: synced to the end (done). Some: the account's sync failed (it may be retried on
    /// the account's backoff, outside the bulk job) or could not run, with this code.
    pub failed: Option<String>,
}

impl StoredProgress {
    /// Adds `part` of `account_id`; true when every account is counted.
    pub fn add(&mut self, account_id: &str, part: Part) -> bool {
        self.drafted += part.drafted;
        self.skipped += part.skipped;
        match part.failed {
            None => self.done += 1,
            Some(code) => {
                self.failed += 1;
                if self.errors.len() < MAX_ERRORS_KEPT {
                    self.errors.push(PartError {
                        account_id: account_id.to_owned(),
                        code,
                    });
                }
            }
        }
        self.finished()
    }

    pub fn finished(&self) -> bool {
        self.done + self.failed >= self.total
    }
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

/// Counts the end of `account_id`'s part in the bulk job `parent`, inside the transaction
/// that records it (parts of one bulk job take turns on its row, for that short
/// transaction only); the part that counts the last account finishes it.
pub async fn count_part(
    conn: &mut sqlx::PgConnection,
    parent: Uuid,
    account_id: &str,
    part: Part,
) -> Result<(), ApiError> {
    let Some(value) = queue::lock_bulk_progress(&mut *conn, parent).await? else {
        tracing::warn!(%parent, account_id, ?part, "a sync counted in a bulk job that is finished or gone");
        return Ok(());
    };
    let mut progress: StoredProgress = serde_json::from_value(value).map_err(ApiError::internal)?;
    let finished = progress.add(account_id, part);
    queue::set_bulk_progress(&mut *conn, parent, &to_json(&progress)?, finished).await?;
    if finished {
        tracing::info!(
            job_id = %parent,
            total = progress.total,
            done = progress.done,
            failed = progress.failed,
            drafted = progress.drafted,
            "sync of every stored account done"
        );
    }
    Ok(())
}

fn to_json(progress: &StoredProgress) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(progress).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(drafted: u64, skipped: u64, failed: Option<&str>) -> Part {
        Part {
            drafted,
            skipped,
            failed: failed.map(str::to_owned),
        }
    }

    #[test]
    fn every_account_is_counted_once_and_the_last_finishes() {
        let mut p = StoredProgress {
            total: 3,
            ..StoredProgress::default()
        };
        assert!(!p.add("a", part(3, 1, None)));
        assert!(!p.add("b", part(1, 0, Some("mono_error"))));
        assert!(p.add("c", part(0, 4, None)));
        assert_eq!((p.done, p.failed, p.drafted, p.skipped), (2, 1, 4, 5));
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"total": 3, "done": 2, "drafted": 4, "skipped": 5, "failed": 1,
                "errors": [{"accountId": "b", "code": "mono_error"}]})
        );
    }

    #[test]
    fn errors_keep_the_first_hundred() {
        let mut p = StoredProgress {
            total: 150,
            ..StoredProgress::default()
        };
        for i in 0..150 {
            p.add(&format!("acc_{i}"), part(0, 0, Some("mono_error")));
        }
        assert_eq!(p.failed, 150);
        assert_eq!(p.errors.len(), MAX_ERRORS_KEPT);
        assert_eq!(p.errors[0].account_id, "acc_0");
        assert!(p.finished());
    }
}
