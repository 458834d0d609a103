//! `GET/PUT /si/mono/settings`: the environment's eligibility settings.

use axum::extract::State;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::ApiJson;
use crate::services::settings::{self, SettingsPatch, SettingsView};
use crate::state::AppState;
use crate::tenancy::Tenant;

pub async fn get_settings(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Envelope<SettingsView>, ApiError> {
    Ok(Envelope::ok(
        "settings retrieved",
        settings::get(&state, &tenant).await?,
    ))
}

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
