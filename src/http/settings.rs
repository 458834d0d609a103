//! `GET/PUT /si/mono/settings`: the environment's eligibility settings.

use axum::extract::State;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::ApiJson;
use crate::services::settings::{self, SettingsPatch, SettingsView};
use crate::state::AppState;
use crate::tenancy::Tenant;

#[utoipa::path(
    get,
    path = "/si/mono/settings",
    tag = "settings",
    summary = "The environment's eligibility settings",
    params(("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "The environment's eligibility settings", body = crate::http::openapi::EnvelopeOf<SettingsView>)),
)]
pub async fn get_settings(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Envelope<SettingsView>, ApiError> {
    Ok(Envelope::ok(
        "settings retrieved",
        settings::get(&state, &tenant).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/si/mono/settings",
    tag = "settings",
    summary = "Change eligibility settings",
    request_body(content = SettingsPatch, description = "The settings to change: an absent field is left alone, `null` returns it to the configured default"),
    responses((status = 200, description = "Change eligibility settings", body = crate::http::openapi::EnvelopeOf<SettingsView>)),
)]
pub async fn put_settings(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Envelope<SettingsView>, ApiError> {
    Ok(Envelope::ok(
        "settings saved",
        settings::update(&state, &tenant, patch).await?,
    ))
}
