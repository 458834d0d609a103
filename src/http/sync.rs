//! `/si/mono/sync`, `/si/mono/sync-stored`, `/si/mono/cursor`, `/si/mono/events`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::MonoAccountId;
use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::services::cursor::Cursor;
use crate::services::events::{self, EventsQuery};
use crate::services::sync::stored::{self, SyncStoredAccepted};
use crate::services::sync::walk::{
    self, CursorView, SyncOutcome, SyncRequest, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
use crate::state::AppState;
use crate::tenancy::Tenant;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncBody {
    account_id: String,
    cursor: Option<String>,
    /// Transactions per page from Mono, 1 to 500 (default 100).
    #[schema(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::http::extract::whole_number")]
    page_size: Option<i64>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

fn page_size(v: Option<i64>) -> Result<u32, ApiError> {
    match v {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE as i64).contains(&n) => Ok(n as u32),
        Some(_) => Err(ApiError::field(
            "pageSize",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        )),
    }
}

#[utoipa::path(
    post,
    path = "/si/mono/sync",
    tag = "sync",
    summary = "Sync one account: fetch new transactions and classify them",
    request_body(content = SyncBody, example = json!({"accountId":"65f1c0ffee0000000000abcd"})),
    responses((status = 200, description = "Sync one account: fetch new transactions and classify them", body = crate::http::openapi::EnvelopeOf<SyncOutcome>)),
)]
pub async fn sync(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<SyncBody>,
) -> Result<Envelope<SyncOutcome>, ApiError> {
    let account_id = MonoAccountId::parse(&body.account_id).map_err(|e| ApiError::field("accountId", e))?;
    let cursor = match body.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            Cursor::parse(c)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this service issued"))?,
        ),
    };
    let req = SyncRequest {
        account_id,
        cursor,
        page_size: page_size(body.page_size)?,
        tally_of: None,
    };
    let outcome = walk::sync_account(&state, &tenant, req).await?;
    Ok(Envelope::ok("sync completed", outcome))
}

/// `POST /si/mono/sync-stored` body: nothing but the environment, which may also come in
/// the query string.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncStoredBody {
    /// The environment's id (default: the key's default environment).
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    /// The environment's name, `sandbox` or `production`.
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

#[utoipa::path(
    post,
    path = "/si/mono/sync-stored",
    tag = "sync",
    summary = "Sync every linked account of the environment, in the background",
    description = "Body `{}` plus the environment (it may be left out). Queues a sync of every linked account of the environment on the background job lanes (the sync jobs of the scheduled round: `MONO_SYNC_CONCURRENCY` per replica, the shared `MONO_MAX_RPS` budget, organizations taken in turn, every replica working) and answers 202 `{jobId, accounts}`. `GET /si/mono/jobs/{jobId}` shows `progress: {total, done, drafted, skipped, failed, errors: [{accountId, code}]}` (the first 100 errors) until `status` is `done` (`done + failed = total`). An account whose sync is already queued is joined; one whose sync is running goes round once more and that round is counted: each account once. Unlinked accounts are not synced. One sync of every stored account per environment at a time: another is 409 `job_running` with its `jobId`.",
    request_body(content = Option<SyncStoredBody>, description = "Optional: only the environment may be named"),
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses(
        (status = 202, description = "Queued: the bulk job and the number of accounts in it", body = crate::http::openapi::EnvelopeOf<SyncStoredAccepted>),
        (status = 409, description = "The environment's previous sync of every stored account is still running (`job_running`, `error.jobId`)", body = crate::http::openapi::Failure),
    ),
)]
pub async fn sync_stored(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJsonOrEmpty(_body): ApiJsonOrEmpty<SyncStoredBody>,
) -> Result<Envelope<SyncStoredAccepted>, ApiError> {
    Ok(Envelope::accepted(
        "sync of every stored account queued",
        stored::start(&state, &tenant).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct CursorQuery {
    account_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/si/mono/cursor",
    tag = "sync",
    summary = "Where sync resumes for an account",
    params(CursorQuery, ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "Where sync resumes for an account", body = crate::http::openapi::EnvelopeOf<CursorView>)),
)]
pub async fn cursor(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<CursorQuery>,
) -> Result<Envelope<CursorView>, ApiError> {
    let account_id = q
        .account_id
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ApiError::field("accountId", "is required"))?;
    let view = walk::cursor_of(&state, &tenant, &account_id).await?;
    Ok(Envelope::ok("cursor retrieved", view))
}

#[utoipa::path(
    get,
    path = "/si/mono/events",
    tag = "sync",
    summary = "The event log: what happened to each transaction",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`"), ("accountId" = Option<String>, Query, description = "Filter or paging: `accountId`"), ("outcome" = Option<crate::vocab::Outcome>, Query, description = "Only eligibility events with this outcome"), ("reason" = Option<crate::vocab::Reason>, Query, description = "Only events with this reason"), ("kind" = Option<crate::vocab::EventKind>, Query, description = "Which events: `eligibility` (default) or `invoice_failed`"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, 1 to 200 (default 50)"), ("before" = Option<String>, Query, pattern = r"^[1-9][0-9]{0,17}$", description = "`meta.next` of the page before")),
    responses((status = 200, description = "The event log: what happened to each transaction", body = crate::http::openapi::PageOf<crate::services::events::Event>)),
)]
pub async fn events(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Envelope<Vec<crate::services::events::Event>>, ApiError> {
    let (data, next) = events::list(&state, &tenant, q).await?;
    Ok(Envelope::ok("events retrieved", data).with_meta(PageMeta {
        total: None,
        pages: None,
        previous: None,
        next,
    }))
}
