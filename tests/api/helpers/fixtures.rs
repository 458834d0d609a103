//! The fixture files the tests read.

use serde_json::Value;

/// The eligibility fixture vectors, a byte copy of the shared ones (CI compares the two).
pub const ELIGIBILITY_CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eligibility/cases.json"
);

/// The eligibility fixture cases as JSON values.
pub fn eligibility_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(ELIGIBILITY_CASES).expect("fixture file readable");
    match serde_json::from_str(&text).expect("fixture file parses") {
        Value::Array(cases) => cases,
        other => panic!("fixture file is not an array: {other}"),
    }
}
