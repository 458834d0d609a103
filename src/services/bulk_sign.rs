//! Bulk submission (`POST /si/invoices/sign`): the VALIDATED invoices named (`ids`) or
//! selected (`status: VALIDATED` with `accountId`, `from`, `to`) when asked are submitted to
//! MBS by one background job per environment at a time, under `MBS_MAX_RPS` (the shared
//! request budget paces every call). Each invoice goes through `submission::sign`, so the
//! one-submission rule holds as for a single sign; the job records its progress so a restart
//! resumes after the last invoice handled.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db;
use crate::error::{ApiError, FieldErrors};
use crate::jobs::{self, BackgroundJob, JobContext, Ran};
use crate::services::submission::{self, Signed};
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Most invoices one bulk submission takes.
pub const MAX_TAKEN: i64 = 10_000;
/// Invoices handled between two records of progress.
const CHUNK: usize = 100;
/// Sign calls one bulk submission has in flight at most.
const MAX_IN_FLIGHT: usize = 8;
/// Errors kept on the job for the caller to read (the rest are counted).
const MAX_ERRORS_KEPT: usize = 50;

/// `POST /si/invoices/sign` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"status": "VALIDATED", "from": "2026-03-01", "to": "2026-03-31"}))]
pub struct BulkSignBody {
    /// The invoices to submit (at most 10,000); or else a filter:
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    ids: Option<Vec<String>>,
    /// Only `VALIDATED` invoices are submitted.
    #[schema(value_type = Option<crate::vocab::SignableStatus>)]
    status: Option<String>,
    account_id: Option<String>,
    /// Issue date, from (inclusive).
    #[schema(value_type = Option<chrono::NaiveDate>)]
    from: Option<String>,
    /// Issue date, to (inclusive).
    #[schema(value_type = Option<chrono::NaiveDate>)]
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
pub struct BulkSignStarted {
    pub job_id: Uuid,
    /// VALIDATED invoices the request selected, which the job submits.
    pub taken: i64,
}

/// Queues the bulk submission of what `body` selects; 409 `job_running` (with its `jobId`)
/// while the environment's previous one is unfinished.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    body: BulkSignBody,
) -> Result<BulkSignStarted, ApiError> {
    let selection = parse(body)?;
    crate::services::mbs_resources::client(state)?;
    jobs::ensure_no_bulk::<BulkSignJob>(&state.db, tenant).await?;
    let ids = db::invoices::validated_ids(
        &state.db,
        tenant,
        selection.ids.as_deref(),
        selection.account_id.as_deref(),
        selection.from,
        selection.to,
        MAX_TAKEN,
    )
    .await?;
    let taken = ids.len() as i64;
    let job = BulkSignJob {
        env: tenant.env.as_str().to_owned(),
        ids,
    };
    // A bulk kind: the insert answers 409 `job_running` when another request got there first.
    let mut conn = state.db.acquire().await?;
    let queued = jobs::enqueue(&mut conn, tenant, &job).await?;
    jobs::wake(state, BulkSignJob::LANE);
    Ok(BulkSignStarted {
        job_id: queued.id,
        taken,
    })
}

struct Selection {
    ids: Option<Vec<Uuid>>,
    account_id: Option<String>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

fn parse(body: BulkSignBody) -> Result<Selection, ApiError> {
    let mut bad = FieldErrors::new();
    let date = |name: &str, v: Option<String>, bad: &mut FieldErrors| {
        let v = v?;
        match chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                bad.insert(name.into(), "must be a date as YYYY-MM-DD".into());
                None
            }
        }
    };
    let from = date("from", body.from, &mut bad);
    let to = date("to", body.to, &mut bad);
    let filtered = body.status.is_some() || body.account_id.is_some() || from.is_some() || to.is_some();
    let ids = match body.ids {
        Some(_) if filtered => {
            bad.insert("ids".into(), "give either ids or a filter, not both".into());
            None
        }
        Some(ids) if ids.is_empty() || ids.len() as i64 > MAX_TAKEN => {
            bad.insert("ids".into(), format!("must hold 1 to {MAX_TAKEN} invoice ids"));
            None
        }
        Some(ids) => {
            let parsed: Result<Vec<Uuid>, _> = ids.iter().map(|i| Uuid::parse_str(i.trim())).collect();
            match parsed {
                Ok(ids) => Some(ids),
                Err(_) => {
                    bad.insert("ids".into(), "must be invoice ids (UUIDs)".into());
                    None
                }
            }
        }
        None => {
            match body.status.as_deref().map(str::trim) {
                Some(s) if s.eq_ignore_ascii_case("VALIDATED") => {}
                Some(_) => {
                    bad.insert("status".into(), "only VALIDATED invoices are submitted".into());
                }
                None => {
                    bad.insert(
                        "status".into(),
                        "give ids, or the filter's status: VALIDATED".into(),
                    );
                }
            }
            None
        }
    };
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            bad.insert("to".into(), "must not be before `from`".into());
        }
    }
    if bad.is_empty() {
        Ok(Selection {
            ids,
            account_id: body
                .account_id
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
            from,
            to,
        })
    } else {
        Err(ApiError::fields(bad))
    }
}

/// What a bulk submission has done so far.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BulkSignProgress)]
pub struct Progress {
    taken: usize,
    /// Invoices handled (the job resumes after them).
    handled: usize,
    signed: usize,
    /// Submitted with the outcome not known yet: each settled by its own settle job.
    pending: usize,
    /// No longer VALIDATED when their turn came (signed or moved meanwhile).
    skipped: usize,
    failed: usize,
    errors: Vec<ItemError>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BulkSignError)]
pub struct ItemError {
    invoice_id: Uuid,
    code: String,
    error: String,
}

/// Submits the invoices taken, a few at once: as many as the budget lets through, for MBS's
/// latency not to be the limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkSignJob {
    pub env: String,
    pub ids: Vec<Uuid>,
}

impl BackgroundJob for BulkSignJob {
    const KIND: &'static str = "mbs_bulk_sign";
    const MAX_ATTEMPTS: i32 = 5;
    const BULK: bool = true;

    async fn run(self, ctx: JobContext) -> Result<Ran, ApiError> {
        let tenant = ctx.tenant(&self.env)?;
        let state = ctx.state.clone();
        let mut progress: Progress = ctx.progress();
        progress.taken = self.ids.len();
        // Enough calls in flight for MBS's latency not to be the limit (the budget paces
        // them), few enough to leave the database pool to the rest of the service.
        let at_once = match state.settings.mbs.max_rps {
            0 => MAX_IN_FLIGHT,
            rps => (rps as usize).clamp(1, MAX_IN_FLIGHT),
        };
        while progress.handled < self.ids.len() {
            if state.shutdown.is_cancelled() {
                return Ok(Ran::Retry {
                    code: "shutting_down",
                    error: "the service is shutting down".into(),
                    after: std::time::Duration::from_secs(1),
                });
            }
            let end = (progress.handled + CHUNK).min(self.ids.len());
            let chunk = &self.ids[progress.handled..end];
            let outcomes: Vec<(Uuid, Result<Signed, ApiError>)> =
                futures::stream::iter(chunk.iter().copied())
                    .map(|id| {
                        let state = &state;
                        let tenant = &tenant;
                        async move { (id, submission::sign(state, tenant, id).await) }
                    })
                    .buffer_unordered(at_once)
                    .collect()
                    .await;
            for (id, outcome) in outcomes {
                match outcome {
                    Ok(Signed::Accepted(_)) => progress.signed += 1,
                    Ok(Signed::Pending(_)) => progress.pending += 1,
                    Err(e) if e.code() == "invalid_transition" || e.code() == "not_found" => {
                        progress.skipped += 1
                    }
                    Err(e) => {
                        progress.failed += 1;
                        if progress.errors.len() < MAX_ERRORS_KEPT {
                            progress.errors.push(ItemError {
                                invoice_id: id,
                                code: e.code().to_owned(),
                                error: e.to_string(),
                            });
                        }
                    }
                }
            }
            progress.handled = end;
            ctx.save_progress(&progress).await?;
        }
        Ok(Ran::Done(
            serde_json::to_value(&progress).map_err(ApiError::internal)?,
        ))
    }
}
