//! `/si/org/*`: what a key can see of its own organization, and its profile (the supplier
//! its invoices name).

use axum::extract::State;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::ApiJson;
use crate::services::profile::{self, ProfilePatch, ProfileView};
use crate::state::AppState;
use crate::tenancy::{EnvName, Role, Tenant};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    id: Uuid,
    #[schema(value_type = String)]
    name: EnvName,
    current: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgEnvironments {
    org_id: Uuid,
    #[schema(value_type = String)]
    role: Role,
    env_id: Uuid,
    #[schema(value_type = String)]
    env: EnvName,
    environments: Vec<EnvironmentView>,
}

/// `GET /si/org/environments`: the caller's organization, its environments and which one this
/// call selected (so a dashboard can learn its `envId`s).
#[utoipa::path(
    get,
    path = "/si/org/environments",
    tag = "org",
    summary = "The organization, its environments and the one this call selected",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<String>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "The organization, its environments and the one this call selected", body = crate::http::openapi::EnvelopeOf<OrgEnvironments>)),
)]
pub async fn environments(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Envelope<OrgEnvironments>, ApiError> {
    let environments = crate::services::tenants::environments(&state.db, &tenant)
        .await?
        .into_iter()
        .map(|(id, name)| EnvironmentView {
            current: id == tenant.env_id,
            id,
            name,
        })
        .collect();
    Ok(Envelope::ok(
        "environments retrieved",
        OrgEnvironments {
            org_id: tenant.org_id,
            role: tenant.role,
            env_id: tenant.env_id,
            env: tenant.env,
            environments,
        },
    ))
}

#[utoipa::path(
    get,
    path = "/si/org/profile",
    tag = "org",
    summary = "The supplier profile used on drafted invoices",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<String>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "The supplier profile used on drafted invoices", body = crate::http::openapi::EnvelopeOf<ProfileView>)),
)]
pub async fn get_profile(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Envelope<ProfileView>, ApiError> {
    Ok(Envelope::ok(
        "profile retrieved",
        profile::get(&state, &tenant).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/si/org/profile",
    tag = "org",
    summary = "Save the supplier profile",
    request_body(content = serde_json::Value, description = "JSON body", example = json!({"name":"Acme Ltd","tin":"12345678-0001","email":"billing@acme.example","address":{"street":"1 Marina","city":"Lagos","country":"NG"}})),
    responses((status = 200, description = "Save the supplier profile", body = crate::http::openapi::EnvelopeOf<ProfileView>)),
)]
pub async fn put_profile(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> Result<Envelope<ProfileView>, ApiError> {
    Ok(Envelope::ok(
        "profile saved",
        profile::update(&state, &tenant, patch).await?,
    ))
}
