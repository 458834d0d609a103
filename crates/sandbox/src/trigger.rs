//! `taxpoynt-mono webhook send`: one realistic Mono event, signed in both of Mono's forms,
//! posted to a running service; the way `stripe trigger` exercises a webhook endpoint.
//!
//! The payload is what the sandbox itself would send about a freshly generated account (an
//! AVAILABLE NGN account with a history, a business credit for the `transaction.*` events).
//! `--account` puts a given account id in its place, so an account the service already
//! knows (say, one linked through the sandbox) is the one the event is about.

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::control::{event_payload, EventRequest};
use super::state::{NewAccount, SandboxState};
use crate::config::SandboxConfig;
use mono::signature;
use mono::types::{events, DataStatus, TransactionType, WebhookEnvelope};

/// Every event `send` knows, as Mono names them.
pub const EVENTS: &[&str] = &[
    events::ACCOUNT_CONNECTED,
    events::ACCOUNT_UPDATED,
    events::ACCOUNT_REAUTHORIZED,
    events::ACCOUNT_UNLINKED,
    events::ACCOUNT_INCOME,
    events::JOBS_UPDATE,
    events::TRANSACTION_UPDATED,
    events::TRANSACTION_SETTLED,
];

/// The full Mono name of `name`, which may leave out `mono.events.` (`account_updated`).
pub fn event_name(name: &str) -> Option<&'static str> {
    EVENTS
        .iter()
        .copied()
        .find(|e| *e == name || e.strip_prefix("mono.events.") == Some(name))
}

#[derive(Debug, Clone)]
pub struct SendRequest {
    pub event: String,
    pub to: url::Url,
    pub account: Option<String>,
    pub secret: String,
    /// `meta.ref` of `account_connected` (the ref a widget link was given).
    pub reference: Option<String>,
}

/// What the service answered.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    pub event: &'static str,
    pub event_id: String,
    pub status: u16,
    pub body: String,
}

/// The signed body of `request` (envelope JSON) and its event id.
pub fn build(request: &SendRequest) -> anyhow::Result<(&'static str, String, Vec<u8>)> {
    let event = event_name(&request.event)
        .ok_or_else(|| anyhow::anyhow!("unknown event {:?}; one of: {}", request.event, EVENTS.join(", ")))?;
    let sandbox = SandboxState::new(SandboxConfig {
        customers: 1,
        accounts_per_customer: 1,
        transactions_per_account: 0,
        ..Default::default()
    });
    let (generated, _code, _expires) = sandbox
        .create_account(NewAccount {
            customer: None,
            currency: Some("NGN".into()),
            bank: None,
            transactions: 40,
            seed: None,
            data_status: DataStatus::Available,
            retrieved_data: vec!["transactions".into(), "balance".into(), "identity".into()],
            reference: request.reference.clone(),
        })
        .map_err(|e| anyhow::anyhow!("could not build an account: {e}"))?;
    let payload = {
        let world = sandbox.world();
        let account = world
            .accounts
            .get(&generated)
            .ok_or_else(|| anyhow::anyhow!("the generated account is missing"))?;
        let transaction_id = (0..account.ledger.len())
            .rev()
            .find(|&i| account.ledger.kind(i) == TransactionType::Credit)
            .map(|i| account.ledger.transaction_id(i));
        let ask = EventRequest {
            event: event.to_owned(),
            transaction_id,
            job_status: None,
        };
        event_payload(&sandbox, &world, &generated, &ask).map_err(|f| anyhow::anyhow!("{}", f.message))?
    };
    let payload = match &request.account {
        Some(id) => replace_id(payload, &generated, id),
        None => payload,
    };
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let envelope = WebhookEnvelope::new(event, event_id.clone(), Utc::now(), &payload)?;
    Ok((event, event_id, serde_json::to_vec(&envelope)?))
}

/// Every string equal to `from` (the generated account id) becomes `to`.
fn replace_id(value: Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(s) if s == from => Value::String(to.to_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| replace_id(v, from, to)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, replace_id(v, from, to)))
                .collect(),
        ),
        other => other,
    }
}

/// Builds, signs and posts the event; answers what the service said.
pub async fn send(request: &SendRequest) -> anyhow::Result<SendOutcome> {
    let (event, event_id, body) = build(request)?;
    let mut post = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .post(request.to.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in signature::signed_headers(&request.secret, Utc::now().timestamp(), &body) {
        post = post.header(name, value);
    }
    let response = post
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("could not reach {}: {e}", request.to))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(SendOutcome {
        event,
        event_id,
        status,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_find_the_event() {
        assert_eq!(event_name("account_updated"), Some(events::ACCOUNT_UPDATED));
        assert_eq!(
            event_name("mono.events.account_unlinked"),
            Some(events::ACCOUNT_UNLINKED)
        );
        assert_eq!(
            event_name("transaction.settled"),
            Some(events::TRANSACTION_SETTLED)
        );
        assert_eq!(event_name("mono.accounts.jobs.update"), Some(events::JOBS_UPDATE));
        assert_eq!(event_name("nonsense"), None);
    }

    #[tokio::test]
    async fn every_event_builds_and_names_the_given_account() {
        for event in EVENTS {
            let request = SendRequest {
                event: (*event).to_owned(),
                to: "http://127.0.0.1:9/".parse().unwrap(),
                account: Some("acc_given_0001".into()),
                secret: "s".into(),
                reference: None,
            };
            let (name, _, body) = build(&request).unwrap();
            assert_eq!(name, *event);
            let text = String::from_utf8(body).unwrap();
            assert!(text.contains("acc_given_0001"), "{event}: {text}");
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed["event"], *event);
        }
    }
}
