//! The Mono client against the sandbox over real HTTP: every call, every injected fault, and
//! long histories walked page by page.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use url::Url;

use crate::helpers::mono::*;
use crate::helpers::sandbox::SandboxConfig;
use crate::helpers::{
    client, client_config, control, create_account, fault_applied, install_fault, open_widget, query_value,
    start_sandbox,
};

fn auth_request(email: &str) -> InitiateRequest {
    InitiateRequest::Auth(AuthInitiate {
        customer: InitiateCustomer::New {
            name: "Ada Obi".into(),
            email: email.into(),
            identity: None,
        },
        meta: InitiateMeta {
            reference: Some("ref-sandbox-0001".into()),
        },
        redirect_url: Url::parse("https://app.example.com/mono/callback").unwrap(),
        institution: None,
    })
}

#[tokio::test]
async fn every_call_answers_in_monos_shapes() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let c = client(&sandbox);

    // The seeded world: 5 customers x 2 pre-linked accounts, every currency represented.
    let (accounts, paging) = c.list_accounts(None).await.unwrap();
    assert_eq!(accounts.len(), 10);
    assert_eq!(paging.total, 10);
    assert_eq!(paging.pages, Some(1));
    assert_eq!(paging.next, None);
    let currencies: HashSet<&str> = accounts.iter().map(|a| a.currency.as_str()).collect();
    for cur in ["NGN", "GHS", "KES", "ZAR", "USD"] {
        assert!(currencies.contains(cur), "no {cur} account in {currencies:?}");
    }
    let ngn = accounts.iter().find(|a| a.currency == "NGN").unwrap();

    let details = c.account_details(&ngn.id, true).await.unwrap();
    assert_eq!(details.account.id, ngn.id);
    assert_eq!(details.account.account_number, ngn.account_number);
    assert_eq!(details.meta.data_status, DataStatus::Available);
    assert!(details.meta.transactions_ready());
    assert!(details.customer.is_some());
    assert!(details.account.institution.bank_code.is_some());

    let identity = c.identity(&ngn.id).await.unwrap();
    assert!(!identity.full_name.is_empty());
    assert_eq!(identity.bvn.as_deref().map(str::len), Some(11));

    let balance = c.balance(&ngn.id, false).await.unwrap();
    assert_eq!(balance.balance, details.account.balance);
    assert_eq!(balance.currency, "NGN");

    let page = c
        .transactions(
            &ngn.id,
            &TransactionQuery {
                limit: Some(50),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.transactions.len(), 50);
    assert_eq!(page.paging.total, 2_000);
    assert_eq!(page.paging.page, Some(1));
    assert!(page.paging.next.as_deref().unwrap().contains("page=2"));
    // The newest transaction carries the account's current balance.
    assert_eq!(page.transactions[0].balance, Some(balance.balance));
    assert!(page
        .transactions
        .iter()
        .all(|t| t.currency.as_deref() == Some("NGN")));

    // Link a new account (initiate -> widget -> auth) and unlink it.
    let init = c.initiate(&auth_request("ada.obi@example.com")).await.unwrap();
    assert_eq!(init.scope, Scope::Auth);
    assert!(init.mono_url.as_str().starts_with(sandbox.base_url.as_str()));
    let location = open_widget(init.mono_url.as_str()).await;
    let code = query_value(&location, "code").unwrap();
    let id = c.exchange_code(&code).await.unwrap();
    assert_eq!(c.account_details(&id, false).await.unwrap().account.id, id);
    assert_eq!(c.unlink(&id).await.unwrap(), UnlinkOutcome::Unlinked);
    assert_eq!(c.unlink(&id).await.unwrap(), UnlinkOutcome::AlreadyGone);
    let err = c.account_details(&id, false).await.unwrap_err();
    assert!(err.is_status(404), "{err:?}");

    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn transaction_filters_are_applied() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let c = client(&sandbox);
    let (accounts, _) = c.list_accounts(None).await.unwrap();
    let id = &accounts[0].id;

    let credits = c
        .transactions(
            id,
            &TransactionQuery {
                kind: Some(TransactionType::Credit),
                limit: Some(100),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(credits.paging.total > 0 && credits.paging.total < 2_000);
    assert!(credits
        .transactions
        .iter()
        .all(|t| t.kind == TransactionType::Credit));

    let charges = c
        .transactions(
            id,
            &TransactionQuery {
                narration: Some("charge".into()),
                limit: Some(100),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(charges.paging.total > 0);
    assert!(charges
        .transactions
        .iter()
        .all(|t| t.narration.to_lowercase().contains("charge")));

    let today = Utc::now().date_naive();
    let start = today - ChronoDuration::days(30);
    let window = c
        .transactions(
            id,
            &TransactionQuery {
                start: Some(start),
                end: Some(today),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // ~30 of 365 days of 2,000 transactions.
    assert!(
        (100..300).contains(&window.paging.total),
        "{}",
        window.paging.total
    );
    assert!(window
        .transactions
        .iter()
        .all(|t| t.date.date_naive() >= start && t.date.date_naive() <= today));
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn streaming_walks_a_long_history_one_page_at_a_time() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let created = create_account(&sandbox, json!({"transactions": 12_345, "seed": 7})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["transactions"], 12_345);
    let c = client(&sandbox);

    // The stream yields one page at a time and the test keeps only ids and the last date,
    // so what is held at once is bounded by the page size, not by the history.
    const LIMIT: usize = 500;
    let mut stream = Box::pin(
        c.transaction_pages(
            &id,
            TransactionQuery {
                limit: Some(LIMIT as u32),
                ..Default::default()
            },
        )
        .into_stream(),
    );
    let mut seen = HashSet::new();
    let mut last_date = None;
    let mut pages = 0;
    let mut max_page = 0;
    while let Some(page) = stream.next().await {
        let page = page.unwrap();
        pages += 1;
        max_page = max_page.max(page.transactions.len());
        assert_eq!(page.paging.total, 12_345);
        for tx in &page.transactions {
            if let Some(prev) = last_date {
                assert!(tx.date <= prev, "not newest first at page {pages}");
            }
            last_date = Some(tx.date);
            assert!(seen.insert(tx.id.clone()), "duplicate id {}", tx.id);
        }
    }
    assert_eq!(seen.len(), 12_345);
    assert_eq!(pages, 12_345usize.div_ceil(LIMIT));
    assert_eq!(max_page, LIMIT);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_hundred_thousand_transactions_are_cheap_to_create_and_page() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let created = create_account(&sandbox, json!({"transactions": 100_000})).await;
    let id = created["id"].as_str().unwrap();
    // Cheap because nothing per transaction is stored: the history is generated on demand.
    {
        let world = sandbox.state.world();
        let account = world.linked_account(id).expect("the account is linked");
        assert_eq!(account.ledger.len(), 100_000);
        assert!(account.extras.is_empty());
    }
    let c = client(&sandbox);
    let first = c
        .transactions(
            id,
            &TransactionQuery {
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let deep = c
        .transactions(
            id,
            &TransactionQuery {
                limit: Some(500),
                page: Some(200),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.paging.total, 100_000);
    assert_eq!(deep.transactions.len(), 500);
    assert_eq!(deep.paging.next, None);
    assert!(deep.paging.previous.is_some());
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn transactions_are_empty_until_data_is_available() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let created = create_account(
        &sandbox,
        json!({"transactions": 300, "data_status": "PROCESSING"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let c = client(&sandbox);
    let page = c.transactions(&id, &TransactionQuery::default()).await.unwrap();
    assert!(page.transactions.is_empty());
    assert_eq!(page.paging.total, 0);
    assert_eq!(page.paging.next, None);

    // PARTIAL with transactions retrieved serves them.
    let (status, _) = control(
        &sandbox,
        Method::POST,
        &format!("/_sandbox/accounts/{id}/status"),
        Some(json!({"data_status": "PARTIAL", "retrieved_data": ["transactions"]})),
    )
    .await;
    assert_eq!(status, 200);
    let page = c.transactions(&id, &TransactionQuery::default()).await.unwrap();
    assert_eq!(page.paging.total, 300);
    let details = c.account_details(&id, false).await.unwrap();
    assert_eq!(details.meta.data_status, DataStatus::Partial);
    assert!(details.meta.transactions_ready());
    sandbox.shutdown().await.unwrap();
}

// ----------------------------------------------------------------------------- faults

#[tokio::test]
async fn latency_beyond_the_timeout_is_a_timeout() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let slow = install_fault(&sandbox, json!({"endpoint": "details", "latency_ms": 1_500})).await;
    let mut cfg = client_config(&sandbox);
    cfg.timeout = Duration::from_millis(300);
    cfg.max_retries = 1;
    let c = MonoClient::new(cfg).unwrap();
    let (accounts, _) = c.list_accounts(None).await.unwrap();
    assert_eq!(
        c.account_details(&accounts[0].id, false).await.unwrap_err(),
        MonoError::Timeout
    );
    // Two attempts, each given up at the timeout rather than waiting out the latency.
    assert_eq!(fault_applied(&sandbox, &slow), 2);
    // Latency under the timeout only slows the call down.
    control(&sandbox, Method::DELETE, "/_sandbox/faults", None).await;
    install_fault(&sandbox, json!({"endpoint": "details", "latency_ms": 100})).await;
    let started = Instant::now();
    c.account_details(&accounts[0].id, false).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn server_errors_then_recovery_through_retries() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let c = client(&sandbox);
    let (accounts, _) = c.list_accounts(None).await.unwrap();
    let rule = install_fault(
        &sandbox,
        json!({"endpoint": "transactions", "status": 503, "count": 2}),
    )
    .await;
    let page = c
        .transactions(&accounts[0].id, &TransactionQuery::default())
        .await
        .unwrap();
    assert_eq!(page.transactions.len(), 20);
    let (_, faults) = control(&sandbox, Method::GET, "/_sandbox/faults", None).await;
    let installed = &faults["data"][0];
    assert_eq!(installed["id"], rule["id"]);
    assert_eq!(installed["failed"], 2);
    assert_eq!(installed["remaining"], 0);

    // More failures than retries: the client gives up with Mono's status and message.
    install_fault(&sandbox, json!({"endpoint": "balance", "status": 500})).await;
    let err = c.balance(&accounts[0].id, false).await.unwrap_err();
    match err {
        MonoError::Api { status, message } => {
            assert_eq!(status, 500);
            assert!(message.contains("injected"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let c = client(&sandbox);
    let (accounts, _) = c.list_accounts(None).await.unwrap();
    install_fault(
        &sandbox,
        json!({"endpoint": "balance", "rate_limit_retry_after": 1, "count": 1}),
    )
    .await;
    let started = Instant::now();
    c.balance(&accounts[0].id, false).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));

    // A 429 without Retry-After backs off, and a persistent one surfaces as RateLimited.
    install_fault(&sandbox, json!({"endpoint": "identity", "status": 429})).await;
    let err = c.identity(&accounts[0].id).await.unwrap_err();
    assert!(
        matches!(
            err,
            MonoError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_hang_is_a_timeout_and_clearing_faults_recovers() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let mut cfg = client_config(&sandbox);
    cfg.timeout = Duration::from_millis(300);
    cfg.max_retries = 0;
    let c = MonoClient::new(cfg).unwrap();
    let (accounts, _) = c.list_accounts(None).await.unwrap();
    install_fault(&sandbox, json!({"endpoint": "*", "hang": true})).await;
    assert_eq!(c.identity(&accounts[0].id).await.unwrap_err(), MonoError::Timeout);
    let (status, body) = control(&sandbox, Method::DELETE, "/_sandbox/faults", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["cleared"], 1);
    assert!(c.identity(&accounts[0].id).await.is_ok());
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn initiate_and_auth_faults_are_not_retried() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let c = client(&sandbox);
    install_fault(
        &sandbox,
        json!({"endpoint": "initiate", "status": 502, "count": 1}),
    )
    .await;
    install_fault(&sandbox, json!({"endpoint": "auth", "status": 500, "count": 1})).await;
    assert!(c
        .initiate(&auth_request("x@example.com"))
        .await
        .unwrap_err()
        .is_status(502));
    assert!(c.exchange_code("code_x").await.unwrap_err().is_status(500));
    let (_, faults) = control(&sandbox, Method::GET, "/_sandbox/faults", None).await;
    for rule in faults["data"].as_array().unwrap() {
        assert_eq!(rule["applied"], 1, "{rule}");
    }
    // The next attempts go through (the rules ran out).
    assert!(c.initiate(&auth_request("x@example.com")).await.is_ok());
    assert!(c.exchange_code("code_x").await.unwrap_err().is_status(400));
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn error_rates_are_deterministic_per_seed() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let sandbox = start_sandbox(SandboxConfig {
            seed,
            ..Default::default()
        })
        .await;
        install_fault(&sandbox, json!({"endpoint": "accounts", "error_rate": 0.5})).await;
        let mut cfg = client_config(&sandbox);
        cfg.max_retries = 0;
        let c = MonoClient::new(cfg).unwrap();
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(c.list_accounts(None).await.is_err());
        }
        sandbox.shutdown().await.unwrap();
        out
    }
    let a = pattern(9).await;
    assert_eq!(a, pattern(9).await);
    let failures = a.iter().filter(|f| **f).count();
    assert!((8..=32).contains(&failures), "{failures}");
    assert_ne!(a, pattern(10).await);
}
