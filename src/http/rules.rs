//! `/si/mono/allow-deny`: the environment's allow and deny rules.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::eligibility::{MatchKind, RuleField, RuleList};
use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::rules::{self, RuleInput, RuleView};
use crate::state::AppState;
use crate::tenancy::Tenant;

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

pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<NewRuleBody>,
) -> Result<(StatusCode, Envelope<RuleView>), ApiError> {
    let input = RuleInput {
        list: body.list,
        pattern: body.pattern,
        field: body.field,
        match_kind: body.match_kind,
        account_id: body.account_id,
        note: body.note,
    };
    let rule = rules::create(&state, &tenant, input).await?;
    Ok((StatusCode::CREATED, Envelope::created("rule created", rule)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    list: Option<RuleList>,
    account_id: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Envelope<Vec<RuleView>>, ApiError> {
    let page = rules::list(
        &state,
        &tenant,
        q.list,
        q.account_id.as_deref(),
        q.after.as_deref(),
        q.limit,
    )
    .await?;
    Ok(Envelope::ok("rules retrieved", page.rules).with_meta(PageMeta {
        total: Some(page.total),
        pages: None,
        previous: None,
        next: page.next,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<Value>, ApiError> {
    rules::delete(&state, &tenant, id).await?;
    Ok(Envelope::ok(
        "rule deleted",
        serde_json::json!({"id": id, "deleted": true}),
    ))
}
