//! Tenancy: API keys (generation, hashing) and the `Tenant` extractor that turns a bearer key
//! plus `envId`/`env` (query or JSON body) into the organization and environment of a call.

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvName {
    Sandbox,
    Production,
}

impl EnvName {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvName::Sandbox => "sandbox",
            EnvName::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(EnvName::Sandbox),
            "production" => Some(EnvName::Production),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Tenant,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Tenant => "tenant",
            Role::Admin => "admin",
        }
    }
}

/// The caller of a `/si/*` request: whose data it may see and in which environment.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub org_id: Uuid,
    pub env_id: Uuid,
    pub env: EnvName,
    pub role: Role,
    pub key_id: Uuid,
}

impl Tenant {
    /// The tenant a background job acts for: no key, tenant rights, one environment.
    pub fn system(org_id: Uuid, env_id: Uuid) -> Self {
        Tenant {
            org_id,
            env_id,
            env: EnvName::Sandbox,
            role: Role::Tenant,
            key_id: Uuid::nil(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A freshly generated key: shown once, stored only as its hash.
pub struct GeneratedKey {
    pub plaintext: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

const KEY_PREFIX: &str = "tpm_";

pub fn generate_api_key() -> GeneratedKey {
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let plaintext = format!("{KEY_PREFIX}{secret}");
    GeneratedKey {
        prefix: plaintext[..KEY_PREFIX.len() + 8].to_string(),
        hash: hash_api_key(&plaintext),
        plaintext,
    }
}

pub fn hash_api_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

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
    let limit = crate::startup::BODY_LIMIT;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    if !is_json {
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
    let query: EnvQuery = crate::http::extract::parse_query(parts.uri.query().unwrap_or(""))?;
    let body = parts.extensions.get::<BodyEnvHint>().cloned().unwrap_or_default();
    let env_id = query.env_id.or(body.env_id).filter(|s| !s.is_empty());
    let env = query.env.or(body.env).filter(|s| !s.is_empty());
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
        let hash = hash_api_key(key);
        let (env_id, env_name) = requested_environment(parts)?;
        let resolved = crate::db::tenancy::resolve_key(&state.db, &hash, env_id, env_name)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))?;
        let (env_id, env) = resolved
            .env
            .ok_or_else(|| ApiError::not_found("environment not found"))?;
        let tenant = Tenant {
            org_id: resolved.org_id,
            env_id,
            env: EnvName::parse(&env).unwrap_or(EnvName::Sandbox),
            role: if resolved.role == "admin" {
                Role::Admin
            } else {
                Role::Tenant
            },
            key_id: resolved.key_id,
        };
        let span = tracing::Span::current();
        span.record("org", tracing::field::display(tenant.org_id));
        span.record("env", tracing::field::display(tenant.env_id));
        parts.extensions.insert(tenant.clone());
        Ok(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with("tpm_"));
        assert_eq!(a.prefix.len(), 12);
        assert!(a.plaintext.starts_with(&a.prefix));
        assert_eq!(a.hash, hash_api_key(&a.plaintext));
        assert_eq!(a.hash.len(), 32);
    }
}
