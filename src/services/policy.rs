//! An environment's eligibility policy: its effective settings (configuration defaults with
//! the environment's own overrides) and its rules, compiled once for a whole sync.

use uuid::Uuid;

use crate::config::Settings as Config;
use crate::db::environments::EnvSettingsRow;
use crate::db::rules::RuleRow;
use crate::eligibility::{CompiledPolicy, MatchKind, Rule, RuleField, RuleList, Settings};
use crate::error::ApiError;

/// The settings every environment starts from: the configuration's variables over the
/// engine's defaults.
pub fn base_settings(config: &Config) -> Settings {
    config.eligibility.settings()
}

/// The stored overrides applied to `base`. A stored empty regex means "no reference check"
/// even when the configuration sets one.
pub fn effective_settings(base: &Settings, row: &EnvSettingsRow) -> Settings {
    let mut s = base.clone();
    if let Some(v) = row.floor_minor {
        s.floor_minor = v;
    }
    if let Some(v) = &row.reference_regex {
        s.reference_regex = (!v.is_empty()).then(|| v.clone());
    }
    if let Some(v) = &row.invoice_currency {
        s.invoice_currency = v.clone();
    }
    if let Some(v) = &row.business_keywords {
        s.business_keywords = v.clone();
    }
    if let Some(v) = &row.personal_keywords {
        s.personal_keywords = v.clone();
    }
    if let Some(v) = &row.refund_keywords {
        s.refund_keywords = v.clone();
    }
    s
}

pub fn rule_from_row(row: &RuleRow) -> Rule {
    Rule {
        id: row.id.to_string(),
        list: if row.list == "deny" {
            RuleList::Deny
        } else {
            RuleList::Allow
        },
        account_id: row.account_id.clone(),
        field: match row.field.as_str() {
            "counterparty" => RuleField::Counterparty,
            "reference" => RuleField::Reference,
            _ => RuleField::Narration,
        },
        match_kind: match row.match_kind.as_str() {
            "exact" => MatchKind::Exact,
            "regex" => MatchKind::Regex,
            _ => MatchKind::Contains,
        },
        pattern: row.pattern.clone(),
    }
}

/// Loads and compiles the environment's policy: two queries, one compile.
pub async fn load_policy(
    db: &sqlx::PgPool,
    config: &Config,
    env_id: Uuid,
) -> Result<CompiledPolicy, ApiError> {
    let row = crate::db::environments::settings(db, env_id).await?;
    let rules = crate::db::rules::all_for_env(db, env_id).await?;
    compile(config, &row, &rules)
}

pub fn compile(config: &Config, row: &EnvSettingsRow, rules: &[RuleRow]) -> Result<CompiledPolicy, ApiError> {
    let settings = effective_settings(&base_settings(config), row);
    let rules: Vec<Rule> = rules.iter().map(rule_from_row).collect();
    // Everything stored was validated on the way in; a failure here means the stored policy
    // no longer compiles (e.g. a limit was lowered), which is ours to fix, not the client's.
    CompiledPolicy::compile(&settings, &rules)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored eligibility policy does not compile: {e}")))
}
