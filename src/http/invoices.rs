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
pub async fn signing_key(State(state): State<AppState>, _tenant: Tenant) -> Envelope<PublicKey> {
    Envelope::ok("signing key retrieved", invoices::signing_key(&state))
}
