//! The MBS sandbox's reference data (`data/mbs.json`): the resource lists MBS serves at
//! `GET /api/v1/invoice/resources/{name}` in MBS's shapes, the look-ups invoice validation
//! makes in them, and the taxpayers `verify-tin` knows.

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// The data file, read once. A file that does not parse leaves every list empty (a unit test
/// keeps it parsing).
static DATA: LazyLock<Map<String, Value>> =
    LazyLock::new(
        || match serde_json::from_str::<Value>(include_str!("../../data/mbs.json")) {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                tracing::error!("data/mbs.json does not parse: the MBS resources are empty");
                Map::new()
            }
        },
    );

/// The list named `name` (`invoice-types`, `tax-categories`, …), `None` for an unknown name.
pub fn list(name: &str) -> Option<&'static [Value]> {
    DATA.get("resources")?.get(name)?.as_array().map(Vec::as_slice)
}

/// The row of list `name` whose `key` is `value`.
pub fn find(name: &str, key: &str, value: &str) -> Option<&'static Value> {
    list(name)?
        .iter()
        .find(|row| row.get(key).and_then(Value::as_str) == Some(value))
}

pub fn is_invoice_type(code: &str) -> bool {
    find("invoice-types", "code", code).is_some()
}

pub fn is_currency(code: &str) -> bool {
    find("currencies", "code", code).is_some()
}

pub fn is_service_code(code: &str) -> bool {
    find("services-codes", "code", code).is_some()
}

pub fn is_payment_means(code: &str) -> bool {
    find("payment-means", "code", code).is_some()
}

pub fn is_country(alpha_2: &str) -> bool {
    find("countries", "alpha_2", alpha_2).is_some()
}

pub fn is_state(code: &str) -> bool {
    find("states", "code", code).is_some()
}

/// The state code of LGA `code`, when it is one.
pub fn lga_state(code: &str) -> Option<&'static str> {
    find("lgas", "code", code)?.get("state_code")?.as_str()
}

/// A tax category: `Some(Some(p))` when it fixes a percent, `Some(None)` when its percent is
/// "Not Available" or empty, `None` when there is no such category.
pub fn tax_category_percent(code: &str) -> Option<Option<f64>> {
    let row = find("tax-categories", "code", code)?;
    Some(
        row.get("percent")
            .and_then(Value::as_str)
            .and_then(|p| p.parse::<f64>().ok()),
    )
}

/// What `verify-tin` answers for `tin`, when a seeded taxpayer holds it.
pub fn taxpayer(tin: &str) -> Option<&'static Value> {
    DATA.get("taxpayers")?
        .as_array()?
        .iter()
        .find(|row| row.get("tin").and_then(Value::as_str) == Some(tin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_list_is_there_in_its_shape() {
        for name in mbs::types::RESOURCES {
            assert!(!list(name).unwrap_or_default().is_empty(), "{name}");
        }
        assert!(list("nope").is_none());
        assert!(list("invoice-types").unwrap().len() >= 20);
        assert_eq!(
            find("invoice-types", "code", "381").unwrap()["value"],
            "Commercial Invoice"
        );
        assert_eq!(tax_category_percent("STANDARD_VAT"), Some(Some(7.5)));
        assert_eq!(tax_category_percent("REDUCED_VAT"), Some(None));
        assert_eq!(tax_category_percent("VAT"), None);
        assert!(is_service_code("6920") && is_country("NG") && is_state("NG-LA"));
        assert_eq!(lga_state("NG-LA-IKJ"), Some("NG-LA"));
        assert!(is_currency("NGN") && is_payment_means("30") && is_invoice_type("380"));
        // Percents are strings, currencies complete.
        assert!(list("tax-categories")
            .unwrap()
            .iter()
            .all(|r| r["percent"].is_string()));
        let ngn = find("currencies", "code", "NGN").unwrap();
        for key in [
            "name",
            "symbol",
            "symbol_native",
            "decimal_digits",
            "rounding",
            "name_plural",
        ] {
            assert!(ngn.get(key).is_some(), "{key}");
        }
        assert!(taxpayer("12345678-0001").is_some());
    }
}
