//! The engine's fuzzing entry point: arbitrary bytes decoded as a transaction and decided,
//! checking what must hold whatever the input. A panic is a bug. The cargo-fuzz target in
//! `crates/eligibility/fuzz/` and the property tests both call it.

use std::sync::LazyLock;

use crate::{decide, CompiledPolicy, EligibilitySettings, Outcome, Rule, Transaction};

static POLICY: LazyLock<CompiledPolicy> = LazyLock::new(|| {
    let rules: Vec<Rule> = serde_json::from_value(serde_json::json!([
        {"id": "r1", "list": "deny", "pattern": "betting", "field": "narration", "match": "contains"},
        {"id": "r2", "list": "allow", "pattern": "^INV-[0-9]+$", "field": "reference", "match": "regex"},
        {"id": "r3", "list": "deny", "pattern": "Mum", "field": "counterparty", "match": "exact"},
    ]))
    .expect("constant rules parse");
    CompiledPolicy::compile(&EligibilitySettings::default(), &rules).expect("constant policy compiles")
});

/// The engine: any transaction that decodes is decided, the same way twice, and a draft
/// always has a kind while a DLQ record or a skip never has.
pub fn engine(data: &[u8]) {
    let Ok(tx) = serde_json::from_slice::<Transaction>(data) else {
        return;
    };
    let first = decide(&tx, &POLICY);
    let again = decide(&tx, &POLICY);
    assert_eq!(first, again, "the engine is deterministic");
    assert_eq!(first.kind.is_some(), first.outcome == Outcome::Draft, "{first:?}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_entry_point_takes_empty_and_odd_input() {
        for input in [&b""[..], b"\n\n\n", b"{}", b"\xff\xfe", b"[", br#"{"amount": 1}"#] {
            super::engine(input);
        }
    }
}
