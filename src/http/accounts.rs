//! `/si/mono/widget-link`, `/si/mono/exchange`, `/si/mono/accounts*`: linking and reading
//! bank accounts.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::error::{ApiError, FieldErrors};
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::accounts::{self, AccountView};
use crate::services::link::{self, CustomerInput, WidgetLink, WidgetLinkInput};
use crate::services::unlink::{self, Unlinked};
use crate::state::AppState;
use crate::tenancy::Tenant;
use mono::Scope;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WidgetLinkBody {
    customer: Option<CustomerBody>,
    redirect_url: Option<String>,
    meta: Option<MetaBody>,
    institution: Option<InstitutionBody>,
    #[schema(value_type = Option<crate::vocab::LinkScope>)]
    scope: Option<Scope>,
    account: Option<String>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    identity: Option<IdentityBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    #[serde(rename = "type")]
    kind: String,
    number: String,
}

redact::debug_redacted!(IdentityBody { kind; number });

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MetaBody {
    /// The dashboard's own reference for this link, 10 to 200 characters.
    #[serde(rename = "ref")]
    #[schema(min_length = 10, max_length = 200)]
    r#ref: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstitutionBody {
    id: String,
    auth_method: String,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && !domain.contains('@')
}

/// The longest value each stored (or forwarded) string of a widget-link may have.
const WIDGET_LINK_LIMITS: [(&str, usize); 9] = [
    ("customer.id", 100),
    ("customer.name", 200),
    ("customer.email", 254),
    ("customer.identity.type", 20),
    ("customer.identity.number", 30),
    ("redirectUrl", 2048),
    ("institution.id", 100),
    ("institution.auth_method", 50),
    ("account", 100),
];

/// Names every field over its limit.
fn check_lengths(body: &WidgetLinkBody, errors: &mut FieldErrors) {
    let c = body.customer.as_ref();
    let identity = c.and_then(|c| c.identity.as_ref());
    let institution = body.institution.as_ref();
    let values = [
        c.and_then(|c| c.id.as_deref()),
        c.and_then(|c| c.name.as_deref()),
        c.and_then(|c| c.email.as_deref()),
        identity.map(|i| i.kind.as_str()),
        identity.map(|i| i.number.as_str()),
        body.redirect_url.as_deref(),
        institution.map(|i| i.id.as_str()),
        institution.map(|i| i.auth_method.as_str()),
        body.account.as_deref(),
    ];
    for ((field, max), value) in WIDGET_LINK_LIMITS.iter().zip(values) {
        if value.is_some_and(|v| v.trim().chars().count() > *max) {
            errors.insert((*field).into(), format!("must be at most {max} characters"));
        }
    }
}

/// Checks every field at once, so one answer names them all.
fn validate_widget_link(body: WidgetLinkBody) -> Result<WidgetLinkInput, ApiError> {
    let mut errors = FieldErrors::new();
    check_lengths(&body, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let scope = body.scope.unwrap_or(Scope::Auth);
    let redirect_url = match non_empty(&body.redirect_url) {
        None => {
            errors.insert("redirectUrl".into(), "is required".into());
            None
        }
        Some(raw) => match Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
            _ => {
                errors.insert(
                    "redirectUrl".into(),
                    "must be an absolute http or https URL".into(),
                );
                None
            }
        },
    };
    let customer = match body.customer {
        None if scope == Scope::Auth => {
            errors.insert("customer".into(), "is required: {name, email} or {id}".into());
            None
        }
        None => None,
        Some(c) => {
            if let Some(id) = non_empty(&c.id) {
                Some(CustomerInput::Existing { id: id.to_string() })
            } else {
                let name = non_empty(&c.name);
                let email = non_empty(&c.email);
                if name.is_none() {
                    errors.insert(
                        "customer.name".into(),
                        "is required unless customer.id is given".into(),
                    );
                }
                match email {
                    None => {
                        errors.insert(
                            "customer.email".into(),
                            "is required unless customer.id is given".into(),
                        );
                    }
                    Some(e) if !valid_email(e) => {
                        errors.insert("customer.email".into(), "is not an email address".into());
                    }
                    _ => {}
                }
                let identity = match c.identity {
                    Some(i) if i.kind.trim().is_empty() || i.number.trim().is_empty() => {
                        errors.insert("customer.identity".into(), "needs a type and a number".into());
                        None
                    }
                    Some(i) => Some((i.kind.trim().to_string(), i.number.trim().to_string())),
                    None => None,
                };
                match (name, email) {
                    (Some(n), Some(e)) => Some(CustomerInput::New {
                        name: n.to_string(),
                        email: e.to_string(),
                        identity,
                    }),
                    _ => None,
                }
            }
        }
    };
    let r#ref = match body.meta.and_then(|m| m.r#ref) {
        None => None,
        Some(r) => {
            let r = r.trim().to_string();
            let len = r.chars().count();
            if len < 10 {
                errors.insert("meta.ref".into(), "must be at least 10 characters".into());
            } else if len > 200 {
                errors.insert("meta.ref".into(), "must be at most 200 characters".into());
            } else if r.chars().any(|c| c.is_control()) {
                errors.insert("meta.ref".into(), "must not contain control characters".into());
            }
            Some(r)
        }
    };
    let institution = match body.institution {
        Some(i) if i.id.trim().is_empty() || i.auth_method.trim().is_empty() => {
            errors.insert("institution".into(), "needs an id and an auth_method".into());
            None
        }
        Some(i) => Some((i.id.trim().to_string(), i.auth_method.trim().to_string())),
        None => None,
    };
    let account = non_empty(&body.account).map(str::to_string);
    if scope == Scope::Reauth && account.is_none() {
        errors.insert("account".into(), "is required when scope is reauth".into());
    }
    match redirect_url {
        Some(redirect_url) if errors.is_empty() => Ok(WidgetLinkInput {
            scope,
            customer,
            redirect_url,
            r#ref,
            institution,
            account,
        }),
        _ => Err(ApiError::fields(errors)),
    }
}

#[utoipa::path(
    post,
    path = "/si/mono/widget-link",
    tag = "accounts",
    summary = "Start linking: a Mono widget link for the customer",
    request_body(content = WidgetLinkBody, description = "Who links and where the widget returns", example = json!({"customer":{"name":"Ada Obi","email":"ada@example.com"},"redirectUrl":"http://127.0.0.1:8080/demo/callback","meta":{"ref":"dashboard-demo-1"}})),
    responses((status = 200, description = "Start linking: a Mono widget link for the customer", body = crate::http::openapi::EnvelopeOf<WidgetLink>)),
)]
pub async fn widget_link(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<WidgetLinkBody>,
) -> Result<Envelope<WidgetLink>, ApiError> {
    let input = validate_widget_link(body)?;
    let link = link::widget_link(&state, &tenant, input).await?;
    Ok(Envelope::ok("widget link created", link))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExchangeBody {
    code: String,
    #[serde(rename = "ref")]
    r#ref: Option<String>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

redact::debug_redacted!(ExchangeBody { r#ref; code });

#[utoipa::path(
    post,
    path = "/si/mono/exchange",
    tag = "accounts",
    summary = "Exchange the widget's code for a linked account",
    request_body(content = ExchangeBody, example = json!({"code":"code_abc123"})),
    responses((status = 200, description = "Exchange the widget's code for a linked account", body = crate::http::openapi::EnvelopeOf<AccountView>)),
)]
pub async fn exchange(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<ExchangeBody>,
) -> Result<Envelope<AccountView>, ApiError> {
    let code = body.code.trim();
    if code.is_empty() {
        return Err(ApiError::field("code", "must not be empty"));
    }
    if code.len() > 512 {
        return Err(ApiError::field("code", "must be at most 512 characters"));
    }
    let r#ref = non_empty(&body.r#ref);
    if r#ref.is_some_and(|r| r.chars().count() > 200) {
        return Err(ApiError::field("ref", "must be at most 200 characters"));
    }
    let account = link::exchange(&state, &tenant, code, r#ref).await?;
    Ok(Envelope::ok("account linked", account))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AccountsQuery {
    page: Option<u32>,
    #[serde(default)]
    linked_only: bool,
    /// With `linkedOnly=true`: only the accounts whose `connection` is this
    /// (`ok`, `reauth_required`, `sync_failed`, `unlinked`).
    #[param(value_type = Option<crate::services::accounts::Connection>)]
    connection: Option<String>,
}

#[utoipa::path(
    get,
    path = "/si/mono/accounts",
    tag = "accounts",
    summary = "List accounts (Mono's list, or only the linked ones)",
    params(AccountsQuery, ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "List accounts (Mono's list, or only the linked ones)", body = crate::http::openapi::ListOf<crate::services::accounts::AccountList>)),
)]
pub async fn list_accounts(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> Result<Envelope<Value>, ApiError> {
    let connection = match q.connection.as_deref() {
        None => None,
        Some(_) if !q.linked_only => {
            return Err(ApiError::field(
                "connection",
                "is only allowed with linkedOnly=true",
            ))
        }
        Some(c) => Some(accounts::Connection::parse(c).ok_or_else(|| {
            ApiError::field(
                "connection",
                "must be one of ok, reauth_required, sync_failed, unlinked",
            )
        })?),
    };
    if q.linked_only {
        let accounts = accounts::list_linked(&state, &tenant, connection).await?;
        let total = accounts.len() as i64;
        return Ok(Envelope::ok(
            "linked accounts retrieved",
            serde_json::to_value(accounts).map_err(ApiError::internal)?,
        )
        .with_meta(PageMeta {
            total: Some(total),
            pages: Some(1),
            previous: None,
            next: None,
        }));
    }
    if !tenant.is_admin() {
        return Err(ApiError::Forbidden(
            "Mono's account list spans every customer of the Mono app; only an admin key may read it. \
             Use linkedOnly=true for this environment's linked accounts"
                .into(),
        ));
    }
    let page = q.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::field("page", "must be 1 or more"));
    }
    let (accounts, paging) = accounts::list_upstream(&state, page).await?;
    let number = |url: &Option<String>| url.as_deref().and_then(page_of);
    Ok(Envelope::ok(
        "Mono accounts retrieved",
        serde_json::to_value(accounts).map_err(ApiError::internal)?,
    )
    .with_meta(PageMeta {
        total: Some(paging.total as i64),
        pages: paging.pages.map(|p| p as i64),
        previous: number(&paging.previous),
        next: number(&paging.next),
    }))
}

/// Mono's paging links are URLs (`…?page=3`); the service hands out the page number.
fn page_of(link: &str) -> Option<String> {
    if let Ok(n) = link.parse::<u64>() {
        return Some(n.to_string());
    }
    let url = Url::parse(link)
        .or_else(|_| Url::parse("http://x/").and_then(|b| b.join(link)))
        .ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "page")
        .map(|(_, v)| v.into_owned())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    #[serde(default)]
    refresh: bool,
}

#[utoipa::path(
    get,
    path = "/si/mono/accounts/{id}",
    tag = "accounts",
    summary = "One linked account",
    params(("id" = String, Path, description = "Mono account id"), AccountQuery, ("envId" = Option<uuid::Uuid>, Query, description = "Environment id (default: the key's default environment)"), ("env" = Option<crate::http::openapi::EnvParam>, Query, description = "Environment name, `sandbox` or `production`")),
    responses((status = 200, description = "One linked account", body = crate::http::openapi::EnvelopeOf<AccountView>)),
)]
pub async fn get_account(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<Envelope<AccountView>, ApiError> {
    let account = accounts::get_account(&state, &tenant, &id, q.refresh).await?;
    Ok(Envelope::ok("account retrieved", account))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnlinkQuery {
    #[serde(default)]
    purge: bool,
}

#[utoipa::path(
    post,
    path = "/si/mono/accounts/{id}/unlink",
    tag = "accounts",
    summary = "Unlink an account (optionally purging its data)",
    params(("id" = String, Path, description = "Mono account id"), UnlinkQuery),
    responses((status = 200, description = "Unlink an account (optionally purging its data)", body = crate::http::openapi::EnvelopeOf<Unlinked>)),
)]
pub async fn unlink(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<UnlinkQuery>,
) -> Result<Envelope<Unlinked>, ApiError> {
    let done = unlink::unlink(&state, &tenant, &id, q.purge).await?;
    Ok(Envelope::ok("account unlinked", done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_links_become_page_numbers() {
        assert_eq!(
            page_of("https://api.withmono.com/v2/accounts?page=3").as_deref(),
            Some("3")
        );
        assert_eq!(page_of("/v2/accounts?page=2").as_deref(), Some("2"));
        assert_eq!(page_of("4").as_deref(), Some("4"));
        assert_eq!(page_of("https://x/v2/accounts"), None);
    }

    #[test]
    fn emails_are_checked_loosely_but_sanely() {
        assert!(valid_email("ada@acme.ng"));
        assert!(!valid_email("ada"));
        assert!(!valid_email("ada@acme"));
        assert!(!valid_email("a da@acme.ng"));
    }
}
