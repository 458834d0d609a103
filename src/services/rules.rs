//! Allow/deny rules of an environment: created validated, listed, deleted.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::accounts;
use crate::db::rules::{self, NewRule, RuleRow};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::{validate_pattern, MatchKind, RuleField, RuleList};

const MAX_NOTE_CHARS: usize = 500;
/// Rules one environment may hold: bounds what one tenant's policy costs to compile and run.
pub const MAX_RULES: i64 = 500;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    id: Uuid,
    #[schema(value_type = crate::vocab::RuleList)]
    list: String,
    #[schema(value_type = crate::vocab::RuleField)]
    field: String,
    #[serde(rename = "match")]
    #[schema(value_type = crate::vocab::RuleMatch)]
    match_kind: String,
    pattern: String,
    account_id: Option<String>,
    note: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<RuleRow> for RuleView {
    fn from(r: RuleRow) -> Self {
        RuleView {
            id: r.id,
            list: r.list,
            field: r.field,
            match_kind: r.match_kind,
            pattern: r.pattern,
            account_id: r.account_id,
            note: r.note,
            created_at: r.created_at,
        }
    }
}

pub struct RuleInput {
    pub list: RuleList,
    pub pattern: String,
    pub field: RuleField,
    pub match_kind: MatchKind,
    pub account_id: Option<String>,
    pub note: Option<String>,
}

pub async fn create(state: &AppState, tenant: &Tenant, input: RuleInput) -> Result<RuleView, ApiError> {
    validate_pattern(input.match_kind, &input.pattern).map_err(|e| ApiError::field(e.field, e.message))?;
    if input
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ApiError::field(
            "note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let account_id = input
        .account_id
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if let Some(account_id) = account_id {
        let linked = accounts::get(&state.db, tenant, account_id)
            .await?
            .is_some_and(|a| a.unlinked_at.is_none());
        if !linked {
            return Err(ApiError::not_found(format!(
                "account {account_id} is not linked in this environment"
            )));
        }
    }
    let mut tx = state.db.begin().await?;
    let row = rules::insert(
        &mut tx,
        tenant,
        NewRule {
            list: input.list,
            field: input.field,
            match_kind: input.match_kind,
            pattern: &input.pattern,
            account_id,
            note: input.note.as_deref(),
        },
        MAX_RULES,
    )
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "limit_reached",
            format!("this environment has {MAX_RULES} rules, the most it may hold; delete one first"),
        )
    })?;
    tx.commit().await?;
    Ok(row.into())
}

/// A page of rules, oldest first.
pub struct RulePage {
    pub rules: Vec<RuleView>,
    /// Rules matching the filters in all.
    pub total: i64,
    /// The `after` of the next page.
    pub next: Option<String>,
}

/// One page of rules, oldest first.
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    list: Option<RuleList>,
    account_id: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<RulePage, ApiError> {
    let limit = match limit {
        None => 100,
        Some(n) if (1..=MAX_RULES).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_RULES}"),
            ))
        }
    };
    let after = after
        .map(|a| Uuid::parse_str(a).map_err(|_| ApiError::field("after", "is not a cursor from meta.next")))
        .transpose()?;
    let mut rows = rules::list(&state.db, tenant, list, account_id, after, limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let total = rules::count(&state.db, tenant, list, account_id).await?;
    Ok(RulePage {
        rules: rows.into_iter().map(RuleView::from).collect(),
        total,
        next,
    })
}

/// 404 when the environment has no such rule.
pub async fn delete(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<(), ApiError> {
    if !rules::delete(&state.db, tenant, id).await? {
        return Err(ApiError::not_found(format!("rule {id} not found")));
    }
    Ok(())
}
