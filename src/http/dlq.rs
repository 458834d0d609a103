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
    tag = "dlq",
    summary = "List DLQ records, newest first",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`"), ("status" = Option<String>, Query, description = "Filter or paging: `status`"), ("reason" = Option<String>, Query, description = "Filter or paging: `reason`"), ("accountId" = Option<String>, Query, description = "Filter or paging: `accountId`"), ("from" = Option<String>, Query, description = "Filter or paging: `from`"), ("to" = Option<String>, Query, description = "Filter or paging: `to`"), ("limit" = Option<i64>, Query, description = "Filter or paging: `limit`"), ("before" = Option<String>, Query, description = "Filter or paging: `before`")),
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
    _env_id: Option<serde_json::Value>,
    #[serde(default, rename = "env")]
    _env: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/si/mono/dlq/{id}/replay",
    tag = "dlq",
    summary = "Replay one record through the current rules",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    request_body(content = EnvOnly),
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
    request_body(content = serde_json::Value, description = "JSON body", example = json!({"resolution":"ignored","note":"personal transfer"})),
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
    request_body(content = serde_json::Value, description = "JSON body", example = json!({"add":[{"list":"deny","pattern":"POS","field":"narration","match":"contains"}]})),
    responses((status = 200, description = "Preview what a rule change would do to recent transactions", body = crate::http::openapi::EnvelopeOf<Preview>)),
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
    request_body(content = serde_json::Value, description = "JSON body", example = json!({"reason":"not_revenue","from":"2026-11-01"})),
    responses(
        (status = 202, description = "Queued", body = crate::http::openapi::EnvelopeOf<BulkReplayStarted>),
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
