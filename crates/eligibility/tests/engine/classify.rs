//! `classify` over JSON Lines made from the fixture cases as they stand: every expected
//! decision comes out, and a malformed line in the middle yields an error line naming its
//! line number while the run goes on.

use serde_json::Value;

use crate::eligibility_cases as cases;
use eligibility::{classify, ClassifyStats, EligibilitySettings};

fn run(input: &str) -> (Vec<Value>, ClassifyStats) {
    let mut out = Vec::new();
    let stats = classify(input.as_bytes(), &mut out, &EligibilitySettings::default()).expect("no I/O error");
    let text = String::from_utf8(out).expect("output is UTF-8");
    let lines = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every output line is JSON"))
        .collect();
    (lines, stats)
}

/// Differences between a decision line and the case's `expect`.
fn mismatches(case: &Value, line: &Value) -> Vec<String> {
    let expect = &case["expect"];
    let mut problems = Vec::new();
    for key in ["outcome", "reason", "detail", "reference"] {
        if expect[key] != line[key] {
            problems.push(format!("{key}: expected {}, got {}", expect[key], line[key]));
        }
    }
    for key in [
        "outcome",
        "reason",
        "detail",
        "reference",
        "kind",
        "ruleId",
        "keywords",
    ] {
        if line.get(key).is_none() {
            problems.push(format!("{key} missing from the output line"));
        }
    }
    problems
}

#[test]
fn classify_reproduces_every_fixture_decision() {
    let cases = cases();
    let mut input = String::new();
    for case in &cases {
        input.push_str(&serde_json::to_string(case).expect("serialisable"));
        input.push('\n');
    }
    let (lines, stats) = run(&input);
    assert_eq!(lines.len(), cases.len(), "one output line per input line");
    let failures: Vec<String> = cases
        .iter()
        .zip(&lines)
        .filter_map(|(case, line)| {
            let problems = mismatches(case, line);
            (!problems.is_empty()).then(|| format!("{}: {}", case["name"], problems.join("; ")))
        })
        .collect();
    assert!(failures.is_empty(), "failing cases:\n{}", failures.join("\n"));
    assert_eq!(stats.lines, cases.len() as u64);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.drafts + stats.dlq + stats.skipped, cases.len() as u64);
}

#[test]
fn a_malformed_line_yields_an_error_line_and_the_run_goes_on() {
    let cases = cases();
    let half = cases.len() / 2;
    let mut input = String::new();
    for case in &cases[..half] {
        input.push_str(&serde_json::to_string(case).expect("serialisable"));
        input.push('\n');
    }
    input.push_str("{\"transaction\": {\"id\": \"broken\", \"type\": \"credit\"\n");
    let mut missing_amount = cases[0].clone();
    if let Some(tx) = missing_amount["transaction"].as_object_mut() {
        tx.remove("amount");
    }
    input.push_str(&serde_json::to_string(&missing_amount).expect("serialisable"));
    input.push('\n');
    for case in &cases[half..] {
        input.push_str(&serde_json::to_string(case).expect("serialisable"));
        input.push('\n');
    }

    let (lines, stats) = run(&input);
    assert_eq!(lines.len(), cases.len() + 2);
    let broken = &lines[half];
    assert_eq!(broken["line"], half as u64 + 1, "{broken}");
    assert!(broken["error"].is_string(), "{broken}");
    let missing = &lines[half + 1];
    assert_eq!(missing["line"], half as u64 + 2, "{missing}");
    let message = missing["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("transaction") && message.contains("amount"),
        "the error names the field: {message}"
    );
    for (case, line) in cases[half..].iter().zip(&lines[half + 2..]) {
        assert!(
            mismatches(case, line).is_empty(),
            "{} after the bad lines: {line}",
            case["name"]
        );
    }
    assert_eq!(stats.errors, 2);
}

#[test]
fn invalid_rules_and_settings_are_error_lines_naming_the_field() {
    let case = &cases()[0];
    let mut bad_rule = case.clone();
    bad_rule["rules"] = serde_json::json!([{"id": "r1", "list": "deny", "match": "regex", "pattern": "(("}]);
    let mut bad_list = case.clone();
    bad_list["rules"] = serde_json::json!([{"id": "r1", "list": "block", "pattern": "x"}]);
    let mut bad_floor = case.clone();
    bad_floor["settings"] = serde_json::json!({"floor": "lots"});
    let mut bad_currency = case.clone();
    bad_currency["settings"] = serde_json::json!({"invoiceCurrency": "naira"});
    let input: String = [&bad_rule, &bad_list, &bad_floor, &bad_currency, case]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect();
    let (lines, stats) = run(&input);
    let error = |i: usize| lines[i]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error(0).contains("pattern"), "{}", error(0));
    assert!(
        error(1).contains("list") || error(1).contains("block"),
        "{}",
        error(1)
    );
    assert!(error(2).contains("floor"), "{}", error(2));
    assert!(error(3).contains("invoiceCurrency"), "{}", error(3));
    assert_eq!(lines[4]["outcome"], "draft");
    assert_eq!(stats.errors, 4);
    assert_eq!(stats.compiles, 5);
}
