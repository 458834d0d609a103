//! Every endpoint that takes a body, sent what a broken client sends: truncated JSON, bytes
//! that are not UTF-8, a body over the limit, the wrong content type, JSON of the wrong
//! shape. Each answers in the failure envelope with the right status, never a 5xx, and
//! nothing is stored.

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/si/mono/widget-link"),
    ("POST", "/si/mono/exchange"),
    ("POST", "/si/mono/sync"),
    ("POST", "/si/mono/sync-stored"),
    ("POST", "/si/mono/allow-deny"),
    ("POST", "/si/mono/allow-deny/preview"),
    ("PUT", "/si/mono/settings"),
    ("PUT", "/si/org/profile"),
    ("POST", "/si/mono/dlq/replay"),
    (
        "POST",
        "/si/mono/dlq/00000000-0000-0000-0000-000000000000/resolve",
    ),
    (
        "POST",
        "/si/invoices/00000000-0000-0000-0000-000000000000/confirm",
    ),
    ("POST", "/si/mono/webhook"),
];

/// Rows of everything a body could make.
async fn count_rows(pool: &PgPool) -> i64 {
    let mut rows = 0;
    for table in [
        "mono_link_refs",
        "eligibility_rules",
        "webhook_deliveries",
        "jobs",
    ] {
        rows += count(pool, table).await;
    }
    rows
}

#[sqlx::test]
async fn broken_bodies_answer_in_the_envelope_on_every_endpoint(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let bearer = app.bearer();
    let before = count_rows(&pool).await;
    let huge = format!("{{\"pattern\": \"{}\"}}", "x".repeat(1_100_000));
    let cases: Vec<(&str, Vec<u8>, &str, &[u16])> = vec![
        (
            "truncated JSON",
            br#"{"list": "deny", "pattern": "be"#.to_vec(),
            "application/json",
            &[400, 401],
        ),
        (
            "not UTF-8",
            b"{\"pattern\": \"\xff\xfe\xfd\"}".to_vec(),
            "application/json",
            &[400, 401],
        ),
        (
            "Latin-1 text",
            "{\"note\": \"caf\u{e9}\"}".chars().map(|c| c as u8).collect(),
            "application/json",
            &[400, 401],
        ),
        ("over the limit", huge.into_bytes(), "application/json", &[413]),
        (
            "wrong content type",
            br#"{"pattern": "x"}"#.to_vec(),
            "text/plain",
            &[415, 401, 400],
        ),
        (
            "JSON of the wrong shape",
            b"[1, 2, 3]".to_vec(),
            "application/json",
            &[400, 401],
        ),
        (
            "a JSON string",
            b"\"hello\"".to_vec(),
            "application/json",
            &[400, 401],
        ),
        (
            "nested too deep",
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            "application/json",
            &[400, 401],
        ),
    ];
    let mut tried = 0;
    for (method, path) in ENDPOINTS {
        let method: Method = method.parse().unwrap();
        for (what, body, content_type, expected) in &cases {
            let resp = app
                .raw(
                    method.clone(),
                    path,
                    &[("authorization", bearer.as_str()), ("content-type", content_type)],
                    body.clone(),
                )
                .await;
            assert!(
                expected.contains(&resp.status),
                "{method} {path} with {what}: {} {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            );
            let answer: Value = serde_json::from_slice(&resp.body)
                .unwrap_or_else(|_| panic!("{method} {path} with {what}: not JSON"));
            assert_failure(&answer);
            assert!(resp.headers.contains_key("x-trace-id"));
            tried += 1;
        }
    }
    assert_eq!(count_rows(&pool).await, before, "nothing stored");
    eprintln!("bad bodies: {tried} requests, every one answered in the envelope");
}
