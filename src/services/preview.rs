//! Rule preview: decides every stored transaction of the environment under today's policy and
//! under a proposed one (a rule added, or a settings change), and reports what would change.
//! Nothing is written. Transactions stream from the ledger; each is decoded once and decided
//! twice with compiled policies.
//!
//! The scan holds a main-pool connection from its first row to its last, so previews are
//! bounded: a few at once per environment and per replica (`runtime::preview_limiter`; past
//! them 429 with `Retry-After`), each scan under a statement timeout (past it 422
//! `preview_too_large`: narrow it with `accountId`, `from`, `to`).

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::db::{accounts, environments, ledger, rules};
use crate::error::ApiError;
use crate::runtime::preview_limiter::PreviewPermit;
use crate::services::dlq::parse_bound;
use crate::services::settings::{apply_patch, effective_settings, SettingsPatch};
use crate::services::sync::decide::into_engine;
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::{self, validate_rule, MatchKind, Outcome, Rule, RuleField, RuleList};
use mono::RawTransaction;

pub const MAX_SAMPLES: usize = 20;
/// The `Retry-After` of a preview refused for want of room: previews of a usual ledger take
/// about this long.
pub const RETRY_AFTER_SECS: u64 = 2;

/// A rule as `POST /si/mono/allow-deny` takes it (not saved), or `{settings}`, with the
/// optional scope `accountId`, `from`, `to`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"list": "deny", "pattern": "POS", "field": "narration", "match": "contains"}))]
pub struct PreviewBody {
    #[schema(value_type = Option<crate::vocab::RuleList>)]
    list: Option<RuleList>,
    #[schema(min_length = 1, max_length = 200)]
    pattern: Option<String>,
    #[schema(value_type = Option<crate::vocab::RuleField>)]
    field: Option<RuleField>,
    #[serde(rename = "match")]
    #[schema(value_type = Option<crate::vocab::RuleMatch>)]
    match_kind: Option<MatchKind>,
    account_id: Option<String>,
    note: Option<String>,
    /// A settings change to preview instead of a rule.
    settings: Option<SettingsPatch>,
    /// Transactions dated on or after this day.
    #[schema(value_type = Option<crate::vocab::DateBound>)]
    from: Option<String>,
    /// Transactions dated on or before this day.
    #[schema(value_type = Option<crate::vocab::DateBound>)]
    to: Option<String>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<serde_json::Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub decided: u64,
    /// Stored before the ledger kept transactions as Mono sent them: not decided.
    pub skipped_without_transaction: u64,
    pub changed: Changed,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Changed {
    pub to_draft: u64,
    pub to_dlq: u64,
    pub to_skipped: u64,
}

#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub transaction_id: String,
    pub narration: String,
    pub amount: i64,
    pub before: Verdict,
    pub after: Verdict,
}

#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verdict {
    #[schema(value_type = crate::vocab::Outcome)]
    pub outcome: Outcome,
    #[schema(value_type = crate::vocab::Reason)]
    pub reason: String,
}

pub async fn preview(state: &AppState, tenant: &Tenant, body: PreviewBody) -> Result<Preview, ApiError> {
    let from = body
        .from
        .as_deref()
        .map(|v| parse_bound("from", v, false))
        .transpose()?;
    let to = body
        .to
        .as_deref()
        .map(|v| parse_bound("to", v, true))
        .transpose()?;
    let account_id = body
        .account_id
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let _room = admit(state, tenant)?;

    let stored = environments::settings(&state.db, tenant).await?;
    let current_rules = rules::all_for_env(&state.db, tenant)
        .await?
        .into_iter()
        .map(Rule::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a stored rule does not parse: {e}")))?;
    let current_settings = effective_settings(&state.settings, &stored.overrides);

    let (proposed_settings, proposed_rules) = match (&body.settings, &body.list, &body.pattern) {
        (Some(patch), None, None) => {
            let overrides = apply_patch(&stored.overrides, patch)?;
            let settings = effective_settings(&state.settings, &overrides);
            settings
                .validate()
                .map_err(|e| ApiError::field(format!("settings.{}", e.field), e.message))?;
            (settings, current_rules.clone())
        }
        (None, Some(list), Some(pattern)) => {
            if body.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
                return Err(ApiError::field("note", "at most 500 characters"));
            }
            let rule = Rule {
                id: "proposed".into(),
                list: *list,
                account_id: account_id.map(str::to_owned),
                field: body.field.unwrap_or_default(),
                match_kind: body.match_kind.unwrap_or_default(),
                pattern: pattern.clone(),
            };
            validate_rule(&rule).map_err(|e| ApiError::field(e.field, e.message))?;
            let mut rules = current_rules.clone();
            rules.push(rule);
            (current_settings.clone(), rules)
        }
        (Some(_), _, _) => {
            return Err(ApiError::field(
                "settings",
                "give either a rule or settings, not both",
            ));
        }
        (None, None, _) => return Err(ApiError::field("list", "is required (or give settings)")),
        (None, Some(_), None) => return Err(ApiError::field("pattern", "is required")),
    };
    let compile = |s, r: &[Rule]| {
        eligibility::CompiledPolicy::compile(s, r).map_err(|e| ApiError::field(e.field, e.message))
    };
    let before_policy = compile(&current_settings, &current_rules)?;
    let after_policy = compile(&proposed_settings, &proposed_rules)?;
    let currencies = accounts::currencies(&state.db, tenant).await?;

    let mut out = Preview::default();
    let timeout = state.settings.preview.statement_timeout;
    let mut tx = state.db.begin().await?;
    ledger::set_local_statement_timeout(&mut tx, timeout).await?;
    let mut rows = ledger::stored_transactions(&mut tx, tenant, account_id, from, to);
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| scan_failed(e, timeout))?;
        let Some(raw) = row.raw else {
            out.skipped_without_transaction += 1;
            continue;
        };
        let Ok(raw) = RawValue::from_string(raw) else {
            continue;
        };
        let Ok(t) = RawTransaction::decode(raw).decoded else {
            // Malformed as stored: it stays in the DLQ under any policy.
            out.decided += 1;
            continue;
        };
        out.decided += 1;
        let currency = currencies.get(&row.account_id).and_then(|c| c.as_deref());
        let tx = into_engine(&row.account_id, currency, t);
        if tx.amount == 0 {
            continue;
        }
        let before = eligibility::decide(&tx, &before_policy);
        let after = eligibility::decide(&tx, &after_policy);
        if before.outcome == after.outcome {
            continue;
        }
        match after.outcome {
            Outcome::Draft if before.outcome != Outcome::Draft => out.changed.to_draft += 1,
            Outcome::Dlq if before.outcome != Outcome::Dlq => out.changed.to_dlq += 1,
            Outcome::Skipped if before.outcome != Outcome::Skipped => out.changed.to_skipped += 1,
            _ => {}
        }
        if out.samples.len() < MAX_SAMPLES {
            out.samples.push(Sample {
                transaction_id: tx.id,
                narration: tx.narration,
                amount: tx.amount,
                before: Verdict {
                    outcome: before.outcome,
                    reason: before.reason.as_str().to_owned(),
                },
                after: Verdict {
                    outcome: after.outcome,
                    reason: after.reason.as_str().to_owned(),
                },
            });
        }
    }
    drop(rows);
    // Nothing was written: the transaction only carried the statement timeout.
    tx.rollback().await?;
    Ok(out)
}

/// Room for one more preview of the tenant's environment in this replica, or 429.
fn admit(state: &AppState, tenant: &Tenant) -> Result<PreviewPermit, ApiError> {
    state.previews.try_acquire(tenant.env_id).map_err(|full| {
        metrics::counter!("preview_refused_total", "bound" => full.as_str()).increment(1);
        let limits = &state.settings.preview;
        let message = match full {
            crate::runtime::preview_limiter::PreviewRefused::Environment => format!(
                "{} previews of this environment are running, the most at once; retry after the time in Retry-After",
                limits.per_env
            ),
            crate::runtime::preview_limiter::PreviewRefused::Replica => format!(
                "{} previews are running on this server, the most at once; retry after the time in Retry-After",
                limits.total
            ),
        };
        ApiError::RateLimited {
            message,
            retry_after_secs: RETRY_AFTER_SECS,
        }
    })
}

/// The scan's failure: 422 `preview_too_large` when it ran past its statement timeout.
fn scan_failed(err: sqlx::Error, timeout: std::time::Duration) -> ApiError {
    if ledger::is_statement_timeout(&err) {
        metrics::counter!("preview_timeouts_total").increment(1);
        return ApiError::Unprocessable {
            code: "preview_too_large",
            message: format!(
                "the preview's scan of the stored transactions ran past {} ms; narrow it with accountId, from or to",
                timeout.as_millis()
            ),
        };
    }
    err.into()
}
