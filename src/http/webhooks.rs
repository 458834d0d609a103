//! `POST /si/mono/webhook` (Mono's deliveries: no bearer key, authenticated by the secret
//! header or the signature), `GET /si/mono/webhook-status` and `GET /si/mono/jobs/{id}`.

use axum::extract::State;
use axum::http::HeaderMap;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::{ApiPath, RawBody};
use crate::services::job_status::{self, JobRow};
use crate::services::webhooks::intake::{self, Receipt};
use crate::services::webhooks::status::{self, WebhookStatus};
use crate::state::AppState;
use crate::tenancy::Tenant;
use mono::signature::{self, PresentedAuth};

/// The body is taken as bytes, untouched: the signature covers exactly what arrived.
#[utoipa::path(
    post,
    path = "/si/mono/webhook",
    tag = "webhooks",
    summary = "Receive a Mono webhook event",
    request_body(content = serde_json::Value, description = "JSON body", example = json!({"event":"mono.events.account_updated","data":{"account":{"_id":"65f1c0ffee0000000000abcd"},"meta":{"data_status":"AVAILABLE"}}})),
    responses((status = 200, description = "Receive a Mono webhook event", body = crate::http::openapi::EnvelopeOf<Receipt>)),
)]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Envelope<Receipt>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = PresentedAuth {
        webhook_secret: header(signature::HEADER_WEBHOOK_SECRET),
        timestamp: header(signature::HEADER_TIMESTAMP),
        signature: header(signature::HEADER_SIGNATURE),
    };
    let receipt = intake::receive(&state, auth, &body).await?;
    let message = if receipt.duplicate {
        "Webhook already received"
    } else {
        "Webhook received"
    };
    Ok(Envelope::ok(message, receipt))
}

#[utoipa::path(
    get,
    path = "/si/mono/webhook-status",
    tag = "webhooks",
    summary = "Recent webhook deliveries and queue state",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "Recent webhook deliveries and queue state", body = crate::http::openapi::EnvelopeOf<WebhookStatus>)),
)]
pub async fn status(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Envelope<WebhookStatus>, ApiError> {
    Ok(Envelope::ok(
        "Webhook status",
        status::status(&state, &tenant).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/si/mono/jobs/{id}",
    tag = "webhooks",
    summary = "A background job and its progress",
    description = "A job of the caller's environment: `{id, kind, status: queued|running|done|failed, progress, attempts, error?, createdAt, finishedAt?}`. `progress` by kind: `sync_stored` (a sync of every stored account) `{total, done, drafted, skipped, failed, errors: [{accountId, code}]}` (the first 100 errors; `done` when `done + failed = total`); `dlq_replay` `{processed, drafted, reconciled, stillOpen, errors, afterSeq}`; `mbs_bulk_sign` `{taken, handled, signed, pending, skipped, failed, errors}`; `sync` one account's sync outcome. The bulk kinds (`sync_stored`, `dlq_replay`, `mbs_bulk_sign`) have at most one unfinished job per environment.",
    params(("id" = uuid::Uuid, Path, description = "The resource id"), ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "A background job and its progress", body = crate::http::openapi::EnvelopeOf<JobRow>)),
)]
pub async fn job(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<JobRow>, ApiError> {
    Ok(Envelope::ok("Job", job_status::get(&state, &tenant, id).await?))
}
