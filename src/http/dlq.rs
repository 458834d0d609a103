//! `/si/mono/dlq*`: DLQ review (list, replay, resolve) and `/si/mono/allow-deny/preview`.

use axum::extract::State;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiJsonOrEmpty, ApiPath, ApiQuery};
use crate::services::dlq::{self, DlqQuery, DlqRecord, Replayed, ResolveBody};
use crate::services::dlq_replay::{self, BulkReplayBody, BulkReplayStarted};
use crate::services::preview::{self, Preview, PreviewBody};
use crate::state::AppState;
use crate::tenancy::Tenant;

#[utoipa::path(
    get,
    path = "/si/mono/dlq",
    operation_id = "list_dlq",
    tag = "dlq",
    summary = "List DLQ records, newest first",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`"), ("status" = Option<crate::vocab::DlqStatus>, Query, description = "`open` (default) or `resolved`"), ("reason" = Option<crate::vocab::Reason>, Query, description = "Only records with this reason"), ("accountId" = Option<String>, Query, description = "Only this account's records"), ("from" = Option<crate::vocab::DateBound>, Query, description = "Created at or after"), ("to" = Option<crate::vocab::DateBound>, Query, description = "Created at or before (a day: the whole day)"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, 1 to 200 (default 50)"), ("before" = Option<String>, Query, pattern = r"^[1-9][0-9]{0,17}$", description = "`meta.next` of the page before")),
    responses((status = 200, description = "List DLQ records, newest first", body = crate::http::openapi::PageOf<DlqRecord>)),
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<DlqQuery>,
) -> Result<Envelope<Vec<DlqRecord>>, ApiError> {
    let (records, next) = dlq::list(&state, &tenant, q).await?;
    Ok(
        Envelope::ok("DLQ records retrieved", records).with_meta(PageMeta {
            total: None,
            pages: None,
            previous: None,
            next,
        }),
    )
}

/// The body is optional (only the environment may be named in it).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvOnly {
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<serde_json::Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/si/mono/dlq/{id}/replay",
    tag = "dlq",
    summary = "Replay one record through the current rules",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    request_body(content = Option<EnvOnly>, description = "Optional: only the environment may be named"),
    responses((status = 200, description = "Replay one record through the current rules", body = crate::http::openapi::EnvelopeOf<Replayed>)),
)]
pub async fn replay(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(_body): ApiJsonOrEmpty<EnvOnly>,
) -> Result<Envelope<Replayed>, ApiError> {
    Ok(Envelope::ok(
        "DLQ record replayed",
        dlq::replay(&state, &tenant, id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/mono/dlq/{id}/resolve",
    tag = "dlq",
    summary = "Resolve a record by hand",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    request_body(content = ResolveBody),
    responses((status = 200, description = "Resolve a record by hand", body = crate::http::openapi::EnvelopeOf<DlqRecord>)),
)]
pub async fn resolve(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Envelope<DlqRecord>, ApiError> {
    Ok(Envelope::ok(
        "DLQ record resolved",
        dlq::resolve(&state, &tenant, id, body).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/mono/allow-deny/preview",
    tag = "rules",
    summary = "Preview what a rule change would do to recent transactions",
    request_body(content = PreviewBody, description = "A rule as `POST /si/mono/allow-deny` takes it, or `{settings}`, with an optional scope"),
    responses(
        (status = 200, description = "Preview what a rule change would do to recent transactions", body = crate::http::openapi::EnvelopeOf<Preview>),
        (status = 422, description = "`preview_too_large`: the scan of the stored transactions ran past `PREVIEW_STATEMENT_TIMEOUT_MS`; narrow it with `accountId`, `from` or `to`", body = crate::http::openapi::Failure),
        (status = 429, description = "`rate_limited`: the API key's rate, or as many previews already running as the environment runs at once (`PREVIEW_CONCURRENCY_PER_ENV`), or the server's previews holding every connection they may (`PREVIEW_CONCURRENCY`); retry after `Retry-After` seconds (also `error.retryAfter`)", body = crate::http::openapi::Failure),
    ),
)]
pub async fn preview(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<PreviewBody>,
) -> Result<Envelope<Preview>, ApiError> {
    Ok(Envelope::ok(
        "preview computed",
        preview::preview(&state, &tenant, body).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/mono/dlq/replay",
    tag = "dlq",
    summary = "Replay every record matching a filter, as a background job",
    description = "A filter `{reason?, accountId?, from?, to?}` over the open records. One background job replays them (`GET /si/mono/jobs/{id}` shows `progress`: `processed`, `drafted`, `reconciled`, `stillOpen`, `errors`); `taken` is how many the filter selected when it was queued. One bulk replay per environment at a time: another is 409 `job_running` with its `jobId`.",
    request_body(content = Option<BulkReplayBody>, description = "The filter: every open record it selects is replayed (no body: every open record)"),
    responses(
        (status = 202, description = "Queued; `GET /si/mono/jobs/{jobId}` shows its progress", body = crate::http::openapi::EnvelopeOf<BulkReplayStarted>),
        (status = 409, description = "The environment's previous bulk replay is still running (`job_running`, `error.jobId`)", body = crate::http::openapi::Failure),
    ),
)]
pub async fn bulk_replay(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<BulkReplayBody>,
) -> Result<Envelope<BulkReplayStarted>, ApiError> {
    Ok(Envelope::accepted(
        "bulk replay queued",
        dlq_replay::start_bulk_replay(&state, &tenant, body).await?,
    ))
}
