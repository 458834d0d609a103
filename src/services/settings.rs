//! An environment's eligibility settings and policy: read the settings resolved, change them
//! with a patch (absent field: unchanged; `null`: back to the configuration's default; a
//! value: set), and load the compiled policy (settings + rules) a sync decides with.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::config::Settings;
use crate::db::environments::{self, EnvSettings};
use crate::db::rules;
use crate::error::ApiError;
use crate::runtime::policy_cache::LoadedPolicy;
use crate::state::AppState;
use crate::tenancy::{EnvName, Tenant};
use eligibility::{CompiledPolicy, EligibilitySettings, Overrides, Rule, SettingsOverrides};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    env_id: Uuid,
    #[schema(value_type = crate::vocab::EnvParam)]
    env: EnvName,
    /// Major units of the invoice currency.
    #[schema(value_type = f64)]
    floor: Value,
    reference_regex: Option<String>,
    invoice_currency: String,
    business_keywords: Vec<String>,
    personal_keywords: Vec<String>,
    refund_keywords: Vec<String>,
    retention_days: Option<i64>,
    /// The fields this environment sets itself; the others follow the configuration.
    #[schema(value_type = Vec<String>)]
    overridden: Vec<&'static str>,
}

/// A settings change as `PUT /si/mono/settings` takes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"floor": 5000, "personalKeywords": ["upkeep", "school fees"]}))]
pub struct SettingsPatch {
    /// The business floor in major units; `null` returns to the configured default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, minimum = 0)]
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
    #[schema(minimum = 1, maximum = 36500)]
    retention_days: Option<Option<i64>>,
    /// Environment selectors, read by the `Tenant` extractor.
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

/// Distinguishes `"field": null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub async fn get(state: &AppState, tenant: &Tenant) -> Result<SettingsView, ApiError> {
    let row = environments::settings(&state.db, tenant).await?;
    Ok(view(state, tenant, &row))
}

/// Applies `patch` to the stored overrides, validates the result and saves it, in one
/// transaction so concurrent changes of other fields are not lost.
pub async fn update(
    state: &AppState,
    tenant: &Tenant,
    patch: SettingsPatch,
) -> Result<SettingsView, ApiError> {
    let mut tx = state.db.begin().await?;
    let mut row = environments::settings(&mut *tx, tenant).await?;
    row.overrides = apply_patch(&row.overrides, &patch)?;
    if let Some(Some(days)) = patch.retention_days {
        if !(1..=36_500).contains(&days) {
            return Err(ApiError::field(
                "retentionDays",
                "must be between 1 and 36500 days, or null",
            ));
        }
    }
    if let Some(days) = patch.retention_days {
        row.retention_days = days.map(|d| d as i32);
    }
    effective_settings(&state.settings, &row.overrides)
        .validate()
        .map_err(|e| ApiError::field(e.field, e.message))?;
    environments::save_settings(&mut *tx, tenant, &row).await?;
    tx.commit().await?;
    Ok(view(state, tenant, &row))
}

/// `current` with the patch's settings fields applied (normalised the one way the engine
/// normalises overrides); 400 naming a field whose value is not valid on its own.
pub fn apply_patch(current: &Overrides, patch: &SettingsPatch) -> Result<Overrides, ApiError> {
    let given = SettingsOverrides {
        floor: patch.floor.clone().flatten(),
        reference_regex: patch
            .reference_regex
            .clone()
            .flatten()
            .map(|r| r.trim().to_string()),
        invoice_currency: patch
            .invoice_currency
            .clone()
            .flatten()
            .map(|c| c.trim().to_string()),
        business_keywords: patch.business_keywords.clone().flatten(),
        personal_keywords: patch.personal_keywords.clone().flatten(),
        refund_keywords: patch.refund_keywords.clone().flatten(),
    }
    .normalize()
    .map_err(|e| ApiError::field(e.field, e.message))?;
    let mut o = current.clone();
    if patch.floor.is_some() {
        o.floor_minor = given.floor_minor;
    }
    if patch.reference_regex.is_some() {
        o.reference_regex = given.reference_regex;
    }
    if patch.invoice_currency.is_some() {
        o.invoice_currency = given.invoice_currency;
    }
    if patch.business_keywords.is_some() {
        o.business_keywords = given.business_keywords;
    }
    if patch.personal_keywords.is_some() {
        o.personal_keywords = given.personal_keywords;
    }
    if patch.refund_keywords.is_some() {
        o.refund_keywords = given.refund_keywords;
    }
    Ok(o)
}

fn view(state: &AppState, tenant: &Tenant, row: &EnvSettings) -> SettingsView {
    let o = &row.overrides;
    let s = effective_settings(&state.settings, o);
    let overridden = [
        ("floor", o.floor_minor.is_some()),
        ("referenceRegex", o.reference_regex.is_some()),
        ("invoiceCurrency", o.invoice_currency.is_some()),
        ("businessKeywords", o.business_keywords.is_some()),
        ("personalKeywords", o.personal_keywords.is_some()),
        ("refundKeywords", o.refund_keywords.is_some()),
        ("retentionDays", row.retention_days.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
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

/// The settings an environment decides with: the configuration's defaults under its overrides.
pub fn effective_settings(config: &Settings, overrides: &Overrides) -> EligibilitySettings {
    overrides.apply(&config.eligibility.settings())
}

/// Environments whose compiled policy one replica keeps.
pub const POLICY_CACHE_CAPACITY: usize = 1024;

/// The environment's compiled policy: one indexed read when the cached copy is current, else
/// two more queries and a compile. Compiling (regexes, keyword automata, up to 500 rules) runs
/// on the blocking pool, so one tenant's large rule set does not hold up other requests.
pub async fn load_policy(state: &AppState, tenant: &Tenant) -> Result<Arc<LoadedPolicy>, ApiError> {
    let revision = environments::policy_revision(&state.db, tenant).await?;
    if let Some(policy) = state.policies.get(tenant.env_id, revision) {
        metrics::counter!("policy_cache_total", "result" => "hit").increment(1);
        return Ok(policy);
    }
    metrics::counter!("policy_cache_total", "result" => "miss").increment(1);
    // Read after the revision: what is compiled is at least as new as the revision it is
    // cached under, so a stale policy is never served under a current revision.
    let row = environments::settings(&state.db, tenant).await?;
    let rules = rules::all_for_env(&state.db, tenant).await?;
    let settings = effective_settings(&state.settings, &row.overrides);
    let rules = rules
        .into_iter()
        .map(Rule::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a stored rule does not parse: {e}")))?;
    let policy = tokio::task::spawn_blocking(move || compile(&settings, &rules))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("compiling a policy failed: {e}")))??;
    let policy = Arc::new(policy);
    state.policies.put(tenant.env_id, revision, policy.clone());
    Ok(policy)
}

/// Compiles a policy and names its version.
pub fn compile(settings: &EligibilitySettings, rules: &[Rule]) -> Result<LoadedPolicy, ApiError> {
    // Everything stored was validated on the way in; a failure here means the stored policy
    // no longer compiles (e.g. a limit was lowered), which is ours to fix, not the client's.
    let compiled = CompiledPolicy::compile(settings, rules).map_err(|e| {
        ApiError::internal(anyhow::anyhow!("stored eligibility policy does not compile: {e}"))
    })?;
    Ok(LoadedPolicy {
        compiled,
        version: policy_version(settings, rules),
    })
}

/// The first 16 hex digits of SHA-256 over the settings and the rules (ordered by id).
pub fn policy_version(settings: &EligibilitySettings, rules: &[Rule]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let text = serde_json::to_vec(&(settings, sorted)).unwrap_or_default();
    hex::encode(&Sha256::digest(&text)[..8])
}
