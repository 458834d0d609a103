//! Webhook intake: authentication (either form of MONO.md), the envelope, attribution to an
//! account or widget-link ref, and the durable store of each delivery before the 2xx. A
//! refusal is answered and counted by `refusals`, without a write of its own.

use std::net::IpAddr;

use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::webhooks::PendingDelivery;
use crate::error::ApiError;
use crate::state::AppState;
use mono::signature::{self, PresentedAuth, SignatureError};
use mono::types::events;

const KNOWN_EVENTS: [&str; 10] = [
    events::ACCOUNT_CONNECTED,
    events::ACCOUNT_UPDATED,
    events::ACCOUNT_REAUTHORIZED,
    events::REAUTHORISATION_REQUIRED,
    events::SYNC_FAILED,
    events::ACCOUNT_UNLINKED,
    events::ACCOUNT_INCOME,
    events::JOBS_UPDATE,
    events::TRANSACTION_UPDATED,
    events::TRANSACTION_SETTLED,
];

/// The answer to Mono: `data` of a 200.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub delivery_id: Uuid,
    pub event: String,
    pub duplicate: bool,
    /// `queued` or `ignored`; for a duplicate, what became of the first copy.
    pub outcome: WebhookOutcome,
}

/// What became of a delivery, as the contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookOutcome {
    /// Its effects are done.
    Processed,
    /// Stored; a job processes it (also while its job retries it).
    Queued,
    /// Stored and acknowledged, nothing to do: an unknown event or account, or (for a
    /// duplicate) a first copy whose processing failed for good, which a copy does not
    /// redo (webhook-status `lastFailure` shows why).
    Ignored,
}

impl WebhookOutcome {
    /// The outcome of a stored delivery's status (`queued`, `processed`, `ignored`, `failed`).
    pub fn of_status(status: &str) -> Self {
        match status {
            "processed" => WebhookOutcome::Processed,
            "queued" => WebhookOutcome::Queued,
            _ => WebhookOutcome::Ignored,
        }
    }

    /// The name the contract gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Processed => "processed",
            WebhookOutcome::Queued => "queued",
            WebhookOutcome::Ignored => "ignored",
        }
    }
}

impl PartialEq<&str> for WebhookOutcome {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

// ----- intake ------------------------------------------------------------------------------

/// Authenticates, stores and acknowledges one delivery from an unknown source address.
pub async fn receive(state: &AppState, auth: PresentedAuth<'_>, body: &[u8]) -> Result<Receipt, ApiError> {
    receive_from(state, auth, body, None).await
}

/// Authenticates, stores and acknowledges one delivery from `source` (the socket peer). The
/// delivery (and its job) is committed before this returns, so a 2xx means it is durable; a
/// refusal touches no database.
pub async fn receive_from(
    state: &AppState,
    auth: PresentedAuth<'_>,
    body: &[u8],
    source: Option<IpAddr>,
) -> Result<Receipt, ApiError> {
    if let Err(reason) = authenticate(state, auth, body) {
        return Err(super::refusals::refuse(state, reason, source));
    }
    let trace_id = crate::telemetry::current_trace_id();
    let (text, envelope) = parse_envelope(body).map_err(|e| super::refusals::malformed(state, source, e))?;
    let event = envelope.event.as_str();
    let event_id = envelope
        .event_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty());
    let dedupe_key = match event_id {
        Some(id) => format!("event:{id}"),
        None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    };
    let (account_id, link_ref) = attribution(event, &envelope.data);
    // Both are stored in columns of their own, which cannot hold NUL.
    if account_id.iter().chain(link_ref.iter()).any(|v| v.contains('\0')) {
        return Err(ApiError::field(
            "data",
            "names an account or ref holding a NUL character",
        ));
    }
    let intake = state
        .intake
        .submit(PendingDelivery {
            dedupe_key,
            event: event.to_owned(),
            event_id: event_id.map(str::to_owned),
            account_id,
            link_ref,
            body: text.to_owned(),
            trace_id,
            known_event: KNOWN_EVENTS.contains(&event),
        })
        .await?;
    let outcome = if intake.inserted {
        intake.status.as_str()
    } else {
        "duplicate"
    };
    metrics::counter!("webhook_deliveries_total", "outcome" => outcome.to_owned()).increment(1);
    if intake.inserted && intake.status == "queued" {
        state.jobs_notify.notify_one();
    }
    Ok(Receipt {
        delivery_id: intake.id,
        event: intake.event,
        duplicate: !intake.inserted,
        outcome: WebhookOutcome::of_status(&intake.status),
    })
}

/// Ok when verification is off, or either form of MONO.md authenticates the body; else the
/// reason counted in webhook-status.
fn authenticate(state: &AppState, auth: PresentedAuth<'_>, body: &[u8]) -> Result<(), &'static str> {
    let mono = &state.settings.mono;
    if !mono.verify_signature {
        return Ok(());
    }
    let Some(secret) = mono.webhook_secret.as_ref() else {
        return Err("no_secret_configured");
    };
    signature::verify(
        secret.expose_secret().as_bytes(),
        auth,
        body,
        Utc::now().timestamp(),
        signature::DEFAULT_TOLERANCE_SECS,
    )
    .map(|_| ())
    .map_err(|e| match e {
        SignatureError::Missing => "missing_credentials",
        SignatureError::SecretMismatch => "secret_mismatch",
        SignatureError::MalformedTimestamp => "malformed_timestamp",
        SignatureError::StaleTimestamp { .. } => "stale_timestamp",
        SignatureError::MalformedSignature => "malformed_signature",
        SignatureError::SignatureMismatch => "signature_mismatch",
    })
}

/// The body as text and its envelope; 400 naming the field when it is not one. NUL escapes
/// are accepted (Mono data is cleaned of them when it is decided). Public for the fuzz targets.
pub fn parse_envelope(body: &[u8]) -> Result<(&str, mono::types::WebhookEnvelope), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("malformed_json", "the webhook body is not UTF-8 JSON"))?;
    let refuse = |path: String, inner: serde_json::Error| {
        if inner.is_data() {
            let field = if path == "." {
                inner.to_string().split('`').nth(1).unwrap_or("body").to_owned()
            } else {
                path
            };
            ApiError::field(field, "is missing or not of the right type")
        } else {
            ApiError::bad_request(
                "malformed_json",
                format!("the webhook body is not valid JSON: {inner}"),
            )
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let envelope = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        refuse(path, e.into_inner())
    })?;
    de.end().map_err(|e| refuse(".".into(), e))?;
    let envelope: mono::types::WebhookEnvelope = envelope;
    // Every Mono event carries an object: anything else is not a Mono event.
    if !envelope.data.is_object() {
        return Err(ApiError::field("data", "must be an object"));
    }
    // The body is kept as text, escapes and all; the fields stored in columns of their own
    // cannot hold NUL.
    if envelope.event.contains('\0') {
        return Err(ApiError::field("event", "must not contain NUL characters"));
    }
    if envelope.event_id.as_deref().is_some_and(|id| id.contains('\0')) {
        return Err(ApiError::field("event_id", "must not contain NUL characters"));
    }
    Ok((text, envelope))
}

/// The account an event is about and the widget-link ref it carries, read leniently (a
/// delivery whose data does not decode is still attributed when it can be).
pub fn attribution(event: &str, data: &Value) -> (Option<String>, Option<String>) {
    let id_of = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Object(o) => o
            .get("_id")
            .or_else(|| o.get("id"))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_owned()),
        _ => None,
    };
    let account = if event == events::ACCOUNT_CONNECTED {
        id_of(data)
    } else {
        data.get("account").and_then(id_of)
    }
    .filter(|s| !s.is_empty());
    let reference = data
        .pointer("/meta/ref")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    (account, reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attribution_reads_every_shape() {
        let connected = json!({"id": "acc_1", "meta": {"ref": "ref_0123456789"}});
        assert_eq!(
            attribution(events::ACCOUNT_CONNECTED, &connected),
            (Some("acc_1".into()), Some("ref_0123456789".into()))
        );
        let updated = json!({"account": {"_id": "acc_2"}, "meta": {}});
        assert_eq!(
            attribution(events::ACCOUNT_UPDATED, &updated),
            (Some("acc_2".into()), None)
        );
        let tx = json!({"account": "acc_3", "transaction": {}});
        assert_eq!(
            attribution(events::TRANSACTION_SETTLED, &tx),
            (Some("acc_3".into()), None)
        );
        assert_eq!(attribution("other", &json!(null)), (None, None));
    }

    #[test]
    fn envelopes_that_are_not_name_the_problem() {
        assert_eq!(parse_envelope(b"{").unwrap_err().code(), "malformed_json");
        assert_eq!(parse_envelope(b"\xff").unwrap_err().code(), "malformed_json");
        let err = parse_envelope(br#"{"data": {}}"#).unwrap_err();
        assert!(err.to_string().starts_with("event"), "{err}");
        let (_, ok) = parse_envelope(br#"{"event": "x", "data": {"n": "a\u0000b"}}"#).unwrap();
        assert_eq!(ok.event, "x");
    }
}
