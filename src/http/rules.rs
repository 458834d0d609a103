//! `/si/mono/allow-deny`: the environment's allow and deny rules.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::rules::{self, RuleInput, RuleView};
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::{MatchKind, RuleField, RuleList};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRuleBody {
    #[schema(value_type = crate::vocab::RuleList, example = "deny")]
    list: RuleList,
    /// 1 to 200 characters; a regex must compile.
    #[schema(min_length = 1, max_length = 200)]
    pattern: String,
    #[serde(default)]
    #[schema(value_type = crate::vocab::RuleField, example = "narration")]
    field: RuleField,
    #[serde(default, rename = "match")]
    #[schema(value_type = crate::vocab::RuleMatch, example = "contains")]
    match_kind: MatchKind,
    account_id: Option<String>,
    note: Option<String>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

#[utoipa::path(
    post,
    path = "/si/mono/allow-deny",
    operation_id = "create_rule",
    tag = "rules",
    summary = "Add an allow or deny rule",
    request_body(content = NewRuleBody, example = json!({"list":"deny","pattern":"SALARY","field":"narration","match":"contains"})),
    responses((status = 201, description = "Add an allow or deny rule", body = crate::http::openapi::EnvelopeOf<RuleView>)),
)]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    #[param(value_type = Option<crate::vocab::RuleList>)]
    list: Option<RuleList>,
    account_id: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `meta.next` of the page before.
    #[param(value_type = Option<uuid::Uuid>)]
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/si/mono/allow-deny",
    operation_id = "list_rules",
    tag = "rules",
    summary = "List the environment's rules",
    params(ListQuery, ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "List the environment's rules", body = crate::http::openapi::PageOf<RuleView>)),
)]
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

/// A deleted rule.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RuleDeleted {
    id: Uuid,
    /// Always true.
    deleted: bool,
}

#[utoipa::path(
    delete,
    path = "/si/mono/allow-deny/{id}",
    operation_id = "delete_rule",
    tag = "rules",
    summary = "Delete a rule",
    params(("id" = uuid::Uuid, Path, description = "The resource id"), ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "Delete a rule", body = crate::http::openapi::EnvelopeOf<RuleDeleted>)),
)]
pub async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<RuleDeleted>, ApiError> {
    rules::delete(&state, &tenant, id).await?;
    Ok(Envelope::ok("rule deleted", RuleDeleted { id, deleted: true }))
}
