//! `GET/PUT /si/mono/settings`: the environment's eligibility settings.

use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{EnvName, Tenant};
use crate::db::environments::EnvSettingsRow;
use crate::eligibility::{floor_minor_from_major, normalize_currency};
use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::http::extract::ApiJson;
use crate::services::policy::{base_settings, effective_settings};
use crate::state::AppState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    env_id: Uuid,
    env: EnvName,
    /// Major units of the invoice currency.
    floor: Value,
    reference_regex: Option<String>,
    invoice_currency: String,
    business_keywords: Vec<String>,
    personal_keywords: Vec<String>,
    refund_keywords: Vec<String>,
    retention_days: Option<i64>,
    /// The fields this environment sets itself; the others follow the configuration.
    overridden: Vec<&'static str>,
}

/// PUT body: an absent field is left as it is, `null` returns it to the configuration's
/// default, a value sets it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsUpdate {
    #[serde(default, deserialize_with = "present")]
    floor: Option<Option<serde_json::Number>>,
    #[serde(default, deserialize_with = "present")]
    reference_regex: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    invoice_currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    business_keywords: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    personal_keywords: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    refund_keywords: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    retention_days: Option<Option<i64>>,
    /// Environment selectors, read by the `Tenant` extractor.
    #[serde(default, rename = "envId")]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    _env: Option<Value>,
}

/// Distinguishes `"field": null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub async fn get_settings(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Envelope<SettingsView>, ApiError> {
    let row = crate::db::environments::settings(&state.db, tenant.env_id).await?;
    Ok(Envelope::ok("settings retrieved", view(&state, &tenant, &row)))
}

pub async fn put_settings(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(update): ApiJson<SettingsUpdate>,
) -> Result<Envelope<SettingsView>, ApiError> {
    let mut tx = state.db.begin().await?;
    let mut row = crate::db::environments::settings(&mut *tx, tenant.env_id).await?;
    if let Some(floor) = update.floor {
        row.floor_minor = floor
            .map(|n| floor_minor_from_major(&n.to_string()))
            .transpose()
            .map_err(|e| ApiError::field(e.field, e.message))?;
    }
    if let Some(v) = update.reference_regex {
        row.reference_regex = v.map(|r| r.trim().to_string());
    }
    if let Some(v) = update.invoice_currency {
        row.invoice_currency = v.map(|c| normalize_currency(c.trim()));
    }
    let trimmed = |list: Vec<String>| list.into_iter().map(|k| k.trim().to_string()).collect::<Vec<_>>();
    if let Some(v) = update.business_keywords {
        row.business_keywords = v.map(trimmed);
    }
    if let Some(v) = update.personal_keywords {
        row.personal_keywords = v.map(trimmed);
    }
    if let Some(v) = update.refund_keywords {
        row.refund_keywords = v.map(trimmed);
    }
    if let Some(v) = update.retention_days {
        if let Some(days) = v {
            if !(1..=36_500).contains(&days) {
                return Err(ApiError::field(
                    "retentionDays",
                    "must be between 1 and 36500 days, or null",
                ));
            }
        }
        row.retention_days = v.map(|d| d as i32);
    }
    effective_settings(&base_settings(&state.settings), &row)
        .validate()
        .map_err(|e| ApiError::field(e.field, e.message))?;
    crate::db::environments::save_settings(&mut *tx, tenant.env_id, &row).await?;
    tx.commit().await?;
    Ok(Envelope::ok("settings saved", view(&state, &tenant, &row)))
}

fn view(state: &AppState, tenant: &Tenant, row: &EnvSettingsRow) -> SettingsView {
    let s = effective_settings(&base_settings(&state.settings), row);
    let mut overridden = Vec::new();
    for (name, set) in [
        ("floor", row.floor_minor.is_some()),
        ("referenceRegex", row.reference_regex.is_some()),
        ("invoiceCurrency", row.invoice_currency.is_some()),
        ("businessKeywords", row.business_keywords.is_some()),
        ("personalKeywords", row.personal_keywords.is_some()),
        ("refundKeywords", row.refund_keywords.is_some()),
        ("retentionDays", row.retention_days.is_some()),
    ] {
        if set {
            overridden.push(name);
        }
    }
    SettingsView {
        env_id: tenant.env_id,
        env: tenant.env,
        floor: major_units(s.floor_minor),
        reference_regex: s.reference_regex,
        invoice_currency: s.invoice_currency,
        business_keywords: s.business_keywords,
        personal_keywords: s.personal_keywords,
        refund_keywords: s.refund_keywords,
        retention_days: row
            .retention_days
            .map(i64::from)
            .or(state.settings.retention_days.map(i64::from)),
        overridden,
    }
}

/// 100000 -> 1000, 100050 -> 1000.5.
fn major_units(minor: i64) -> Value {
    if minor % 100 == 0 {
        Value::from(minor / 100)
    } else {
        serde_json::Number::from_f64(minor as f64 / 100.0)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}
