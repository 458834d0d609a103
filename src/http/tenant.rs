//! The `Tenant` extractor: a bearer key plus `envId`/`env` (query or JSON body) resolved to
//! the organization and environment of a call, and the middleware that peeks at JSON bodies
//! for the environment (and refuses bodies over [`BODY_LIMIT`] up front).

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::extract::BODY_LIMIT;
use crate::http::extract::{is_json, parse_query};
use crate::services::tenants::resolve_key;
use crate::state::AppState;
use crate::tenancy::{EnvName, Tenant};

/// `envId`/`env` found in a JSON body by [`peek_environment`].
#[derive(Debug, Clone, Default)]
struct BodyEnvHint {
    env_id: Option<String>,
    env: Option<String>,
}

#[derive(Deserialize)]
struct EnvPeek {
    #[serde(rename = "envId")]
    env_id: Option<serde_json::Value>,
    env: Option<serde_json::Value>,
}

/// Middleware for `/si/*`: refuses bodies over the limit up front (413), and reads `envId`/`env`
/// out of a JSON body so the `Tenant` extractor sees them without consuming the body.
pub async fn peek_environment(req: Request, next: Next) -> Response {
    let limit = BODY_LIMIT;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    if !is_json(req.headers()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError::PayloadTooLarge { limit }.into_response(),
    };
    // A body that is not a JSON object is left for the handler's extractor to report.
    if let Ok(peek) = serde_json::from_slice::<EnvPeek>(&bytes) {
        let as_text = |v: Option<serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
        };
        parts.extensions.insert(BodyEnvHint {
            env_id: as_text(peek.env_id),
            env: as_text(peek.env),
        });
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

#[derive(Deserialize)]
struct EnvQuery {
    #[serde(rename = "envId")]
    env_id: Option<String>,
    env: Option<String>,
}

/// The environment a request names: `envId` preferred, then `env`, query before body.
fn requested_environment(parts: &Parts) -> Result<(Option<Uuid>, EnvName), ApiError> {
    let query: EnvQuery = parse_query(parts.uri.query().unwrap_or(""))?;
    let body = parts.extensions.get::<BodyEnvHint>().cloned().unwrap_or_default();
    // Given empty, a selector is a mistake, not a request for the default environment.
    let env_id = query.env_id.or(body.env_id);
    let env = query.env.or(body.env);
    let env_id = match env_id {
        None => None,
        Some(raw) => Some(
            Uuid::parse_str(raw.trim_matches('"'))
                .map_err(|_| ApiError::field("envId", "must be an environment id (a UUID)"))?,
        ),
    };
    let name = match env.as_deref() {
        None => EnvName::Sandbox,
        Some(raw) => EnvName::parse(raw.trim_matches('"'))
            .ok_or_else(|| ApiError::field("env", "must be `sandbox` or `production`"))?,
    };
    Ok((env_id, name))
}

fn bearer_key(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing `Authorization: Bearer <api key>` header".into()))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let (scheme, key) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("Authorization header must be `Bearer <api key>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "Authorization header must be `Bearer <api key>`".into(),
        ));
    }
    Ok(key.trim())
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(tenant) = parts.extensions.get::<Tenant>() {
            return Ok(tenant.clone());
        }
        let key = bearer_key(parts)?;
        let (env_id, env_name) = requested_environment(parts)?;
        let tenant = resolve_key(&state.db, key, env_id, env_name).await?;
        crate::services::limits::admit(state, &tenant)?;
        let span = tracing::Span::current();
        span.record("org", tracing::field::display(tenant.org_id));
        span.record("env", tracing::field::display(tenant.env_id));
        parts.extensions.insert(tenant.clone());
        Ok(tenant)
    }
}
