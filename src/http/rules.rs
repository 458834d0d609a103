//! `/si/mono/allow-deny`: the environment's allow and deny rules.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Tenant;
use crate::db::rules::{NewRule, RuleRow};
use crate::eligibility::{validate_pattern, MatchKind, RuleField, RuleList};
use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

const MAX_NOTE_CHARS: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRuleBody {
    list: RuleList,
    pattern: String,
    #[serde(default)]
    field: RuleField,
    #[serde(default, rename = "match")]
    match_kind: MatchKind,
    account_id: Option<String>,
    note: Option<String>,
    #[serde(default, rename = "envId")]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    _env: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    id: Uuid,
    list: String,
    field: String,
    #[serde(rename = "match")]
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

pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<NewRuleBody>,
) -> Result<(StatusCode, Envelope<RuleView>), ApiError> {
    validate_pattern(body.match_kind, &body.pattern).map_err(|e| ApiError::field(e.field, e.message))?;
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ApiError::field(
            "note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let account_id = body
        .account_id
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if let Some(account_id) = account_id {
        let linked = crate::db::accounts::get(&state.db, &tenant, account_id)
            .await?
            .is_some_and(|a| a.unlinked_at.is_none());
        if !linked {
            return Err(ApiError::not_found(format!(
                "account {account_id} is not linked in this environment"
            )));
        }
    }
    let row = crate::db::rules::insert(
        &state.db,
        &tenant,
        NewRule {
            list: body.list.as_str(),
            field: body.field.as_str(),
            match_kind: body.match_kind.as_str(),
            pattern: &body.pattern,
            account_id,
            note: body.note.as_deref(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Envelope::created("rule created", row.into())))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    list: Option<RuleList>,
    account_id: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Envelope<Vec<RuleView>>, ApiError> {
    let rows = crate::db::rules::list(
        &state.db,
        &tenant,
        q.list.map(RuleList::as_str),
        q.account_id.as_deref(),
    )
    .await?;
    let total = rows.len() as i64;
    Ok(
        Envelope::ok("rules retrieved", rows.into_iter().map(RuleView::from).collect()).with_meta(PageMeta {
            total: Some(total),
            pages: Some(1),
            previous: None,
            next: None,
        }),
    )
}

pub async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<Value>, ApiError> {
    if !crate::db::rules::delete(&state.db, &tenant, id).await? {
        return Err(ApiError::not_found(format!("rule {id} not found")));
    }
    Ok(Envelope::ok(
        "rule deleted",
        serde_json::json!({"id": id, "deleted": true}),
    ))
}
