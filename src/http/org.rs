//! `/si/org/*`: what a key can see of its own organization, its profile (the supplier its
//! invoices name) and its MBS crypto keys (shown by fingerprint only).

use axum::extract::State;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::{ApiJson, RawBody};
use crate::services::crypto_keys::{self, KeysStatus, KeysUploaded};
use crate::services::profile::{self, ProfilePatch, ProfileView};
use crate::state::AppState;
use crate::tenancy::{EnvName, Role, Tenant};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    id: Uuid,
    #[schema(value_type = crate::vocab::EnvParam)]
    name: EnvName,
    current: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgEnvironments {
    org_id: Uuid,
    #[schema(value_type = crate::vocab::Role)]
    role: Role,
    env_id: Uuid,
    #[schema(value_type = crate::vocab::EnvParam)]
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
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
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
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
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
    description = "An absent field is left alone; `null` clears `tin`, `businessId`, `email`, `telephone`, `address`, `description`, `defaults.serviceCode` or `defaults.invoiceKind` (`name`, `serviceId`, `defaults.taxCategory` and `defaults.paymentTermsDays` cannot be cleared). `address` is `{street, city, postalZone?, country, state?, lga?}`, replaced whole. Every bad field is named at once in one 400 and nothing is saved. Codes being changed (`defaults.serviceCode` in MBS's `services-codes`, `defaults.taxCategory` in `tax-categories`, `address.country` in `countries`, `address.state` in `states`, `address.lga` in `lgas`) are checked against the cached lists; when a list cannot be had (MBS not configured, or down and never fetched) the change is refused with 503 rather than saved unchecked.",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    request_body(content = ProfilePatch, description = "The fields to change: an absent field is left alone, `null` clears an optional one; `address` is replaced whole, `defaults` member by member"),
    responses(
        (status = 200, description = "The profile saved", body = crate::http::openapi::EnvelopeOf<ProfileView>),
        (status = 503, description = "A code list to check against cannot be had (`mbs_not_configured`, `mbs_unavailable`)", body = crate::http::openapi::Failure),
    ),
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

/// `PUT /si/org/crypto-keys`: the `crypto_keys.txt` MBS issued the organization's business.
#[utoipa::path(
    put,
    path = "/si/org/crypto-keys",
    tag = "org",
    summary = "Upload the crypto keys MBS issued (crypto_keys.txt)",
    description = "The body is the `crypto_keys.txt` file MBS issued the business, as is: JSON `{public_key, certificate}` with `public_key` the base64 of a PEM RSA public key (at least 2048 bits) and `certificate` a base64 string. The QR codes of signed invoices are made with them. They are stored sealed with the service's `DATA_ENCRYPTION_KEY` and never answered back or logged: the answer is the public key's fingerprint. A second upload replaces the first. A bad file is refused naming `public_key`, `certificate` or `crypto_keys` (the file itself).",
    request_body(content = crate::services::crypto_keys::CryptoKeysFile, description = "The crypto_keys.txt file", content_type = "application/json"),
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses(
        (status = 200, description = "The keys are stored", body = crate::http::openapi::EnvelopeOf<KeysUploaded>),
        (status = 400, description = "The file is not valid crypto keys; `error.fields` names the field", body = crate::http::openapi::Failure),
        (status = 503, description = "`DATA_ENCRYPTION_KEY` is not set, so the keys cannot be stored sealed", body = crate::http::openapi::Failure),
    ),
)]
pub async fn put_crypto_keys(
    State(state): State<AppState>,
    tenant: Tenant,
    RawBody(file): RawBody,
) -> Result<Envelope<KeysUploaded>, ApiError> {
    Ok(Envelope::ok(
        "crypto keys stored",
        crypto_keys::put(&state, &tenant, &file).await?,
    ))
}

/// `GET /si/org/crypto-keys`: whether keys are on file, and which (never the keys).
#[utoipa::path(
    get,
    path = "/si/org/crypto-keys",
    tag = "org",
    summary = "Whether MBS crypto keys are on file, and their fingerprint",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "Whether keys are on file (never the keys)", body = crate::http::openapi::EnvelopeOf<KeysStatus>)),
)]
pub async fn get_crypto_keys(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Envelope<KeysStatus>, ApiError> {
    Ok(Envelope::ok(
        "crypto keys status retrieved",
        crypto_keys::status(&state, &tenant).await?,
    ))
}
