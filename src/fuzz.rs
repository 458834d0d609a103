//! Entry points for fuzzing the service's parsers (the engine's is `eligibility::fuzz`): each takes arbitrary bytes, runs them through one parser or the
//! engine the way the service does, and checks what must hold whatever the input. A panic is
//! a bug. The cargo-fuzz targets in `fuzz/` and the property tests in `tests/api/fuzz_props.rs`
//! both call these, so a crash found by one is a regression test in the other.

use mono::signature::{self, PresentedAuth};
use mono::{AccountDetails, MonoEnvelope, RawTransaction, WebhookEnvelope, WebhookEvent};

const SECRET: &[u8] = b"fuzz-webhook-secret";
const NOW: i64 = 1_760_000_000;

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// Splits the input in four at its first three `\n`s (missing parts are empty).
fn parts(data: &[u8]) -> [&[u8]; 4] {
    let mut it = data.splitn(4, |b| *b == b'\n');
    [
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
    ]
}

/// Webhook authentication and parsing: headers and body from the input. Verification never
/// accepts what was not signed with the secret, a body signed with it always verifies, and
/// the envelope parser answers Ok or a 400, never anything else.
pub fn webhook(data: &[u8]) {
    let [secret_header, timestamp, sig, body] = parts(data);
    let presented = PresentedAuth {
        webhook_secret: text(secret_header).filter(|s| !s.is_empty()),
        timestamp: text(timestamp).filter(|s| !s.is_empty()),
        signature: text(sig).filter(|s| !s.is_empty()),
    };
    if signature::verify(SECRET, presented, body, NOW, signature::DEFAULT_TOLERANCE_SECS).is_ok() {
        // Only the secret itself or a valid HMAC gets in.
        let by_header = presented.webhook_secret == Some("fuzz-webhook-secret");
        let expected = presented
            .timestamp
            .and_then(|t| t.parse::<i64>().ok())
            .map(|t| signature::sign(SECRET, t, body));
        let by_signature = expected.is_some_and(|e| {
            presented
                .signature
                .is_some_and(|s| s.trim_start_matches("sha256=").eq_ignore_ascii_case(&e))
        });
        assert!(by_header || by_signature, "verified without the secret");
    }
    let signed = signature::sign(SECRET, NOW, body);
    let now = NOW.to_string();
    let fresh = PresentedAuth {
        webhook_secret: None,
        timestamp: Some(&now),
        signature: Some(&signed),
    };
    assert!(signature::verify(SECRET, fresh, body, NOW, signature::DEFAULT_TOLERANCE_SECS).is_ok());
    match crate::services::webhooks::intake::parse_envelope(body) {
        Ok((_, envelope)) => {
            let _ = crate::services::webhooks::intake::attribution(&envelope.event, &envelope.data);
            let _ = WebhookEvent::from_envelope(&envelope);
        }
        Err(e) => assert_eq!(e.status().as_u16(), 400, "{e}"),
    }
}

/// Mono's answers: an envelope of account details, a transactions page item by item, a
/// webhook envelope. Decoding answers Ok or an error; a decode error never repeats a value.
pub fn mono_dtos(data: &[u8]) {
    let _ = serde_json::from_slice::<MonoEnvelope<AccountDetails>>(data);
    let _ = serde_json::from_slice::<WebhookEnvelope>(data);
    if let Ok(page) = serde_json::from_slice::<MonoEnvelope<Vec<Box<serde_json::value::RawValue>>>>(data) {
        let items: Vec<RawTransaction> = page.data.into_iter().map(RawTransaction::decode).collect();
        for item in &items {
            if let Err(m) = &item.decoded {
                assert!(!m.message.contains("\"fuzz-secret-value\""), "{}", m.message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_entry_points_take_empty_and_odd_input() {
        for input in [&b""[..], b"\n\n\n", b"{}", b"\xff\xfe", b"[", br#"{"event": 1}"#] {
            super::webhook(input);
            super::mono_dtos(input);
        }
    }
}
