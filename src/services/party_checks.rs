//! Checks shared by the organization profile and the buyer directory: the partial-update
//! fields of a request (absent = unchanged, `null` clears), the formats of a TIN, an email,
//! a telephone number and an address, and codes checked against MBS's cached lists. Every
//! problem is collected under its field name, so one 400 names them all.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{ApiError, FieldErrors};
use crate::party::{self, Address};
use crate::services::mbs_resources;
use crate::state::AppState;
use crate::tenancy::Tin;

/// Distinguishes `"field": null` (Some(None)) from an absent field (None).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Trimmed; an empty string clears the field like `null`.
pub fn optional_text(v: Option<Option<String>>) -> Option<Option<String>> {
    v.map(|inner| inner.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// An optional text field through `check` (which answers the value to store or the rule it
/// broke); a bad value is named in `bad` and changes nothing.
pub fn optional_checked(
    field: &str,
    v: Option<Option<String>>,
    bad: &mut FieldErrors,
    check: impl Fn(&str) -> Result<String, &'static str>,
) -> Option<Option<String>> {
    match optional_text(v) {
        Some(Some(s)) => match check(&s) {
            Ok(s) => Some(Some(s)),
            Err(rule) => {
                bad.insert(field.into(), rule.into());
                None
            }
        },
        other => other,
    }
}

pub fn tin(s: &str) -> Result<String, &'static str> {
    Tin::parse(s).map(|t| t.as_str().to_owned())
}

pub fn email(s: &str) -> Result<String, &'static str> {
    if party::is_email(s) {
        Ok(s.to_owned())
    } else {
        Err("must be an email address such as billing@example.com")
    }
}

pub fn telephone(s: &str) -> Result<String, &'static str> {
    if party::is_telephone(s) && s.len() <= 40 {
        Ok(s.to_owned())
    } else {
        Err("must start with + and hold 7 to 15 digits, such as +2348012345678")
    }
}

/// A name: trimmed, 1 to 200 characters.
pub fn name(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 {
        Err("must be 1 to 200 characters")
    } else {
        Ok(s.to_owned())
    }
}

/// An address from JSON, every problem named under `field` (`address.city`, …); None when
/// it has any. Codes (country, state, LGA) are checked against MBS's lists separately.
pub fn address(field: &str, value: Value, bad: &mut FieldErrors) -> Option<Address> {
    const MEMBERS: [&str; 6] = ["street", "city", "postalZone", "country", "state", "lga"];
    let Value::Object(map) = value else {
        bad.insert(
            field.into(),
            "must be an object {street, city, postalZone?, country, state?, lga?}".into(),
        );
        return None;
    };
    let before = bad.len();
    let mut text = BTreeMap::new();
    for (key, v) in map {
        if !MEMBERS.contains(&key.as_str()) {
            bad.insert(format!("{field}.{key}"), "is not a member of an address".into());
            continue;
        }
        match v {
            Value::Null => {}
            Value::String(s) => {
                let s = s.trim().to_owned();
                if !s.is_empty() {
                    text.insert(key, s);
                }
            }
            _ => {
                bad.insert(format!("{field}.{key}"), "must be a string".into());
            }
        }
    }
    let mut required = |member: &str| -> String {
        text.get(member).cloned().unwrap_or_else(|| {
            bad.entry(format!("{field}.{member}"))
                .or_insert_with(|| "is required".into());
            String::new()
        })
    };
    let street = required("street");
    let city = required("city");
    let country = required("country");
    let address = Address {
        street,
        city,
        postal_zone: text.get("postalZone").cloned(),
        country,
        state: text.get("state").cloned(),
        lga: text.get("lga").cloned(),
    };
    let mut problems = FieldErrors::new();
    address.problems(field, &mut problems);
    for (k, v) in problems {
        bad.entry(k).or_insert(v);
    }
    (bad.len() == before).then_some(address)
}

/// Codes to check against MBS's lists: each `(field, list, code)`.
#[derive(Debug, Default)]
pub struct CodeChecks {
    wanted: Vec<(String, &'static str, String)>,
}

impl CodeChecks {
    pub fn want(&mut self, field: impl Into<String>, list: &'static str, code: &str) {
        self.wanted.push((field.into(), list, code.to_owned()));
    }

    /// The codes of an address: `country` in `countries`, `state` in `states`, `lga` in `lgas`.
    pub fn address(&mut self, field: &str, a: &Address) {
        self.want(format!("{field}.country"), "countries", &a.country);
        if let Some(state) = &a.state {
            self.want(format!("{field}.state"), "states", state);
        }
        if let Some(lga) = &a.lga {
            self.want(format!("{field}.lga"), "lgas", lga);
        }
    }

    /// The lists to be consulted, in order asked (for tests).
    pub fn wanted_lists(&self) -> Vec<&'static str> {
        self.wanted.iter().map(|(_, list, _)| *list).collect()
    }

    /// Names in `bad` every code not in its list. A list that cannot be had (MBS not
    /// configured, or down and never fetched) is not guessed at: its error is answered, so the
    /// caller refuses the change (when nothing else is wrong with it, with that 503).
    pub async fn run(self, state: &AppState, bad: &mut FieldErrors) -> Result<(), ApiError> {
        let mut lists: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut unavailable = None;
        for (field, list, code) in self.wanted {
            if !lists.contains_key(list) {
                match mbs_resources::codes(state, list).await {
                    Ok(codes) => {
                        lists.insert(list, codes);
                    }
                    Err(e) => {
                        unavailable.get_or_insert(e);
                        continue;
                    }
                }
            }
            if !lists[list].contains(&code) {
                bad.insert(field, format!("`{code}` is not one of MBS's `{list}` codes"));
            }
        }
        match unavailable {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The outcome of a change's checks: 400 naming every bad field; else the 503 of a code list
/// that could not be had; else fine.
pub fn verdict(bad: FieldErrors, codes: Result<(), ApiError>) -> Result<(), ApiError> {
    if !bad.is_empty() {
        return Err(ApiError::fields(bad));
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_address_names_every_problem() {
        let mut bad = FieldErrors::new();
        let a = address(
            "address",
            json!({"street": " ", "country": "nga", "lga": 3, "zip": "x"}),
            &mut bad,
        );
        assert!(a.is_none());
        let names: Vec<&str> = bad.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "address.city",
                "address.country",
                "address.lga",
                "address.street",
                "address.zip"
            ]
        );
    }

    #[test]
    fn a_good_address_is_trimmed() {
        let mut bad = FieldErrors::new();
        let a = address(
            "address",
            json!({"street": " 1 Marina ", "city": "Lagos", "country": "NG", "state": "NG-LA", "postalZone": null}),
            &mut bad,
        )
        .unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(a.street, "1 Marina");
        assert_eq!(a.postal_zone, None);
        assert_eq!(a.state.as_deref(), Some("NG-LA"));
    }
}
