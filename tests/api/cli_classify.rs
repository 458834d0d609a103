//! `taxpoynt-mono classify`: the fixtures turned into JSON Lines reproduce every expected
//! decision; a malformed line becomes an error line naming it and the run goes on.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{eligibility_cases, BIN};

#[test]
fn classify_reproduces_the_fixture_decisions() {
    let cases = eligibility_cases();
    let mut input = String::new();
    for (i, case) in cases.iter().enumerate() {
        input.push_str(&serde_json::to_string(case).unwrap());
        input.push('\n');
        if i == 3 {
            input.push_str("{\"transaction\": {\"id\": \"broken\"\n");
        }
    }
    let mut child = Command::new(BIN)
        .arg("classify")
        .env_remove("MONO_BUSINESS_FLOOR")
        .env_remove("MONO_REFERENCE_REGEX")
        .env_remove("MONO_INVOICE_CURRENCY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), cases.len() + 1, "one line per input line");

    let error = &lines[4];
    assert_eq!(error["line"], 5, "{error}");
    assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));

    let decisions = lines[..4].iter().chain(&lines[5..]);
    let mut failures = Vec::new();
    for (case, got) in cases.iter().zip(decisions) {
        let expect = &case["expect"];
        let mut ok = got["outcome"] == expect["outcome"] && got["reason"] == expect["reason"];
        ok &= got["detail"] == expect["detail"] || (expect["detail"].is_null() && got["detail"].is_null());
        if !expect["reference"].is_null() {
            ok &= got["reference"] == expect["reference"];
        }
        if !ok {
            failures.push(format!("{}: expected {expect}, got {got}", case["name"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
