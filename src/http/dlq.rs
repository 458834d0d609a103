//! `/si/mono/dlq*`: DLQ review (list, replay, resolve) and `/si/mono/allow-deny/preview`.

use axum::extract::State;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiJsonOrEmpty, ApiPath, ApiQuery};
use crate::services::dlq::{
    self, BulkReplayBody, BulkReplayStarted, DlqQuery, DlqRecord, Replayed, ResolveBody,
};
use crate::services::preview::{self, Preview, PreviewBody};
use crate::state::AppState;
use crate::tenancy::Tenant;

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
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvOnly {
    #[serde(default, rename = "envId")]
    _env_id: Option<serde_json::Value>,
    #[serde(default, rename = "env")]
    _env: Option<serde_json::Value>,
}

pub async fn replay(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(_): ApiJsonOrEmpty<EnvOnly>,
) -> Result<Envelope<Replayed>, ApiError> {
    Ok(Envelope::ok(
        "DLQ record replayed",
        dlq::replay(&state, &tenant, id).await?,
    ))
}

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

pub async fn bulk_replay(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<BulkReplayBody>,
) -> Result<(axum::http::StatusCode, Envelope<BulkReplayStarted>), ApiError> {
    let started = dlq::start_bulk_replay(&state, &tenant, body).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Envelope::ok("bulk replay queued", started),
    ))
}
