//! Runs every vector of `tests/fixtures/eligibility/cases.json` (a byte copy of the shared
//! fixtures) through the engine and reports every failing case by name.

use serde::Deserialize;

use crate::ELIGIBILITY_CASES as CASES;
use eligibility::{
    decide, CompiledPolicy, Detail, DraftKind, EligibilitySettings, Outcome, Reason, Rule, SettingsOverrides,
    Transaction, TxType,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    account_id: Option<String>,
    #[serde(default)]
    settings: SettingsOverrides,
    #[serde(default)]
    rules: Vec<Rule>,
    transaction: Transaction,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    outcome: Outcome,
    reason: Reason,
    detail: Option<Detail>,
    reference: Option<String>,
}

fn load_cases() -> Vec<Case> {
    let text = std::fs::read_to_string(CASES).expect("fixture file readable");
    serde_json::from_str(&text).expect("fixture file parses")
}

/// Every way `case` is not decided as expected; empty when it passes.
fn check(case: &Case) -> Vec<String> {
    let settings = match case.settings.apply(&EligibilitySettings::default()) {
        Ok(settings) => settings,
        Err(err) => return vec![format!("settings refused: {err}")],
    };
    let policy = match CompiledPolicy::compile(&settings, &case.rules) {
        Ok(policy) => policy,
        Err(err) => return vec![format!("policy refused: {err}")],
    };
    let mut tx = case.transaction.clone();
    tx.account_id = tx.account_id.or_else(|| case.account_id.clone());
    let got = decide(&tx, &policy);
    let expect = &case.expect;

    let mut problems = Vec::new();
    let mut differ = |what: &str, want: String, have: String| {
        if want != have {
            problems.push(format!("{what}: expected {want}, got {have}"));
        }
    };
    differ(
        "outcome",
        format!("{:?}", expect.outcome),
        format!("{:?}", got.outcome),
    );
    differ(
        "reason",
        format!("{:?}", expect.reason),
        format!("{:?}", got.reason),
    );
    differ(
        "detail",
        format!("{:?}", expect.detail),
        format!("{:?}", got.detail),
    );
    differ(
        "reference",
        format!("{:?}", expect.reference),
        format!("{:?}", got.reference),
    );
    let want_kind = match (expect.outcome, tx.kind) {
        (Outcome::Draft, TxType::Credit) => Some(DraftKind::Invoice),
        (Outcome::Draft, TxType::Debit) => Some(DraftKind::CreditNote),
        _ => None,
    };
    differ("kind", format!("{want_kind:?}"), format!("{:?}", got.kind));
    let rule_decided = matches!(expect.reason, Reason::Denylisted | Reason::Allowlisted);
    let rule_known = got
        .rule_id
        .as_ref()
        .is_some_and(|id| case.rules.iter().any(|rule| &rule.id == id));
    differ(
        "ruleId names a rule of the case",
        format!("{rule_decided}"),
        format!("{rule_known}"),
    );
    problems
}

#[test]
fn every_fixture_case_is_decided_as_expected() {
    let cases = load_cases();
    assert_eq!(cases.len(), 36, "the shared fixtures hold 36 cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let problems = check(case);
            (!problems.is_empty()).then(|| format!("{}: {}", case.name, problems.join("; ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn fixture_copy_is_byte_identical_to_the_shared_one() {
    // The shared folder is beside the repository in CI; skip the comparison where it is not.
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/eligibility/cases.json"
    );
    if let Ok(original) = std::fs::read(shared) {
        let copy = std::fs::read(CASES).expect("fixture file readable");
        assert!(
            copy == original,
            "tests/fixtures/eligibility/cases.json differs from shared/"
        );
    }
}

#[test]
fn decisions_serialise_in_the_classify_shape() {
    let case = load_cases()
        .into_iter()
        .find(|case| case.name == "reference from narration token")
        .expect("case present");
    let settings = case
        .settings
        .apply(&EligibilitySettings::default())
        .expect("valid settings");
    let policy = CompiledPolicy::compile(&settings, &case.rules).expect("valid policy");
    let json = serde_json::to_value(decide(&case.transaction, &policy)).expect("serialisable");
    assert_eq!(
        json,
        serde_json::json!({"outcome": "draft", "reason": "business_signal", "detail": null,
            "reference": "INV-2001", "kind": "invoice", "ruleId": null,
            "keywords": ["payment"], "counterparty": null})
    );
}
