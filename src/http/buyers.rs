//! `/si/buyers*`: the organization's buyer directory (list and search, add, read, change,
//! delete). The directory belongs to the organization: both environments see the same one.

use axum::extract::State;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::buyers::{self, BuyerBody, BuyerDeleted, BuyerQuery, BuyerView};
use crate::state::AppState;
use crate::tenancy::Tenant;

#[utoipa::path(
    get,
    path = "/si/buyers",
    operation_id = "list_buyers",
    tag = "buyers",
    summary = "List the buyer directory by name, or search it",
    description = "Entries by name (case-insensitive). `q` finds the entries whose name or TIN contains it, in any case. `meta.next` is the cursor of the next page; `meta.total` counts every entry found.",
    params(BuyerQuery, ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "A page of the directory", body = crate::http::openapi::PageOf<BuyerView>)),
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<BuyerQuery>,
) -> Result<Envelope<Vec<BuyerView>>, ApiError> {
    let page = buyers::list(&state, &tenant, q).await?;
    Ok(Envelope::ok("buyers retrieved", page.buyers).with_meta(PageMeta {
        total: Some(page.total),
        pages: Some(page.pages),
        previous: None,
        next: page.next,
    }))
}

#[utoipa::path(
    post,
    path = "/si/buyers",
    operation_id = "create_buyer",
    tag = "buyers",
    summary = "Add a buyer to the directory",
    description = "`{name, tin?, email?, telephone?, address?, match?: {accountNumbers?, names?}}`. Every bad field is named at once. Without `match.names` the entry matches by its own name (unless another entry already does). A match key another entry holds → 409 `match_taken`.",
    request_body(content = BuyerBody),
    responses(
        (status = 201, description = "The entry", body = crate::http::openapi::EnvelopeOf<BuyerView>),
        (status = 409, description = "A match key already names another entry (`match_taken`)", body = crate::http::openapi::Failure),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<BuyerBody>,
) -> Result<Envelope<BuyerView>, ApiError> {
    Ok(Envelope::created(
        "buyer added",
        buyers::create(&state, &tenant, body).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/si/buyers/{id}",
    operation_id = "get_buyer",
    tag = "buyers",
    summary = "One entry of the buyer directory",
    params(("id" = uuid::Uuid, Path, description = "The resource id"), ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "The entry", body = crate::http::openapi::EnvelopeOf<BuyerView>)),
)]
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<BuyerView>, ApiError> {
    Ok(Envelope::ok(
        "buyer retrieved",
        buyers::get(&state, &tenant, id).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/si/buyers/{id}",
    operation_id = "update_buyer",
    tag = "buyers",
    summary = "Change an entry of the buyer directory",
    description = "An absent field is left alone; `null` clears `tin`, `email`, `telephone` or `address`. A `match` list given replaces that list (`match: null` clears both).",
    params(("id" = uuid::Uuid, Path, description = "The resource id")),
    request_body(content = BuyerBody, description = "The fields to change: an absent field is left alone, `null` clears an optional one, a `match` list given replaces that list", example = json!({"email": "billing@bolastores.ng", "match": {"names": ["Bola Stores Ltd", "Bola Stores Ikeja"]}})),
    responses(
        (status = 200, description = "The entry", body = crate::http::openapi::EnvelopeOf<BuyerView>),
        (status = 409, description = "A match key already names another entry (`match_taken`)", body = crate::http::openapi::Failure),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<BuyerBody>,
) -> Result<Envelope<BuyerView>, ApiError> {
    Ok(Envelope::ok(
        "buyer saved",
        buyers::update(&state, &tenant, id, body).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/si/buyers/{id}",
    operation_id = "delete_buyer",
    tag = "buyers",
    summary = "Delete an entry of the buyer directory",
    description = "The entry and its match keys go; invoices that named it keep their buyer details.",
    params(("id" = uuid::Uuid, Path, description = "The resource id"), ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "The entry is deleted", body = crate::http::openapi::EnvelopeOf<BuyerDeleted>)),
)]
pub async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<BuyerDeleted>, ApiError> {
    Ok(Envelope::ok(
        "buyer deleted",
        buyers::delete(&state, &tenant, id).await?,
    ))
}
