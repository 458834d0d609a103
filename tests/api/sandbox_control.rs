//! The sandbox over raw HTTP: authentication, failure envelopes for bad input, paging links,
//! the control endpoints, determinism by seed, and the in-process and standalone ways to run.

use std::collections::HashSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use reqwest::Method;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::mono::*;
use crate::helpers::sandbox::{self, SandboxConfig, SandboxHandle, SandboxState};
use crate::helpers::{
    client, client_config, control, create_account, free_port, install_fault, raw, sandbox_url,
    start_sandbox, try_raw, wait_for,
};

/// `method path` on the sandbox with the `mono-sec-key` and the JSON text `body` given.
async fn request(
    sandbox: &SandboxHandle,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut headers = Vec::new();
    if let Some(key) = key {
        headers.push(("mono-sec-key", key));
    }
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let response = raw(
        method,
        &sandbox_url(sandbox, path),
        &headers,
        body.unwrap_or_default(),
    )
    .await;
    (response.status, response.json())
}

fn assert_failed(body: &Value, needle: &str) {
    assert_eq!(body["status"], "failed", "{body}");
    assert!(body["data"].is_null(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(needle), "`{message}` lacks `{needle}`");
}

const KEY: &str = "test_sk_sandbox";

#[tokio::test]
async fn the_secret_key_is_required_on_v2() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let (status, body) = request(&sandbox, Method::GET, "/v2/accounts", None, None).await;
    assert_eq!(status, 401);
    assert_failed(&body, "mono-sec-key");
    let (status, _) = request(&sandbox, Method::GET, "/v2/accounts", Some("wrong"), None).await;
    assert_eq!(status, 401);
    let (status, body) = request(&sandbox, Method::GET, "/v2/accounts", Some(KEY), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "successful");
    // The client sees Mono's own message.
    let mut cfg = client_config(&sandbox);
    cfg.secret_key = "wrong".to_owned().into();
    let err = MonoClient::new(cfg)
        .unwrap()
        .list_accounts(None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        MonoError::Api {
            status: 401,
            message: "Invalid or missing mono-sec-key header".into()
        }
    );
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_failure_envelopes_naming_the_field() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let k = Some(KEY);
    let (status, body) = request(&sandbox, Method::GET, "/v2/accounts/nope", k, None).await;
    assert_eq!(status, 404);
    assert_failed(&body, "nope");
    let (status, body) = request(&sandbox, Method::GET, "/v2/nothing/here", k, None).await;
    assert_eq!(status, 404);
    assert_failed(&body, "No such endpoint");
    let (status, body) = request(&sandbox, Method::DELETE, "/v2/accounts", k, None).await;
    assert_eq!(status, 405);
    assert_failed(&body, "Method not allowed");

    let cases: &[(&str, &str)] = &[
        ("", "JSON object"),
        ("{not json", "Invalid"),
        (
            r#"{"scope":"auth","customer":{"name":"A","email":"a@b.c"},"meta":{},"redirect_url":"not a url"}"#,
            "redirect_url",
        ),
        (r#"{"scope":"link"}"#, "Invalid"),
        (
            r#"{"scope":"auth","customer":{"name":" ","email":"a@b.c"},"meta":{},"redirect_url":"https://x.y/"}"#,
            "customer.name",
        ),
        (
            r#"{"scope":"auth","customer":{"id":"nobody"},"meta":{},"redirect_url":"https://x.y/"}"#,
            "nobody",
        ),
        (
            r#"{"scope":"auth","customer":{"name":"A","email":"a@b.c"},"meta":{},"redirect_url":"https://x.y/","institution":{"id":"nowhere","auth_method":"internet_banking"}}"#,
            "nowhere",
        ),
    ];
    for (body_text, needle) in cases {
        let (status, body) = request(
            &sandbox,
            Method::POST,
            "/v2/accounts/initiate",
            k,
            Some(body_text),
        )
        .await;
        assert!(status == 400 || status == 404, "{body_text}: {status}");
        assert_failed(&body, needle);
    }
    let (status, body) = request(
        &sandbox,
        Method::POST,
        "/v2/accounts/auth",
        k,
        Some(r#"{"code": 5}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_failed(&body, "`code`");

    let (_, accounts) = request(&sandbox, Method::GET, "/v2/accounts", k, None).await;
    let id = accounts["data"][0]["id"].as_str().unwrap().to_owned();
    for (query, needle) in [
        ("start=2024-01-31", "`start`"),
        ("end=31/01/2024", "`end`"),
        ("start=02-02-2024&end=01-02-2024", "`start` must not be after"),
        ("type=refund", "`type`"),
        ("limit=0", "`limit`"),
        ("page=-1", "`page`"),
        ("paginate=maybe", "`paginate`"),
    ] {
        let (status, body) = request(
            &sandbox,
            Method::GET,
            &format!("/v2/accounts/{id}/transactions?{query}"),
            k,
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}");
        assert_failed(&body, needle);
    }
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn paging_links_and_unpaginated_lists() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let k = Some(KEY);
    let (status, body) = request(&sandbox, Method::GET, "/v2/accounts?page=2&limit=3", k, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
    assert_eq!(body["meta"]["total"], 10);
    assert_eq!(body["meta"]["pages"], 4);
    let next = body["meta"]["next"].as_str().unwrap();
    assert!(
        next.starts_with(sandbox.base_url.as_str()) && next.ends_with("page=3"),
        "{next}"
    );
    assert!(body["meta"]["previous"].as_str().unwrap().ends_with("page=1"));

    let id = body["data"][0]["id"].as_str().unwrap().to_owned();
    let (_, body) = request(
        &sandbox,
        Method::GET,
        &format!("/v2/accounts/{id}/transactions?type=debit&limit=5&page=2"),
        k,
        None,
    )
    .await;
    let next = body["meta"]["next"].as_str().unwrap();
    assert!(next.contains("type=debit") && next.contains("limit=5") && next.ends_with("page=3"));
    assert!(body["meta"]["previous"].as_str().unwrap().ends_with("page=1"));
    // Following `next` as given works too.
    let follow = raw(Method::GET, next, &[("mono-sec-key", KEY)], "").await.json();
    assert_eq!(follow["meta"]["page"], 3);

    let (_, all) = request(
        &sandbox,
        Method::GET,
        &format!("/v2/accounts/{id}/transactions?paginate=false"),
        k,
        None,
    )
    .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2_000);
    assert!(all["meta"]["next"].is_null());

    // A page past the end is empty, with a way back.
    let (_, past) = request(
        &sandbox,
        Method::GET,
        &format!("/v2/accounts/{id}/transactions?limit=500&page=9"),
        k,
        None,
    )
    .await;
    assert!(past["data"].as_array().unwrap().is_empty());
    assert!(past["meta"]["previous"].as_str().unwrap().ends_with("page=4"));
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn added_transactions_come_first_newest_first() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let created = create_account(&sandbox, json!({"transactions": 50, "currency": "ghs"})).await;
    assert_eq!(created["currency"], "GHS");
    let id = created["id"].as_str().unwrap().to_owned();
    let c = client(&sandbox);
    let before = c.balance(&id, false).await.unwrap().balance;

    let (status, body) = control(
        &sandbox,
        Method::POST,
        &format!("/_sandbox/accounts/{id}/transactions"),
        Some(json!({
            "transactions": [
                {"amount": 125_000, "type": "credit", "narration": "NIP/FCMB/ACME LTD/INV-1042",
                 "reference": "INV-1042", "counterparty": {"name": "ACME LTD", "accountNumber": "0123456789"}},
                {"amount": 5_000, "type": "debit", "narration": "Stamp duty charge"}
            ],
            "count": 3
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let added = body["data"]["added"].as_array().unwrap();
    assert_eq!(added.len(), 5);
    assert_eq!(body["data"]["total"], 55);
    let after = c.balance(&id, false).await.unwrap().balance;
    assert_eq!(body["data"]["balance"], after);
    let net: i64 = added
        .iter()
        .map(|t| {
            let a = t["amount"].as_i64().unwrap();
            if t["type"] == "credit" {
                a
            } else {
                -a
            }
        })
        .sum();
    assert_eq!(after, before + net);

    let page = c
        .transactions(
            &id,
            &TransactionQuery {
                limit: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.paging.total, 55);
    let newest: Vec<&str> = page.transactions[..5].iter().map(|t| t.id.as_str()).collect();
    let mut expected: Vec<&str> = added.iter().map(|t| t["id"].as_str().unwrap()).collect();
    expected.reverse();
    assert_eq!(newest, expected);
    let invoice = &page.transactions[4];
    assert_eq!(invoice.reference.as_deref(), Some("INV-1042"));
    assert_eq!(invoice.currency.as_deref(), Some("GHS"));
    assert_eq!(
        invoice.counterparty.as_ref().unwrap().account_number.as_deref(),
        Some("0123456789")
    );
    assert_eq!(page.transactions[0].balance, Some(after));
    // Narration filters see added transactions as well.
    let found = c
        .transactions(
            &id,
            &TransactionQuery {
                narration: Some("inv-1042".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.transactions[0].id, invoice.id);

    for (body, needle) in [
        (
            json!({"transactions": [{"amount": 0, "type": "credit", "narration": "x"}]}),
            "transactions[0].amount",
        ),
        (
            json!({"transactions": [{"amount": 5, "type": "sideways", "narration": "x"}]}),
            "transactions[0].type",
        ),
        (
            json!({"transactions": [{"amount": 5, "type": "credit", "narration": "x", "date": "2001-01-01T00:00:00Z"}]}),
            "transactions[0].date",
        ),
        (json!({"count": 0}), "count"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, body) = control(
            &sandbox,
            Method::POST,
            &format!("/_sandbox/accounts/{id}/transactions"),
            Some(body),
        )
        .await;
        assert_eq!(status, 400);
        assert_failed(&body, needle);
    }
    let (status, _) = control(
        &sandbox,
        Method::POST,
        "/_sandbox/accounts/unknown/transactions",
        Some(json!({"count": 1})),
    )
    .await;
    assert_eq!(status, 404);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn control_account_creation_validates_its_options() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let (_, customers) = control(&sandbox, Method::GET, "/_sandbox/customers", None).await;
    let customer_id = customers["data"][1]["id"].as_str().unwrap();
    let created = create_account(
        &sandbox,
        json!({"customer_id": customer_id, "currency": "USD", "bank": "057", "transactions": 0,
               "data_status": "UNAVAILABLE", "ref": "bench-ref-0001"}),
    )
    .await;
    assert_eq!(created["customer_id"], customer_id);
    assert_eq!(created["bank_code"], "057");
    assert_eq!(created["data_status"], "UNAVAILABLE");
    assert!(created["code"].as_str().unwrap().starts_with("code_"));
    for (body, status, needle) in [
        (json!({"currency": "EUR"}), 400, "currency"),
        (json!({"transactions": 99_000_000}), 400, "transactions"),
        (json!({"customer_id": "nobody"}), 404, "nobody"),
        (json!({"bank": "999"}), 400, "bank"),
        (json!({"data_status": "READY"}), 400, "data_status"),
    ] {
        let (got, body) = control(&sandbox, Method::POST, "/_sandbox/accounts", Some(body)).await;
        assert_eq!(got, status, "{body}");
        assert_failed(&body, needle);
    }
    for (fault, needle) in [
        (json!({"endpoint": "everything"}), "endpoint"),
        (json!({"error_rate": 2.0}), "error_rate"),
        (json!({"status": 302}), "status"),
        (json!({"hang": "yes"}), "hang"),
    ] {
        let (got, body) = control(&sandbox, Method::POST, "/_sandbox/faults", Some(fault)).await;
        assert_eq!(got, 400);
        assert_failed(&body, needle);
    }
    let rule = install_fault(&sandbox, json!({"endpoint": "balance", "status": 500})).await;
    let path = format!("/_sandbox/faults/{}", rule["id"]);
    let (status, _) = control(&sandbox, Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    let (status, _) = control(&sandbox, Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let (status, body) = control(&sandbox, Method::GET, "/_sandbox/clock", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["offset_secs"], 0);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn data_is_deterministic_per_seed() {
    async fn snapshot(seed: u64) -> (Vec<String>, Vec<(String, i64, String)>) {
        let sandbox = start_sandbox(SandboxConfig {
            seed,
            ..Default::default()
        })
        .await;
        let c = client(&sandbox);
        let (accounts, _) = c.list_accounts(None).await.unwrap();
        let page = c
            .transactions(
                &accounts[3].id,
                &TransactionQuery {
                    limit: Some(200),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        sandbox.shutdown().await.unwrap();
        (
            accounts.into_iter().map(|a| a.id).collect(),
            page.transactions
                .into_iter()
                .map(|t| (t.id, t.amount, t.narration))
                .collect(),
        )
    }
    let a = snapshot(1234).await;
    assert_eq!(a, snapshot(1234).await);
    let b = snapshot(4321).await;
    assert!(a
        .0
        .iter()
        .collect::<HashSet<_>>()
        .is_disjoint(&b.0.iter().collect()));
    assert_ne!(a.1, b.1);
}

#[tokio::test]
async fn the_router_runs_in_process_and_run_serves_until_shutdown() {
    // In-process, as `serve --sandbox` mounts it: no socket needed.
    let state = SandboxState::new(SandboxConfig::default());
    let response = sandbox::router(state)
        .oneshot(
            Request::get("/v2/accounts")
                .header("mono-sec-key", KEY)
                .header("host", "mono.internal:9000")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Standalone, as `taxpoynt-mono sandbox --port N` runs it.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sandbox::run(SandboxConfig::default(), addr, async {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}/v2/accounts");
    let r = wait_for(
        "the standalone sandbox to answer",
        Duration::from_secs(10),
        || async {
            try_raw(Method::GET, &url, &[("mono-sec-key", KEY)], "")
                .await
                .ok()
        },
    )
    .await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert!(body["meta"]["total"].as_u64().unwrap() > 0);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[test]
fn sandbox_config_debug_hides_keys() {
    let config = SandboxConfig {
        secret_key: "sk_hidden_123".into(),
        webhook_secret: Some("whsec_hidden_456".into()),
        ..Default::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("sk_hidden_123") && !shown.contains("whsec_hidden_456"));
    assert!(shown.contains("seed: 42"));
}
