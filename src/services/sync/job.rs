//! The queued sync of one account: the `sync` job the worker's sync lane runs, one unfinished
//! per account whoever asks (`account_updated`, a first link, the sweep, sync-stored finding
//! the account busy), and the sweep's statement that queues every due account at once. A
//! request while the account's job is queued rides on it; while it runs, the job goes round
//! once more when it ends, so what arrived during its walk is fetched by the same job.
//!
//! A sync job may be a part of a sync of every stored account (`stored`): a run claimed as
//! one adds each page's counts to the job's tally, and the part's end is counted there with
//! it (`report_to_parent`).

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::db::accounts;
use crate::db::queue;
use crate::domain::MonoAccountId;
use crate::error::ApiError;
use crate::jobs::{self, BackgroundJob, Ended, Enqueued, JobContext, Lane, Ran, Rode};
use crate::services::sync::parts::{self, Part, Tally};
use crate::services::sync::walk::{sync_ready, unlinked, SyncOutcome, SyncRequest, DEFAULT_PAGE_SIZE};
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Sync one account of the environment `env` from its cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncJob {
    pub account_id: String,
    /// The environment's name (`sandbox`, `production`).
    pub env: String,
    /// Who asked first (`link`, `account_updated`, `schedule`, `sync_stored`), for people
    /// reading the job.
    pub trigger: String,
}

impl SyncJob {
    pub fn new(tenant: &Tenant, account_id: &str, trigger: &str) -> Self {
        SyncJob {
            account_id: account_id.to_owned(),
            env: tenant.env.as_str().to_owned(),
            trigger: trigger.to_owned(),
        }
    }
}

impl BackgroundJob for SyncJob {
    const KIND: &'static str = "sync";
    const LANE: Lane = Lane::Sync;
    /// Between attempts the account backs off (`db::accounts::record_sync_failure`).
    const MAX_ATTEMPTS: i32 = 5;

    /// One unfinished sync per account: `db::queue::enqueue_due_syncs` builds the same key.
    fn dedupe_key(&self, tenant: &Tenant) -> Option<String> {
        Some(format!("sync:{}:{}", tenant.env_id, self.account_id))
    }

    async fn run(self, ctx: JobContext) -> Result<Ran, ApiError> {
        let tenant = ctx.tenant(&self.env)?;
        let account_id = MonoAccountId::from_stored(self.account_id);
        // A run claimed as a part of a bulk job adds its pages' counts to its tally.
        let tally_of = ctx.job.parent_id.map(|_| ctx.job.id);
        run_queued(&ctx.state, &tenant, account_id, tally_of).await
    }

    /// The end of the account's part in a sync of every stored account: what its pages
    /// drafted and skipped (its tally, added up as they were written), and synced or failed
    /// with the code that stopped it.
    async fn report_to_parent(
        &self,
        conn: &mut sqlx::PgConnection,
        parent: uuid::Uuid,
        ended: Ended<'_>,
    ) -> Result<(), ApiError> {
        let tally: Tally = serde_json::from_value(ended.tally.clone()).unwrap_or_default();
        let failed = match ended.outcome {
            Ok(progress) => not_synced(progress),
            Err(code) => Some(code.to_owned()),
        };
        let part = Part {
            drafted: tally.drafted,
            skipped: tally.skipped,
            failed,
        };
        parts::count_part(conn, parent, &self.account_id, part).await
    }
}

/// The code of a run that finished without syncing (`{"skipped": "<code>", …}`, written by
/// [`run_queued`]: the data not ready, the account unlinked or gone); None for a sync.
fn not_synced(progress: &serde_json::Value) -> Option<String> {
    progress
        .get("skipped")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Asks for a sync of the account: a new job, or the account's unfinished one (queued: it
/// will see what is new; running: it goes round once more when it ends). Answers the job the
/// request rode on. The caller wakes the sync lane (`jobs::wake`) once its transaction
/// commits.
pub async fn enqueue(
    conn: &mut sqlx::PgConnection,
    tenant: &Tenant,
    account_id: &str,
    trigger: &str,
) -> Result<Enqueued, ApiError> {
    let asked = jobs::enqueue(conn, tenant, &SyncJob::new(tenant, account_id, trigger)).await?;
    if asked.rode != Rode::New {
        tracing::debug!(account_id, trigger, job_id = %asked.id, rode = ?asked.rode, "sync coalesced with the account's unfinished job");
    }
    Ok(asked)
}

/// The sweep: queues a sync of every due account in one statement (marking those running to
/// go round once more); answers what it did.
pub async fn enqueue_due(state: &AppState) -> Result<queue::Swept, ApiError> {
    let swept = queue::enqueue_due_syncs(&state.db, jobs::spec::<SyncJob>()).await?;
    if swept.queued > 0 {
        jobs::wake(state, Lane::Sync);
    }
    Ok(swept)
}

/// How soon a queued sync whose account another session is syncing is tried again.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// How soon a queued sync is tried again after Mono's request budget could not be read.
const BUDGET_RETRY: Duration = Duration::from_secs(5);

/// A queued sync (the sync lane of the job worker): the account's details refreshed from
/// Mono first unless its data is AVAILABLE (so an account stored PROCESSING or PARTIAL moves
/// on by itself), then a sync when Mono has its transactions (AVAILABLE, or PARTIAL with
/// transactions retrieved).
///
/// Done when it synced, or when running it again would not help (data not ready, unlinked,
/// gone); later, without using an attempt, when another session is syncing the account or
/// the sync stopped at its time budget with more to fetch; and on failure the account backs
/// off (`lastSyncError`, `nextSyncAt`), the job retried when the backoff ends. A database
/// outage is the job queue's to retry: it says nothing about the account. Nor does a sync
/// that stopped because the service is shutting down, or because Mono's request budget could
/// not be read: the job goes back to the queue without using an attempt ([`not_the_accounts`]).
async fn run_queued(
    state: &AppState,
    tenant: &Tenant,
    account_id: MonoAccountId,
    tally_of: Option<uuid::Uuid>,
) -> Result<Ran, ApiError> {
    let result = queued_sync(state, tenant, account_id.as_str(), tally_of).await;
    let waiting = result.as_ref().err().and_then(|e| not_the_accounts(state, e));
    if let (Some(waiting), Err(e)) = (waiting, &result) {
        tracing::info!(
            account_id = account_id.as_str(),
            error = %e,
            "queued sync stopped through no fault of the account; queued again"
        );
        let after = if waiting == "mono_budget_unavailable" {
            BUDGET_RETRY
        } else {
            Duration::ZERO
        };
        return Ok(Ran::Later {
            after,
            progress: serde_json::json!({ "waiting": waiting }),
        });
    }
    match result {
        Ok(Queued::Synced(outcome)) => {
            let more = outcome.has_more && outcome.fetched > 0;
            let progress =
                serde_json::to_value(outcome).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
            Ok(if more {
                Ran::Later {
                    after: Duration::ZERO,
                    progress,
                }
            } else {
                Ran::Done(progress)
            })
        }
        Ok(Queued::NotReady(status)) => Ok(Ran::Done(serde_json::json!({
            "skipped": "data_not_ready",
            "dataStatus": status,
        }))),
        Err(ApiError::Conflict {
            code: "sync_in_progress",
            ..
        }) => Ok(Ran::Later {
            after: BUSY_RETRY,
            progress: serde_json::json!({"waiting": "sync_in_progress"}),
        }),
        Err(ApiError::Conflict { code, .. }) => Ok(Ran::Done(serde_json::json!({ "skipped": code }))),
        Err(ApiError::NotFound(_)) => Ok(Ran::Done(serde_json::json!({ "skipped": "not_found" }))),
        // The database, not the account, failed (down, or out of connections): the job
        // queue's own short backoff, and the account is not held back for it.
        Err(e @ ApiError::DatabaseUnavailable(_)) => Err(e),
        Err(e) => {
            let error = e.to_string();
            let after =
                match accounts::record_sync_failure(&state.db, tenant, account_id.as_str(), &error).await? {
                    Some(at) => (at - Utc::now()).to_std().unwrap_or_default(),
                    None => return Ok(Ran::Done(serde_json::json!({ "skipped": "not_found" }))),
                };
            metrics::counter!("sync_account_failures_total").increment(1);
            tracing::warn!(
                account_id = account_id.as_str(),
                error = %error,
                retry_in_secs = after.as_secs(),
                "queued sync failed; the account backs off"
            );
            Ok(Ran::Retry {
                code: e.code(),
                error,
                after,
            })
        }
    }
}

/// Why a sync that failed with `e` stopped through no fault of its account, if it did:
/// `shutting_down` (Mono was not called, or a retry was cut short, because the service is
/// stopping) or `mono_budget_unavailable` (the shared request budget could not be read).
fn not_the_accounts(state: &AppState, e: &ApiError) -> Option<&'static str> {
    match e {
        ApiError::Unavailable {
            code: code @ ("shutting_down" | "mono_budget_unavailable"),
            ..
        } => Some(code),
        // Shutdown ends the wait before a retry with the last answer: Mono's trouble, which
        // the next attempt would have retried, not the account's.
        ApiError::MonoTimeout | ApiError::MonoUpstream { status: None, .. }
            if state.shutdown.is_cancelled() =>
        {
            Some("shutting_down")
        }
        ApiError::MonoUpstream {
            status: Some(status), ..
        } if state.shutdown.is_cancelled() && (*status == 429 || *status >= 500) => Some("shutting_down"),
        _ => None,
    }
}

enum Queued {
    Synced(SyncOutcome),
    /// Mono does not have the transactions yet: the data status it reported.
    NotReady(Option<String>),
}

async fn queued_sync(
    state: &AppState,
    tenant: &Tenant,
    account_id: &str,
    tally_of: Option<uuid::Uuid>,
) -> Result<Queued, ApiError> {
    let account = accounts::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    if account.unlinked_at.is_some() {
        return Err(unlinked());
    }
    let account = if account.data_status.as_deref() == Some("AVAILABLE") {
        account
    } else {
        crate::services::accounts::refresh_from_mono(state, tenant, &account.id, false).await?
    };
    if !account.transactions_ready() {
        return Ok(Queued::NotReady(account.data_status));
    }
    let req = SyncRequest {
        account_id: MonoAccountId::from_stored(account.id.clone()),
        cursor: None,
        page_size: DEFAULT_PAGE_SIZE,
        tally_of,
    };
    Ok(Queued::Synced(sync_ready(state, tenant, &account, req).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::EnvName;
    use uuid::Uuid;

    #[test]
    fn a_sync_job_stores_what_the_sweep_writes() {
        let tenant = Tenant::system(Uuid::nil(), Uuid::max(), EnvName::parse("sandbox").unwrap());
        let job = SyncJob::new(&tenant, "acc_1", "schedule");
        // `db::queue::enqueue_due_syncs` builds these in SQL: the same keys and dedupe key.
        assert_eq!(
            serde_json::to_value(&job).unwrap(),
            serde_json::json!({"accountId": "acc_1", "env": "sandbox", "trigger": "schedule"})
        );
        assert_eq!(
            job.dedupe_key(&tenant).unwrap(),
            format!("sync:{}:acc_1", Uuid::max())
        );
        assert_eq!(jobs::spec::<SyncJob>().lane, Lane::Sync);
    }
}
