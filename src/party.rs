//! The parties of an e-invoice as this API writes them: a postal address, and the buyer and
//! supplier details an invoice carries. Pure: shapes and format checks only; whether a code
//! (country, state, LGA) is one of MBS's is checked by the services against the cached lists.

use serde::{Deserialize, Serialize};

use crate::error::FieldErrors;

/// `{street, city, postalZone?, country, state?, lga?}`: `country` ISO 3166 alpha-2 (`NG`),
/// `state` and `lga` MBS's codes (`NG-LA`, `NG-LA-IKJ`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    pub street: String,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_zone: Option<String>,
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lga: Option<String>,
}

impl Address {
    /// Format problems, each named `{prefix}.{member}` (`supplier.address.city`).
    pub fn problems(&self, prefix: &str, fields: &mut FieldErrors) {
        let mut problem = |member: &str, text: &str| {
            fields.insert(format!("{prefix}.{member}"), text.to_owned());
        };
        if self.street.trim().is_empty() || self.street.len() > 200 {
            problem("street", "must be 1 to 200 characters");
        }
        if self.city.trim().is_empty() || self.city.len() > 100 {
            problem("city", "must be 1 to 100 characters");
        }
        if self.postal_zone.as_ref().is_some_and(|z| z.len() > 20) {
            problem("postalZone", "must be at most 20 characters");
        }
        if !(self.country.len() == 2 && self.country.bytes().all(|b| b.is_ascii_uppercase())) {
            problem("country", "must be an ISO 3166 alpha-2 code such as NG");
        }
        if self.state.as_ref().is_some_and(|s| s.is_empty() || s.len() > 10) {
            problem("state", "must be a state code such as NG-LA");
        }
        if self.lga.as_ref().is_some_and(|l| l.is_empty() || l.len() > 20) {
            problem("lga", "must be a local government code such as NG-LA-IKJ");
        }
    }

    /// The address as MBS's `postal_address`.
    pub fn to_mbs(&self) -> mbs::PostalAddress {
        mbs::PostalAddress {
            street_name: self.street.clone(),
            city_name: self.city.clone(),
            postal_zone: self.postal_zone.clone(),
            country: self.country.clone(),
            state: self.state.clone(),
            lga: self.lga.clone(),
        }
    }
}

/// The buyer an invoice names: `{id?, name, tin?, email?, telephone?, address?}`; `id` is the
/// buyer directory's entry it came from or went to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Buyer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<uuid::Uuid>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// The supplier an invoice names, a snapshot of the organization profile taken at
/// validation: `{name, tin, email, telephone, address, businessId, serviceId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Supplier {
    pub name: String,
    pub tin: Option<String>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub address: Option<Address>,
    pub business_id: Option<uuid::Uuid>,
    pub service_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A telephone number as MBS takes it: `+` then 7 to 15 digits (spaces and `-` allowed
/// between them).
pub fn is_telephone(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('+') else {
        return false;
    };
    let digits = rest.bytes().filter(u8::is_ascii_digit).count();
    rest.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-') && (7..=15).contains(&digits)
}

/// An email address as far as a form can tell: one `@` with text on both sides and a dot in
/// the domain, at most 254 characters, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telephones_and_emails() {
        assert!(is_telephone("+2348012345678"));
        assert!(is_telephone("+234 801 234 5678"));
        assert!(!is_telephone("08012345678"));
        assert!(!is_telephone("+12"));
        assert!(is_email("billing@acme.ng"));
        assert!(!is_email("billing@acme"));
        assert!(!is_email("bill ing@acme.ng"));
    }

    #[test]
    fn address_problems_are_named_under_their_prefix() {
        let address = Address {
            street: String::new(),
            city: "Lagos".into(),
            postal_zone: None,
            country: "ng".into(),
            state: Some("NG-LA".into()),
            lga: None,
        };
        let mut fields = FieldErrors::new();
        address.problems("buyer.address", &mut fields);
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(names, ["buyer.address.country", "buyer.address.street"]);
        assert_eq!(address.to_mbs().street_name, "");
    }
}
