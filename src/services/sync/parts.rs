//! A sync-stored bulk job's accounting: what each account's part (its sync job) adds up
//! while it runs (`Tally`, on the part's own row, page by page), how it ended (`Part`), and
//! counting that end in the bulk job's `progress` ([`count_part`]) inside the transaction
//! that records the part's end. `stored` starts the bulk job; `job` and `walk` report to it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::queue;
use crate::error::ApiError;

/// Errors kept on the bulk job, the first ones (the rest are counted in `failed`).
pub const MAX_ERRORS_KEPT: usize = 100;

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

pub fn to_json(progress: &StoredProgress) -> Result<serde_json::Value, ApiError> {
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
