//! The organization profile (`/si/org/profile`): the supplier every invoice names, with the
//! TIN and service id its IRN and signature need, and the defaults a draft takes. A change
//! names every bad field at once; codes are checked against MBS's cached lists, and nothing
//! is saved unless all of it is good.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::db::tenancy::{self, Profile, ProfileChange};
use crate::error::{ApiError, FieldErrors};
use crate::party::{Address, Supplier};
use crate::services::party_checks::{self, present, CodeChecks};
use crate::state::AppState;
use crate::tenancy::{ServiceId, Tenant};

/// The invoice kinds a profile may default to.
pub const INVOICE_KINDS: [&str; 3] = ["B2B", "B2C", "B2G"];

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"name": "Acme Nigeria Ltd", "tin": "12345678-0001", "serviceId": "ACME2026", "businessId": "9f2c3a58-3b8e-4c1f-9a57-1d2e3f405162", "email": "billing@acme.ng", "telephone": "+2348012345678", "address": {"street": "12 Marina", "city": "Lagos", "country": "NG", "state": "NG-LA", "lga": "NG-LA-IKJ"}, "description": "Office supplies", "defaults": {"serviceCode": "6920", "taxCategory": "STANDARD_VAT", "invoiceKind": null, "paymentTermsDays": 30}, "updatedAt": "2026-12-08T10:00:00Z"}))]
pub struct ProfileView {
    name: String,
    tin: Option<String>,
    /// 8 letters or digits, part of every IRN.
    service_id: String,
    /// The UUID MBS issued the business.
    business_id: Option<Uuid>,
    email: Option<String>,
    telephone: Option<String>,
    address: Option<Address>,
    description: Option<String>,
    defaults: DefaultsView,
    updated_at: DateTime<Utc>,
}

/// What a draft takes when nothing else says.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultsView {
    /// A code of MBS's `services-codes`, for a draft no rule gave one.
    service_code: Option<String>,
    /// A code of MBS's `tax-categories` (`STANDARD_VAT` unless changed).
    tax_category: String,
    /// `B2B`, `B2C` or `B2G`; null: B2B when the buyer has a TIN, else B2C.
    invoice_kind: Option<String>,
    /// Due date = issue date + this many days (0 to 365).
    payment_terms_days: i32,
}

impl From<Profile> for ProfileView {
    fn from(p: Profile) -> Self {
        ProfileView {
            name: p.name,
            tin: p.tin,
            service_id: p.service_id,
            business_id: p.business_id,
            email: p.email,
            telephone: p.telephone,
            address: p.address,
            description: p.description,
            defaults: DefaultsView {
                service_code: p.default_service_code,
                tax_category: p.default_tax_category,
                invoice_kind: p.default_invoice_kind,
                payment_terms_days: p.payment_terms_days,
            },
            updated_at: p.updated_at,
        }
    }
}

/// The organization as the supplier an invoice names.
pub fn supplier(profile: &Profile) -> Supplier {
    Supplier {
        name: profile.name.clone(),
        tin: profile.tin.clone(),
        email: profile.email.clone(),
        telephone: profile.telephone.clone(),
        address: profile.address.clone(),
        business_id: profile.business_id,
        service_id: profile.service_id.clone(),
        description: profile.description.clone(),
    }
}

/// `PUT /si/org/profile`: an absent field is left alone; `null` clears an optional one
/// (`name`, `serviceId`, `defaults.taxCategory` and `defaults.paymentTermsDays` cannot be
/// cleared). `address` is replaced whole; `defaults` member by member.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Ltd", "tin": "12345678-0001", "email": "billing@acme.example", "telephone": "+2348012345678", "address": {"street": "12 Marina", "city": "Lagos", "country": "NG", "state": "NG-LA"}, "defaults": {"taxCategory": "STANDARD_VAT", "paymentTermsDays": 30}}))]
pub struct ProfilePatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(min_length = 1, max_length = 200)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[0-9-]{8,20}$")]
    tin: Option<Option<String>>,
    /// 8 letters or digits: the IRN template's service id at MBS.
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[A-Za-z0-9]{8}$")]
    service_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    business_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^\+[0-9 -]+$", max_length = 40)]
    telephone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::party::Address>)]
    address: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    defaults: Option<Option<DefaultsPatch>>,
    /// Environment selectors, read by the `Tenant` extractor.
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

/// The defaults a draft takes, member by member.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultsPatch {
    #[serde(default, deserialize_with = "present")]
    service_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    tax_category: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<mbs::InvoiceKind>)]
    invoice_kind: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(minimum = 0, maximum = 365)]
    payment_terms_days: Option<Option<i64>>,
}

pub async fn get(state: &AppState, tenant: &Tenant) -> Result<ProfileView, ApiError> {
    Ok(tenancy::profile(&state.db, tenant).await?.into())
}

pub async fn update(state: &AppState, tenant: &Tenant, patch: ProfilePatch) -> Result<ProfileView, ApiError> {
    let (change, mut bad, codes) = parse_patch(patch);
    let checked = codes.run(state, &mut bad).await;
    party_checks::verdict(bad, checked)?;
    Ok(tenancy::update_profile(&state.db, tenant, &change).await?.into())
}

/// The change, every format problem, and the codes still to check against MBS's lists (only
/// those being changed).
fn parse_patch(p: ProfilePatch) -> (ProfileChange, FieldErrors, CodeChecks) {
    let mut bad = FieldErrors::new();
    let mut codes = CodeChecks::default();
    let mut change = ProfileChange::default();
    match p.name {
        None => {}
        Some(None) => {
            bad.insert("name".into(), "cannot be cleared".into());
        }
        Some(Some(name)) => match party_checks::name(&name) {
            Ok(name) => change.name = Some(name),
            Err(rule) => {
                bad.insert("name".into(), rule.into());
            }
        },
    }
    change.tin = party_checks::optional_checked("tin", p.tin, &mut bad, party_checks::tin);
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
    let business_id = party_checks::optional_checked("businessId", p.business_id, &mut bad, |s| {
        Uuid::parse_str(s)
            .map(|u| u.to_string())
            .map_err(|_| "must be the UUID MBS issued the business")
    });
    change.business_id = business_id.map(|b| b.and_then(|s| Uuid::parse_str(&s).ok()));
    change.email = party_checks::optional_checked("email", p.email, &mut bad, party_checks::email);
    change.telephone =
        party_checks::optional_checked("telephone", p.telephone, &mut bad, party_checks::telephone);
    match p.address {
        None => {}
        Some(None) => change.address = Some(None),
        Some(Some(value)) => {
            if let Some(address) = party_checks::address("address", value, &mut bad) {
                codes.address("address", &address);
                change.address = Some(Some(address));
            }
        }
    }
    change.description = party_checks::optional_checked("description", p.description, &mut bad, |s| {
        if s.chars().count() <= 1000 {
            Ok(s.to_owned())
        } else {
            Err("must be at most 1000 characters")
        }
    });
    match p.defaults {
        None => {}
        Some(None) => {
            bad.insert(
                "defaults".into(),
                "cannot be cleared; set its members instead".into(),
            );
        }
        Some(Some(d)) => parse_defaults(d, &mut change, &mut bad, &mut codes),
    }
    (change, bad, codes)
}

fn parse_defaults(
    d: DefaultsPatch,
    change: &mut ProfileChange,
    bad: &mut FieldErrors,
    codes: &mut CodeChecks,
) {
    let code = |s: &str| {
        if s.len() <= 50 {
            Ok(s.to_owned())
        } else {
            Err("must be at most 50 characters")
        }
    };
    change.default_service_code =
        party_checks::optional_checked("defaults.serviceCode", d.service_code, bad, code);
    if let Some(Some(c)) = &change.default_service_code {
        codes.want("defaults.serviceCode", "services-codes", c);
    }
    match party_checks::optional_text(d.tax_category) {
        None => {}
        Some(None) => {
            bad.insert("defaults.taxCategory".into(), "cannot be cleared".into());
        }
        Some(Some(c)) => match code(&c) {
            Ok(c) => {
                codes.want("defaults.taxCategory", "tax-categories", &c);
                change.default_tax_category = Some(c);
            }
            Err(rule) => {
                bad.insert("defaults.taxCategory".into(), rule.into());
            }
        },
    }
    change.default_invoice_kind =
        party_checks::optional_checked("defaults.invoiceKind", d.invoice_kind, bad, |s| {
            INVOICE_KINDS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s))
                .map(|k| (*k).to_owned())
                .ok_or("must be B2B, B2C or B2G")
        });
    match d.payment_terms_days {
        None => {}
        Some(None) => {
            bad.insert("defaults.paymentTermsDays".into(), "cannot be cleared".into());
        }
        Some(Some(days)) if (0..=365).contains(&days) => change.payment_terms_days = Some(days as i32),
        Some(Some(_)) => {
            bad.insert("defaults.paymentTermsDays".into(), "must be 0 to 365 days".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<(ProfileChange, CodeChecks), ApiError> {
        let (change, bad, codes) = parse_patch(crate::http::extract::parse_json(json.as_bytes())?);
        party_checks::verdict(bad, Ok(()))?;
        Ok((change, codes))
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
            bad_fields(
                r#"{"name": " ", "tin": "12ab", "serviceId": "short", "email": "x@y",
                    "telephone": "0801", "businessId": "nope", "address": {"street": "1 Marina"},
                    "defaults": {"invoiceKind": "B2X", "paymentTermsDays": 400, "taxCategory": null}}"#
            ),
            [
                "address.city",
                "address.country",
                "businessId",
                "defaults.invoiceKind",
                "defaults.paymentTermsDays",
                "defaults.taxCategory",
                "email",
                "name",
                "serviceId",
                "telephone",
                "tin"
            ]
        );
        assert_eq!(
            bad_fields(r#"{"name": null, "serviceId": null, "defaults": null}"#),
            ["defaults", "name", "serviceId"]
        );
    }

    #[test]
    fn absent_fields_stay_and_null_clears() {
        let (c, codes) = patch(
            r#"{"tin": null, "email": "", "telephone": "+234 801 234 5678",
                "address": {"street": "12 Marina", "city": "Lagos", "country": "NG"},
                "defaults": {"invoiceKind": "b2g"}}"#,
        )
        .unwrap();
        assert_eq!(c.name, None);
        assert_eq!(c.tin, Some(None));
        assert_eq!(c.email, Some(None));
        assert_eq!(c.telephone, Some(Some("+234 801 234 5678".into())));
        assert_eq!(c.address.unwrap().unwrap().city, "Lagos");
        assert_eq!(c.service_id, None);
        assert_eq!(c.default_invoice_kind, Some(Some("B2G".into())));
        assert_eq!(c.default_tax_category, None);
        // Only the codes being changed are checked: the address's country.
        assert_eq!(codes.wanted_lists(), ["countries"]);
    }
}
