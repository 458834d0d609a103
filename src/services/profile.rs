//! The organization profile (`/si/org/profile`): the supplier every invoice names, with the
//! TIN and service id its IRN and signature need. A change names every bad field at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::db::tenancy::{self, Profile, ProfileChange};
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;
use crate::tenancy::{ServiceId, Tenant, Tin};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    name: String,
    tin: Option<String>,
    service_id: String,
    address: Option<String>,
    email: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<Profile> for ProfileView {
    fn from(p: Profile) -> Self {
        ProfileView {
            name: p.name,
            tin: p.tin,
            service_id: p.service_id,
            address: p.address,
            email: p.email,
            updated_at: p.updated_at,
        }
    }
}

/// `PUT /si/org/profile`: an absent field is left alone; `null` clears `tin`, `address` or
/// `email` (`name` and `serviceId` cannot be cleared).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    tin: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    service_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    address: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    /// Environment selectors, read by the `Tenant` extractor.
    #[serde(default, rename = "envId")]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    _env: Option<Value>,
}

/// Distinguishes `"field": null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub async fn get(state: &AppState, tenant: &Tenant) -> Result<ProfileView, ApiError> {
    Ok(tenancy::profile(&state.db, tenant).await?.into())
}

pub async fn update(state: &AppState, tenant: &Tenant, patch: ProfilePatch) -> Result<ProfileView, ApiError> {
    let change = parse_patch(patch)?;
    Ok(tenancy::update_profile(&state.db, tenant, &change).await?.into())
}

fn parse_patch(p: ProfilePatch) -> Result<ProfileChange, ApiError> {
    let mut bad = FieldErrors::new();
    let mut change = ProfileChange::default();
    match p.name {
        None => {}
        Some(None) => {
            bad.insert("name".into(), "cannot be cleared".into());
        }
        Some(Some(name)) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                bad.insert("name".into(), "must be 1 to 200 characters".into());
            } else {
                change.name = Some(name.to_string());
            }
        }
    }
    match p.tin {
        None => {}
        Some(None) => change.tin = Some(None),
        Some(Some(tin)) => match Tin::parse(&tin) {
            Ok(tin) => change.tin = Some(Some(tin.as_str().to_string())),
            Err(rule) => {
                bad.insert("tin".into(), rule.into());
            }
        },
    }
    match p.service_id {
        None => {}
        Some(None) => {
            bad.insert("serviceId".into(), "cannot be cleared".into());
        }
        Some(Some(id)) => match ServiceId::parse(&id) {
            Ok(id) => change.service_id = Some(id.as_str().to_string()),
            Err(rule) => {
                bad.insert("serviceId".into(), rule.into());
            }
        },
    }
    let address = optional_text(p.address);
    match &address {
        Some(Some(a)) if a.chars().count() > 500 => {
            bad.insert("address".into(), "must be at most 500 characters".into());
        }
        _ => change.address = address,
    }
    let email = optional_text(p.email);
    match &email {
        Some(Some(e)) if !is_email(e) => {
            bad.insert(
                "email".into(),
                "must be an email address such as billing@example.com".into(),
            );
        }
        _ => change.email = email,
    }
    if bad.is_empty() {
        Ok(change)
    } else {
        Err(ApiError::fields(bad))
    }
}

/// Trimmed; an empty string clears the field like `null`.
fn optional_text(v: Option<Option<String>>) -> Option<Option<String>> {
    v.map(|inner| inner.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// A plausible address: one `@`, something before it, a dotted domain after, no spaces.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<ProfileChange, ApiError> {
        parse_patch(crate::http::extract::parse_json(json.as_bytes())?)
    }

    fn bad_fields(json: &str) -> Vec<String> {
        match patch(json) {
            Err(ApiError::BadRequest { fields, .. }) => fields.into_keys().collect(),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            bad_fields(r#"{"name": " ", "tin": "12ab", "serviceId": "short", "email": "x@y"}"#),
            ["email", "name", "serviceId", "tin"]
        );
        assert_eq!(
            bad_fields(r#"{"name": null, "serviceId": null}"#),
            ["name", "serviceId"]
        );
    }

    #[test]
    fn absent_fields_stay_and_null_clears() {
        let c = patch(r#"{"tin": null, "email": "", "address": "12 Marina, Lagos"}"#).unwrap();
        assert_eq!(c.name, None);
        assert_eq!(c.tin, Some(None));
        assert_eq!(c.email, Some(None));
        assert_eq!(c.address, Some(Some("12 Marina, Lagos".into())));
        assert_eq!(c.service_id, None);
    }
}
