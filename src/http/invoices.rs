//! `/si/invoices/*`: the review list, one invoice, its transitions, and the public key its
//! signatures verify with.

use axum::extract::State;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJsonOrEmpty, ApiPath, ApiQuery};
use crate::services::invoices::{self, ConfirmBody, InvoiceView, ListQuery};
use crate::services::submission;
use crate::signing::PublicKey;
use crate::state::AppState;
use crate::tenancy::Tenant;

#[utoipa::path(
    get,
    path = "/si/invoices",
    operation_id = "list_invoices",
    tag = "invoices",
    summary = "List drafted invoices, newest first",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`"), ("status" = Option<crate::invoice::InvoiceStatus>, Query, description = "Only invoices in this state"), ("accountId" = Option<String>, Query, description = "Only this account's invoices"), ("kind" = Option<crate::invoice::InvoiceKind>, Query, description = "`invoice` or `credit_note`"), ("paymentStatus" = Option<crate::invoice::PaymentStatus>, Query, description = "Only invoices with this payment status"), ("from" = Option<chrono::NaiveDate>, Query, description = "Issue date, from (inclusive)"), ("to" = Option<chrono::NaiveDate>, Query, description = "Issue date, to (inclusive)"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, 1 to 200 (default 50)"), ("before" = Option<String>, Query, pattern = r"^-?[0-9]{1,16}_[0-9a-f]{32}$", description = "`meta.next` of the page before")),
    responses((status = 200, description = "List drafted invoices, newest first", body = crate::http::openapi::PageOf<InvoiceView>)),
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Envelope<Vec<InvoiceView>>, ApiError> {
    let (data, next) = invoices::list(&state, &tenant, q).await?;
    Ok(Envelope::ok("invoices retrieved", data).with_meta(PageMeta {
        total: None,
        pages: None,
        previous: None,
        next,
    }))
}

#[utoipa::path(
    get,
    path = "/si/invoices/{id}",
    operation_id = "get_invoice",
    tag = "invoices",
    summary = "One invoice",
    params(("id" = uuid::Uuid, Path, description = "The resource id"), ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "One invoice", body = crate::http::openapi::EnvelopeOf<InvoiceView>)),
)]
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<InvoiceView>, ApiError> {
    Ok(Envelope::ok(
        "invoice retrieved",
        invoices::get(&state, &tenant, id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/invoices/{id}/confirm",
    tag = "invoices",
    summary = "Confirm a draft",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    request_body(content = Option<ConfirmBody>, description = "Optional corrections of what the draft says"),
    responses((status = 200, description = "Confirm a draft", body = crate::http::openapi::EnvelopeOf<InvoiceView>)),
)]
pub async fn confirm(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<ConfirmBody>,
) -> Result<Envelope<InvoiceView>, ApiError> {
    Ok(Envelope::ok(
        "invoice confirmed",
        invoices::confirm(&state, &tenant, id, body).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/invoices/{id}/discard",
    tag = "invoices",
    summary = "Discard a draft",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    responses((status = 200, description = "Discard a draft", body = crate::http::openapi::EnvelopeOf<InvoiceView>)),
)]
pub async fn discard(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<InvoiceView>, ApiError> {
    Ok(Envelope::ok(
        "invoice discarded",
        invoices::discard(&state, &tenant, id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/invoices/{id}/validate",
    tag = "invoices",
    summary = "Validate an invoice as an e-invoice, here and at MBS",
    description = "Checks everything MBS requires of the invoice and the organization profile and names every problem at once (400 `invalid_invoice`, `error.fields`); then fixes the IRN (`{invoiceNumber}-{serviceId}-{YYYYMMDD}`, never changed after) and asks MBS to validate the IRN and the invoice. MBS's refusal is a 400 `invalid_invoice` naming the field, with MBS's text in `error.mbs`; MBS unreachable is a 503 `mbs_unavailable` or 504 `mbs_timeout`. In every failure the invoice is unchanged.",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    responses(
        (status = 200, description = "The invoice, VALIDATED", body = crate::http::openapi::EnvelopeOf<InvoiceView>),
        (status = 400, description = "What keeps it from being a valid e-invoice", body = crate::http::openapi::Failure),
        (status = 503, description = "MBS could not be reached", body = crate::http::openapi::Failure),
        (status = 504, description = "MBS did not answer in time", body = crate::http::openapi::Failure),
    ),
)]
pub async fn validate(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<InvoiceView>, ApiError> {
    Ok(Envelope::ok(
        "invoice validated",
        submission::validate(&state, &tenant, id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/invoices/{id}/sign",
    tag = "invoices",
    summary = "Submit a validated invoice to MBS (sign)",
    description = "Submits the invoice to MBS (its `sign` call: the submission). Accepted: 200 `SIGNED` with `submission.status: accepted`, `signedPayload` (the exact MBS payload) and `signature` (the service's Ed25519 seal over its RFC 8785 bytes). Refused: 400 `invalid_invoice` naming the field (or 409 `duplicate_irn`), the invoice still VALIDATED. Outcome unknown (timeout, 5xx, connection lost): the service asks MBS (`confirm`) at once; if that does not settle it, 202 with `submission.status: unknown`, and a background job settles it, never sending the invoice twice.",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    responses(
        (status = 200, description = "The invoice, SIGNED", body = crate::http::openapi::EnvelopeOf<InvoiceView>),
        (status = 202, description = "Submitted; the outcome is not known yet (`submission.status: unknown`)", body = crate::http::openapi::EnvelopeOf<InvoiceView>),
        (status = 400, description = "MBS refused the invoice", body = crate::http::openapi::Failure),
        (status = 409, description = "Not VALIDATED, or a duplicate IRN", body = crate::http::openapi::Failure),
    ),
)]
pub async fn sign(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<InvoiceView>, ApiError> {
    Ok(match submission::sign(&state, &tenant, id).await? {
        submission::Signed::Accepted(view) => Envelope::ok("invoice signed", view),
        submission::Signed::Pending(view) => Envelope::accepted(
            "invoice submitted; MBS's answer is not known yet and will be settled in the background",
            view,
        ),
    })
}

#[utoipa::path(
    post,
    path = "/si/invoices/sign",
    tag = "invoices",
    summary = "Submit many validated invoices to MBS in the background",
    description = "`{ids}` (1 to 10,000 invoice ids) or a filter `{status: \"VALIDATED\", accountId?, from?, to?}` (issue dates). The VALIDATED invoices selected now are submitted by one background job (`GET /si/mono/jobs/{id}` shows `progress`: `taken`, `handled`, `signed`, `pending`, `skipped`, `failed`, `errors`), under `MBS_MAX_RPS`, each exactly as `POST /si/invoices/{id}/sign` would. One bulk submission per environment at a time: another is 409 `job_running` with its `jobId`.",
    request_body(content = crate::services::bulk_sign::BulkSignBody, description = "The invoices to submit: `ids`, or a filter"),
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses(
        (status = 202, description = "Queued", body = crate::http::openapi::EnvelopeOf<crate::services::bulk_sign::BulkSignStarted>),
        (status = 400, description = "A bad selection, each bad field named", body = crate::http::openapi::Failure),
        (status = 409, description = "The environment's previous bulk submission is still running (`job_running`, `error.jobId`)", body = crate::http::openapi::Failure),
    ),
)]
pub async fn bulk_sign(
    State(state): State<AppState>,
    tenant: Tenant,
    crate::http::extract::ApiJson(body): crate::http::extract::ApiJson<
        crate::services::bulk_sign::BulkSignBody,
    >,
) -> Result<Envelope<crate::services::bulk_sign::BulkSignStarted>, ApiError> {
    Ok(Envelope::accepted(
        "bulk submission queued",
        crate::services::bulk_sign::start(&state, &tenant, body).await?,
    ))
}

/// `?format=svg|png`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct QrQuery {
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/si/invoices/{id}/qr",
    tag = "invoices",
    summary = "The QR code of a signed invoice",
    description = "The QR code MBS.md describes: the standard base64 of the organization's MBS public key's RSA (PKCS#1 v1.5) encryption of `{\"irn\": \"<IRN>.<unix seconds>\", \"certificate\": …}`, as SVG (default) or PNG. 409 `crypto_keys_missing` until the organization uploaded its crypto keys; 409 `invalid_transition` for an invoice not SIGNED.",
    params(
        ("id" = uuid::Uuid, Path, description = "The resource id"),
        ("format" = Option<crate::vocab::QrFormat>, Query, description = "`svg` (default) or `png`"),
    ),
    responses(
        (status = 200, description = "The QR code", content_type = "image/svg+xml", body = String),
        (status = 409, description = "Not signed, or no crypto keys", body = crate::http::openapi::Failure),
    ),
)]
pub async fn qr(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let png = match q.format.as_deref().map(str::trim) {
        None | Some("") | Some("svg") => false,
        Some("png") => true,
        Some(_) => return Err(ApiError::field("format", "must be svg or png")),
    };
    let code = submission::qr(&state, &tenant, id).await?;
    let cache = (axum::http::header::CACHE_CONTROL, "no-store");
    Ok(if png {
        ([(axum::http::header::CONTENT_TYPE, "image/png"), cache], code.png).into_response()
    } else {
        (
            [(axum::http::header::CONTENT_TYPE, "image/svg+xml"), cache],
            code.svg,
        )
            .into_response()
    })
}

#[utoipa::path(
    get,
    path = "/si/invoices/{id}/document",
    tag = "invoices",
    summary = "The invoice as a printable HTML page",
    description = "One self-contained HTML page (no outside assets): supplier, buyer, lines, VAT, totals, the IRN and, for a SIGNED invoice of an organization with crypto keys, the QR code inline as SVG. Fit to hand to a buyer or print.",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    responses((status = 200, description = "The page", content_type = "text/html", body = String)),
)]
pub async fn document(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let page = submission::document(&state, &tenant, id).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response())
}

/// Any valid key may read it; the key is the same for every organization.
#[utoipa::path(
    get,
    path = "/si/invoices/signing-key",
    tag = "invoices",
    summary = "The public key invoice signatures verify with",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "The public key invoice signatures verify with", body = crate::http::openapi::EnvelopeOf<PublicKey>)),
)]
pub async fn signing_key(State(state): State<AppState>, _tenant: Tenant) -> Envelope<PublicKey> {
    Envelope::ok("signing key retrieved", invoices::signing_key(&state))
}
