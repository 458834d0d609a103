//! The hosted-link flow against the sandbox (initiate → widget → 302 with code → auth →
//! details), code expiry through the sandbox clock, reauth, and signed webhook deliveries
//! verified with `mono::signature`.

use std::future::ready;
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::json;
use url::Url;

use crate::helpers::mono::signature::{self, PresentedAuth, WebhookAuthMethod};
use crate::helpers::mono::*;
use crate::helpers::sandbox::webhooks::DeliveryOutcome;
use crate::helpers::sandbox::SandboxConfig;
use crate::helpers::{
    client, control, create_account, open_widget, query_value, raw, settled_deliveries, start_sandbox,
    wait_for, Received, Receiver,
};

const WEBHOOK_SECRET: &str = "whsec_sandbox_test";

fn auth_request(reference: &str) -> InitiateRequest {
    InitiateRequest::Auth(AuthInitiate {
        customer: InitiateCustomer::New {
            name: "Bola Yusuff Ventures Ltd".into(),
            email: "bola@yusuff.example".into(),
            identity: None,
        },
        meta: InitiateMeta {
            reference: Some(reference.into()),
        },
        redirect_url: Url::parse("https://app.example.com/mono/done?tenant=7").unwrap(),
        institution: None,
    })
}

fn verify(received: &Received) -> WebhookAuthMethod {
    let secret = received.header(signature::HEADER_WEBHOOK_SECRET);
    let ts = received.header(signature::HEADER_TIMESTAMP);
    let sig = received.header(signature::HEADER_SIGNATURE);
    // Each form on its own must pass.
    assert_eq!(
        signature::verify(
            WEBHOOK_SECRET.as_bytes(),
            PresentedAuth {
                webhook_secret: None,
                timestamp: ts.as_deref(),
                signature: sig.as_deref(),
            },
            &received.body,
            Utc::now().timestamp(),
            signature::DEFAULT_TOLERANCE_SECS,
        ),
        Ok(WebhookAuthMethod::Signature)
    );
    assert!(signature::verify_secret_header(
        WEBHOOK_SECRET.as_bytes(),
        secret.as_deref().unwrap()
    ));
    // A wrong secret fails the signature.
    assert!(signature::verify_signature(
        b"not-the-secret",
        ts.as_deref().unwrap(),
        sig.as_deref().unwrap(),
        &received.body,
        Utc::now().timestamp(),
        300
    )
    .is_err());
    WebhookAuthMethod::Signature
}

#[tokio::test]
async fn link_flow_exchange_details_and_signed_webhooks() {
    let receiver = Receiver::start().await;
    let sandbox = start_sandbox(SandboxConfig {
        webhook_url: Some(receiver.url.clone()),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        ..Default::default()
    })
    .await;
    let c = client(&sandbox);

    let init = c.initiate(&auth_request("ref-link-flow-001")).await.unwrap();
    assert_eq!(init.meta.reference.as_deref(), Some("ref-link-flow-001"));
    let customer_id = init.customer.clone().unwrap();
    let target = open_widget(init.mono_url.as_str()).await;
    assert_eq!(target.host_str(), Some("app.example.com"));
    assert_eq!(target.path(), "/mono/done");
    assert_eq!(query_value(&target, "tenant").as_deref(), Some("7"));
    assert_eq!(query_value(&target, "ref").as_deref(), Some("ref-link-flow-001"));
    let code = query_value(&target, "code").unwrap();

    let id = c.exchange_code(&code).await.unwrap();
    let details = c.account_details(&id, false).await.unwrap();
    assert_eq!(details.account.id, id);
    assert_eq!(details.customer.unwrap().id, customer_id);
    assert_eq!(details.meta.data_status, DataStatus::Available);
    // The name says Ltd: a business account.
    assert_eq!(
        details.account.institution.kind.as_deref(),
        Some("BUSINESS_BANKING")
    );
    let page = c.transactions(&id, &TransactionQuery::default()).await.unwrap();
    assert_eq!(page.paging.total, 2_000);

    // Codes are single-use; the widget link too.
    let err = c.exchange_code(&code).await.unwrap_err();
    match &err {
        MonoError::Api { status: 400, message } => assert!(message.contains("already been used")),
        other => panic!("{other:?}"),
    }
    let again = raw(Method::GET, init.mono_url.as_str(), &[], "").await;
    assert_eq!(again.status, 410);

    // account_connected, then account_updated with AVAILABLE, both signed both ways.
    let got = receiver.wait_for(2).await;
    let connected = got[0].json();
    assert_eq!(connected["event"], events::ACCOUNT_CONNECTED);
    assert_eq!(connected["data"]["id"], id.as_str());
    assert_eq!(connected["data"]["customer"], customer_id.as_str());
    assert_eq!(connected["data"]["meta"]["ref"], "ref-link-flow-001");
    let updated = got[1].json();
    assert_eq!(updated["event"], events::ACCOUNT_UPDATED);
    assert_eq!(updated["data"]["meta"]["data_status"], "AVAILABLE");
    assert_eq!(
        updated["data"]["account"]["accountNumber"],
        details.account.account_number.as_str()
    );
    assert_ne!(connected["event_id"], updated["event_id"]);
    for r in &got {
        verify(r);
        assert!(r.json()["timestamp"].is_string());
        // The typed DTOs read what the sandbox wrote.
        let envelope: WebhookEnvelope = serde_json::from_slice(&r.body).unwrap();
        let event = WebhookEvent::from_envelope(&envelope).unwrap();
        assert_eq!(event.account_id(), Some(id.as_str()));
    }

    // Unlinking sends account_unlinked.
    assert_eq!(c.unlink(&id).await.unwrap(), UnlinkOutcome::Unlinked);
    let unlinked = receiver.wait_for_event(events::ACCOUNT_UNLINKED).await;
    assert_eq!(unlinked.json()["data"]["account"]["_id"], id.as_str());

    // The sandbox's own record of what it sent.
    settled_deliveries(&sandbox).await;
    let (_, deliveries) = control(&sandbox, Method::GET, "/_sandbox/webhooks", None).await;
    let deliveries = deliveries["data"].as_array().unwrap().clone();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries
        .iter()
        .all(|d| d["outcome"] == "delivered" && d["attempts"] == 1 && d["status"] == 200));
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_new_link_of_the_same_bank_account_gets_a_new_id() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let c = client(&sandbox);
    let (_, customers) = control(&sandbox, Method::GET, "/_sandbox/customers", None).await;
    let customer = &customers["data"][0];
    let bank_account = &customer["bank_accounts"][0];
    let number = bank_account["account_number"].as_str().unwrap();
    let first_id = bank_account["linked_account_id"].as_str().unwrap().to_owned();

    // Choose the already-linked bank account explicitly through the widget's query.
    let init = c
        .initiate(&InitiateRequest::Auth(AuthInitiate {
            customer: InitiateCustomer::Existing {
                id: customer["id"].as_str().unwrap().into(),
            },
            meta: InitiateMeta::default(),
            redirect_url: Url::parse("https://app.example.com/cb").unwrap(),
            institution: None,
        }))
        .await
        .unwrap();
    let mut url = init.mono_url.clone();
    url.query_pairs_mut().append_pair("account", number);
    let code = query_value(&open_widget(url.as_str()).await, "code").unwrap();
    let second_id = c.exchange_code(&code).await.unwrap();
    assert_ne!(first_id, second_id);
    let details = c.account_details(&second_id, false).await.unwrap();
    assert_eq!(details.account.account_number, number);

    // Without a choice, the next unlinked bank account of the customer is linked.
    let init = c
        .initiate(&InitiateRequest::Auth(AuthInitiate {
            customer: InitiateCustomer::Existing {
                id: customer["id"].as_str().unwrap().into(),
            },
            meta: InitiateMeta::default(),
            redirect_url: Url::parse("https://app.example.com/cb").unwrap(),
            institution: None,
        }))
        .await
        .unwrap();
    let code = query_value(&open_widget(init.mono_url.as_str()).await, "code").unwrap();
    let third = c.exchange_code(&code).await.unwrap();
    let details = c.account_details(&third, false).await.unwrap();
    assert_eq!(
        details.account.account_number,
        customer["bank_accounts"][2]["account_number"].as_str().unwrap()
    );
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn codes_expire_with_the_sandbox_clock() {
    let sandbox = start_sandbox(SandboxConfig::default()).await;
    let c = client(&sandbox);
    let created = create_account(&sandbox, json!({"transactions": 10})).await;
    let code = created["code"].as_str().unwrap().to_owned();

    // Nine minutes on: still good for another code.
    let other = create_account(&sandbox, json!({"transactions": 10})).await;
    let (status, clock) = control(
        &sandbox,
        Method::POST,
        "/_sandbox/clock",
        Some(json!({"advance_secs": 540})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(clock["data"]["offset_secs"], 540);
    assert_eq!(
        c.exchange_code(other["code"].as_str().unwrap()).await.unwrap(),
        other["id"].as_str().unwrap()
    );

    // Past ten minutes: refused with Mono's message.
    control(
        &sandbox,
        Method::POST,
        "/_sandbox/clock",
        Some(json!({"advance_secs": 61})),
    )
    .await;
    match c.exchange_code(&code).await.unwrap_err() {
        MonoError::Api { status, message } => {
            assert_eq!(status, 400);
            assert!(message.contains("expired"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // An unknown code is a 400 too.
    assert!(c.exchange_code("code_nope").await.unwrap_err().is_status(400));
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn reauth_keeps_the_account_id() {
    let receiver = Receiver::start().await;
    let sandbox = start_sandbox(SandboxConfig {
        webhook_url: Some(receiver.url.clone()),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        ..Default::default()
    })
    .await;
    let c = client(&sandbox);
    let (accounts, _) = c.list_accounts(None).await.unwrap();
    let id = accounts[0].id.clone();

    let (status, state) = control(
        &sandbox,
        Method::POST,
        &format!("/_sandbox/accounts/{id}/status"),
        Some(json!({"sync_status": "REAUTHORISATION_REQUIRED"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(state["data"]["sync_status"], "REAUTHORISATION_REQUIRED");
    let flagged = receiver.wait_for_event(events::ACCOUNT_UPDATED).await;
    let envelope: WebhookEnvelope = serde_json::from_slice(&flagged.body).unwrap();
    let WebhookEvent::AccountUpdated(update) = WebhookEvent::from_envelope(&envelope).unwrap() else {
        panic!("not account_updated")
    };
    assert!(update.meta.reauth_required());
    verify(&flagged);

    let init = c
        .initiate(&InitiateRequest::Reauth(ReauthInitiate {
            account: id.clone(),
            meta: InitiateMeta {
                reference: Some("reauth-ref-0001".into()),
            },
            redirect_url: Some(Url::parse("https://app.example.com/reauthed").unwrap()),
        }))
        .await
        .unwrap();
    assert_eq!(init.scope, Scope::Reauth);
    assert_eq!(init.account.as_deref(), Some(id.as_str()));
    assert!(init.auth_method.is_some());
    let code = query_value(&open_widget(init.mono_url.as_str()).await, "code").unwrap();
    assert_eq!(c.exchange_code(&code).await.unwrap(), id);
    let reauthorized = receiver.wait_for_event(events::ACCOUNT_REAUTHORIZED).await;
    assert_eq!(reauthorized.json()["data"]["account"]["_id"], id.as_str());
    let (_, state) = control(&sandbox, Method::GET, &format!("/_sandbox/accounts/{id}"), None).await;
    assert_eq!(state["data"]["sync_status"], "SUCCESSFUL");

    // Reauth of an unknown account is Mono's 404.
    let err = c
        .initiate(&InitiateRequest::Reauth(ReauthInitiate {
            account: "000000000000000000000000".into(),
            meta: InitiateMeta::default(),
            redirect_url: None,
        }))
        .await
        .unwrap_err();
    assert!(err.is_status(404));
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn processing_accounts_list_nothing_until_available() {
    let receiver = Receiver::start().await;
    let sandbox = start_sandbox(SandboxConfig {
        webhook_url: Some(receiver.url.clone()),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        processing_delay: Duration::from_millis(1_500),
        ..Default::default()
    })
    .await;
    let c = client(&sandbox);
    let init = c.initiate(&auth_request("ref-processing-01")).await.unwrap();
    let code = query_value(&open_widget(init.mono_url.as_str()).await, "code").unwrap();
    let id = c.exchange_code(&code).await.unwrap();
    let details = c.account_details(&id, false).await.unwrap();
    assert_eq!(details.meta.data_status, DataStatus::Processing);
    let page = c.transactions(&id, &TransactionQuery::default()).await.unwrap();
    assert_eq!(page.paging.total, 0);
    let connected = receiver.wait_for_event(events::ACCOUNT_CONNECTED).await;
    assert_eq!(connected.json()["data"]["meta"]["data_status"], "PROCESSING");

    let updated = receiver.wait_for_event(events::ACCOUNT_UPDATED).await;
    assert_eq!(updated.json()["data"]["meta"]["data_status"], "AVAILABLE");
    let page = c.transactions(&id, &TransactionQuery::default()).await.unwrap();
    assert_eq!(page.paging.total, 2_000);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn transaction_events_and_failed_deliveries() {
    // The receiver fails twice; the sandbox retries and the third attempt lands.
    let receiver = Receiver::scripted(vec![500, 503]).await;
    let sandbox = start_sandbox(SandboxConfig {
        webhook_url: Some(receiver.url.clone()),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        ..Default::default()
    })
    .await;
    let c = client(&sandbox);
    let (accounts, _) = c.list_accounts(None).await.unwrap();
    let id = accounts[0].id.clone();
    let page = c.transactions(&id, &TransactionQuery::default()).await.unwrap();
    let tx = page.transactions[3].clone();

    let (status, body) = control(
        &sandbox,
        Method::POST,
        &format!("/_sandbox/accounts/{id}/events"),
        Some(json!({"event": "transaction.settled", "transaction_id": tx.id})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let event_id = body["data"]["event_id"].as_str().unwrap().to_owned();
    let got = receiver.wait_for(3).await;
    assert!(got.iter().all(|r| r.json()["event_id"] == event_id.as_str()));
    verify(&got[2]);
    let envelope: WebhookEnvelope = serde_json::from_slice(&got[2].body).unwrap();
    let WebhookEvent::TransactionSettled(settled) = WebhookEvent::from_envelope(&envelope).unwrap() else {
        panic!("not transaction.settled")
    };
    assert_eq!(settled.account, id);
    assert_eq!(settled.transaction, tx);
    let record = settled_deliveries(&sandbox)
        .await
        .into_iter()
        .find(|d| d.event_id == event_id)
        .unwrap();
    assert_eq!(record.outcome, DeliveryOutcome::Delivered);
    assert_eq!(record.attempts, 3);

    // Unknown transactions and events are refused, naming what is wrong.
    let (status, body) = control(
        &sandbox,
        Method::POST,
        &format!("/_sandbox/accounts/{id}/events"),
        Some(json!({"event": "transaction.updated", "transaction_id": "nope"})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], "failed");
    let (status, body) = control(
        &sandbox,
        Method::POST,
        &format!("/_sandbox/accounts/{id}/events"),
        Some(json!({"event": "mono.events.made_up"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("event"));

    // A receiver that is gone: recorded as failed after the retries, the sandbox carries on.
    let (status, _) = control(
        &sandbox,
        Method::PUT,
        "/_sandbox/webhook",
        Some(json!({"url": "http://127.0.0.1:9/si/mono/webhook", "secret": WEBHOOK_SECRET})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = control(
        &sandbox,
        Method::POST,
        &format!("/_sandbox/accounts/{id}/events"),
        Some(json!({"event": "mono.accounts.jobs.update", "job_status": "failed"})),
    )
    .await;
    let lost = body["data"]["event_id"].as_str().unwrap().to_owned();
    let d = wait_for("the lost delivery to settle", Duration::from_secs(10), || {
        let log = sandbox.state.webhooks().deliveries();
        ready(
            log.into_iter()
                .find(|d| d.event_id == lost && d.outcome != DeliveryOutcome::Pending),
        )
    })
    .await;
    assert_eq!(d.attempts, 4);
    assert!(d.error.is_some());
    assert_eq!(d.outcome, DeliveryOutcome::Failed);
    assert!(c.list_accounts(None).await.is_ok());
    sandbox.shutdown().await.unwrap();
}
