//! `/si/invoices/*`: the review list, one invoice, its transitions, and the public key its
//! signatures verify with.

use axum::extract::State;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJsonOrEmpty, ApiPath, ApiQuery};
use crate::services::invoices::{self, ConfirmBody, InvoiceView, ListQuery};
use crate::signing::PublicKey;
use crate::state::AppState;
use crate::tenancy::Tenant;

#[utoipa::path(
    get,
    path = "/si/invoices",
    tag = "invoices",
    summary = "List drafted invoices, newest first",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<String>, Query, description = "Environment name, `sandbox` or `production`"), ("status" = Option<String>, Query, description = "Filter or paging: `status`"), ("accountId" = Option<String>, Query, description = "Filter or paging: `accountId`"), ("kind" = Option<String>, Query, description = "Filter or paging: `kind`"), ("paymentStatus" = Option<String>, Query, description = "Filter or paging: `paymentStatus`"), ("from" = Option<String>, Query, description = "Filter or paging: `from`"), ("to" = Option<String>, Query, description = "Filter or paging: `to`"), ("limit" = Option<String>, Query, description = "Filter or paging: `limit`"), ("before" = Option<String>, Query, description = "Filter or paging: `before`")),
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
    tag = "invoices",
    summary = "One invoice",
    params(("id" = uuid::Uuid, Path, description = "The resource id"), ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<String>, Query, description = "Environment name, `sandbox` or `production`")),
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
    request_body(content = serde_json::Value, description = "JSON body", example = json!({})),
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
    summary = "Validate an invoice as an e-invoice",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    responses((status = 200, description = "Validate an invoice as an e-invoice", body = crate::http::openapi::EnvelopeOf<InvoiceView>)),
)]
pub async fn validate(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<InvoiceView>, ApiError> {
    Ok(Envelope::ok(
        "invoice validated",
        invoices::validate(&state, &tenant, id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/si/invoices/{id}/sign",
    tag = "invoices",
    summary = "Sign a validated invoice",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    responses((status = 200, description = "Sign a validated invoice", body = crate::http::openapi::EnvelopeOf<InvoiceView>)),
)]
pub async fn sign(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<InvoiceView>, ApiError> {
    Ok(Envelope::ok(
        "invoice signed",
        invoices::sign(&state, &tenant, id).await?,
    ))
}

/// Any valid key may read it; the key is the same for every organization.
#[utoipa::path(
    get,
    path = "/si/invoices/signing-key",
    tag = "invoices",
    summary = "The public key invoice signatures verify with",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<String>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "The public key invoice signatures verify with", body = crate::http::openapi::EnvelopeOf<PublicKey>)),
)]
pub async fn signing_key(State(state): State<AppState>, _tenant: Tenant) -> Envelope<PublicKey> {
    Envelope::ok("signing key retrieved", invoices::signing_key(&state))
}
