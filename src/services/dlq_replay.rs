//! Bulk DLQ replay: `POST /si/mono/dlq/replay` queues a `dlq_replay` job over the open records
//! a filter selects; the job replays them in batches (`services::dlq::replay_with`), keeping
//! its progress so a restart resumes after the last record handled.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::dlq;
use crate::domain::RecordReason;
use crate::error::ApiError;
use crate::jobs::{self, BackgroundJob, JobContext, Ran};
use crate::services::dlq::{replay_with, RecordFilter};
use crate::services::settings::load_policy;
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::Outcome;

/// Records one bulk-replay batch handles before it records its progress.
pub const REPLAY_BATCH: i64 = 500;

/// `POST /si/mono/dlq/replay` body: the filter, plus the environment selectors.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"reason": "personal_or_low_confidence", "from": "2026-11-01"}))]
pub struct BulkReplayBody {
    #[schema(value_type = Option<crate::vocab::Reason>)]
    reason: Option<String>,
    account_id: Option<String>,
    /// Records created on or after this day.
    #[schema(value_type = Option<crate::vocab::DateBound>)]
    from: Option<String>,
    /// Records created on or before this day.
    #[schema(value_type = Option<crate::vocab::DateBound>)]
    to: Option<String>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<serde_json::Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkReplayStarted {
    pub job_id: Uuid,
    /// Open records the filter selected when the job was queued.
    pub taken: i64,
}

/// Queues a bulk replay of the open records `body` selects; 409 `job_running` (with its
/// `jobId`) while the environment's previous one is unfinished.
pub async fn start_bulk_replay(
    state: &AppState,
    tenant: &Tenant,
    body: BulkReplayBody,
) -> Result<BulkReplayStarted, ApiError> {
    let filter = RecordFilter {
        reason: body.reason,
        account_id: body.account_id,
        from: body.from,
        to: body.to,
    };
    let db_filter = filter.to_db()?;
    jobs::ensure_no_bulk::<DlqReplayJob>(&state.db, tenant).await?;
    let taken = dlq::count_open(&state.db, tenant, &db_filter).await?;
    let job = DlqReplayJob {
        filter,
        env: tenant.env.as_str().to_owned(),
    };
    let mut conn = state.db.acquire().await?;
    let job_id = jobs::enqueue(&mut conn, tenant, &job).await?.id;
    jobs::wake(state, DlqReplayJob::LANE);
    Ok(BulkReplayStarted { job_id, taken })
}

/// Progress of a bulk replay, kept on its job after every batch so a restart resumes after
/// the last record handled.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DlqReplayProgress)]
pub struct ReplayProgress {
    processed: u64,
    drafted: u64,
    #[serde(default)]
    reconciled: u64,
    still_open: u64,
    errors: u64,
    after_seq: i64,
}

/// Replay the open records a filter selects, in batches, resumable from its progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DlqReplayJob {
    pub filter: RecordFilter,
    /// The environment's name (`sandbox`, `production`).
    pub env: String,
}

impl BackgroundJob for DlqReplayJob {
    const KIND: &'static str = "dlq_replay";
    const BULK: bool = true;

    /// Batches of open records in `seq` order after the last one handled, each record
    /// replayed in its own short transaction under the policy of the job's start.
    async fn run(self, ctx: JobContext) -> Result<Ran, ApiError> {
        let tenant = ctx.tenant(&self.env)?;
        let state = &ctx.state;
        let filter = self.filter.to_db()?;
        let mut progress: ReplayProgress = ctx.progress();
        let policy = load_policy(state, &tenant).await?;
        loop {
            let batch = dlq::open_ids(&state.db, &tenant, &filter, progress.after_seq, REPLAY_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for (id, seq) in &batch {
                match replay_with(state, &tenant, &policy, *id).await {
                    Ok(r) if r.outcome == Outcome::Draft => progress.drafted += 1,
                    // It paid the invoice its reference names.
                    Ok(r) if r.reason == RecordReason::Reconciled.as_str() => progress.reconciled += 1,
                    Ok(_) => progress.still_open += 1,
                    // Resolved by hand meanwhile: nothing to do.
                    Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound(_)) => {}
                    Err(e) => {
                        progress.errors += 1;
                        tracing::warn!(job_id = %ctx.job.id, record = %id, error = %e, "bulk replay of a record failed");
                    }
                }
                progress.processed += 1;
                progress.after_seq = *seq;
            }
            ctx.save_progress(&progress).await?;
            tracing::info!(
                job_id = %ctx.job.id,
                processed = progress.processed,
                drafted = progress.drafted,
                still_open = progress.still_open,
                "bulk replay progress"
            );
            if state.shutdown.is_cancelled() {
                // Stopped between batches: the job's lease lapses and a worker resumes it.
                return Err(ApiError::internal(anyhow::anyhow!(
                    "shutting down mid bulk replay"
                )));
            }
        }
        Ok(Ran::Done(
            serde_json::to_value(&progress).map_err(ApiError::internal)?,
        ))
    }
}
