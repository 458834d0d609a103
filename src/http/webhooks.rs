//! `POST /si/mono/webhook` (Mono's deliveries: no bearer key, authenticated by the secret
//! header or the signature), `GET /si/mono/webhook-status` and `GET /si/mono/jobs/{id}`.

use axum::extract::State;
use axum::http::HeaderMap;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::{ApiPath, PeerAddr, RawBody};
use crate::services::job_status::{self, JobView};
use crate::services::webhooks::intake::{self, Receipt};
use crate::services::webhooks::status::{self, WebhookStatus};
use crate::state::AppState;
use crate::tenancy::Tenant;
use mono::signature::{self, PresentedAuth};

/// A Mono webhook delivery as Mono sends it (MONO.md): the event's name and its data.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the body, which is read as bytes
pub struct MonoDelivery {
    /// `mono.events.account_updated`, `mono.events.account_connected`, ...
    event: String,
    /// The event's data as Mono sends it (`account`, `meta`, ...).
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// The body is taken as bytes, untouched: the signature covers exactly what arrived. The
/// source of a refusal is the socket peer (no proxy header is trusted).
#[utoipa::path(
    post,
    path = "/si/mono/webhook",
    tag = "webhooks",
    summary = "Receive a Mono webhook event",
    description = "Authenticated by `mono-webhook-secret`, or by `x-mono-timestamp` with \
`x-mono-signature`. A refused delivery (401) is counted in webhook-status (`last24h.rejected`, \
`lastFailure`) and in `webhook_refusals_total`, and is not stored. Refusals are limited per \
source address (the connection's peer): past `MONO_WEBHOOK_REFUSAL_BURST` at once or \
`MONO_WEBHOOK_REFUSAL_LIMIT` a minute, they answer 429 with `Retry-After` instead; a delivery \
that authenticates is never limited. A duplicate's `outcome` is what became of the first copy: \
`queued` while it waits or is retried, `processed`, or `ignored` (also when its processing \
failed for good).",
    request_body(content = MonoDelivery, example = json!({"event":"mono.events.account_updated","data":{"account":{"_id":"65f1c0ffee0000000000abcd"},"meta":{"data_status":"AVAILABLE"}}})),
    responses(
        (status = 200, description = "Receive a Mono webhook event", body = crate::http::openapi::EnvelopeOf<Receipt>),
        (status = 401, description = "The secret or signature is missing or wrong (counted, not stored)", body = crate::http::openapi::Failure),
        (status = 429, description = "Too many refused deliveries from this source address; `Retry-After` (seconds) says when to try again", body = crate::http::openapi::Failure,
            headers(("Retry-After" = u64, description = "Seconds until this address may be refused again"))),
    ),
)]
pub async fn receive(
    State(state): State<AppState>,
    PeerAddr(source): PeerAddr,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Envelope<Receipt>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = PresentedAuth {
        webhook_secret: header(signature::HEADER_WEBHOOK_SECRET),
        timestamp: header(signature::HEADER_TIMESTAMP),
        signature: header(signature::HEADER_SIGNATURE),
    };
    let receipt = intake::receive_from(&state, auth, &body, source).await?;
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
    responses((status = 200, description = "A background job and its progress", body = crate::http::openapi::EnvelopeOf<JobView>)),
)]
pub async fn job(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<JobView>, ApiError> {
    Ok(Envelope::ok("Job", job_status::get(&state, &tenant, id).await?))
}
