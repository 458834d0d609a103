//! Webhook authentication: signing (the sandbox, `webhook send`) and verification (the
//! service's `/si/mono/webhook`).
//!
//! Two forms are accepted, as MONO.md says: Mono's documented `mono-webhook-secret` header
//! carrying the shared secret, and the connector's signed form, `x-mono-timestamp` plus
//! `x-mono-signature` = lower-case hex HMAC-SHA256 over `"{timestamp}.{raw body}"`. Every
//! comparison is constant-time so a caller cannot learn the secret byte by byte.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Mono's documented header carrying the webhook secret itself.
pub const HEADER_WEBHOOK_SECRET: &str = "mono-webhook-secret";
/// Unix seconds at which the signed form was produced.
pub const HEADER_TIMESTAMP: &str = "x-mono-timestamp";
/// Hex HMAC-SHA256 over `"{timestamp}.{raw body}"`, optionally prefixed `sha256=`.
pub const HEADER_SIGNATURE: &str = "x-mono-signature";
/// How far a signed timestamp may be from the verifier's clock, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Lower-case hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The headers a signed delivery carries: both forms, so either verifier accepts it.
pub fn signed_headers(secret: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
    [
        (HEADER_WEBHOOK_SECRET, secret.to_owned()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, sign(secret.as_bytes(), timestamp, body)),
    ]
}

/// Why a delivery was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no webhook secret header and no signature")]
    Missing,
    #[error("the webhook secret header does not match")]
    SecretMismatch,
    #[error("the signature timestamp is not unix seconds")]
    MalformedTimestamp,
    #[error("the signature timestamp is {skew_secs} s from now, over the {tolerance_secs} s allowed")]
    StaleTimestamp { skew_secs: i64, tolerance_secs: i64 },
    #[error("the signature is not hex")]
    MalformedSignature,
    #[error("the signature does not match the body")]
    SignatureMismatch,
}

/// Which form authenticated a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAuthMethod {
    SecretHeader,
    Signature,
}

/// Whether `presented` equals the configured secret, in constant time.
pub fn verify_secret_header(secret: &[u8], presented: &str) -> bool {
    // `ct_eq` on slices of different lengths answers false without looking at the bytes;
    // the length of the secret is not what we hide.
    bool::from(secret.ct_eq(presented.trim().as_bytes()))
}

/// Checks the signed form: the timestamp within `tolerance_secs` of `now_unix`, and the
/// signature (hex, optionally `sha256=`-prefixed) over `"{timestamp}.{body}"`.
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let skew = now_unix.saturating_sub(ts).saturating_abs();
    if skew > tolerance_secs {
        return Err(SignatureError::StaleTimestamp {
            skew_secs: skew,
            tolerance_secs,
        });
    }
    let sig = signature.trim();
    let sig = sig
        .strip_prefix("sha256=")
        .or_else(|| sig.strip_prefix("SHA256="))
        .unwrap_or(sig);
    let raw = hex::decode(sig).map_err(|_| SignatureError::MalformedSignature)?;
    // `verify_slice` compares in constant time.
    mac(secret, ts, body)
        .verify_slice(&raw)
        .map_err(|_| SignatureError::SignatureMismatch)
}

/// The header values of one delivery, as the receiver found them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresentedAuth<'a> {
    pub webhook_secret: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Accepts a delivery authenticated by either form. A valid secret header wins; otherwise the
/// signed form decides, and its error is the one reported.
pub fn verify(
    secret: &[u8],
    presented: PresentedAuth<'_>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<WebhookAuthMethod, SignatureError> {
    let header_failed = match presented.webhook_secret {
        Some(value) if verify_secret_header(secret, value) => return Ok(WebhookAuthMethod::SecretHeader),
        Some(_) => true,
        None => false,
    };
    match (presented.timestamp, presented.signature) {
        (Some(ts), Some(sig)) => verify_signature(secret, ts, sig, body, now_unix, tolerance_secs)
            .map(|()| WebhookAuthMethod::Signature),
        _ if header_failed => Err(SignatureError::SecretMismatch),
        _ => Err(SignatureError::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn signature_round_trips_and_accepts_prefix() {
        let body = br#"{"event":"x"}"#;
        let sig = sign(SECRET, 1_700_000_000, body);
        assert_eq!(sig.len(), 64);
        assert!(sig
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(
            verify_signature(SECRET, "1700000000", &sig, body, 1_700_000_100, 300),
            Ok(())
        );
        let prefixed = format!("sha256={sig}");
        assert_eq!(
            verify_signature(SECRET, "1700000000", &prefixed, body, 1_700_000_000, 300),
            Ok(())
        );
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256(key = "key", message = "1.{}"), computed independently with Python's hmac.
        assert_eq!(
            sign(b"key", 1, b"{}"),
            "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn rejects_tampering_staleness_and_garbage() {
        let body = b"{}";
        let sig = sign(SECRET, 1000, body);
        assert_eq!(
            verify_signature(SECRET, "1000", &sig, b"{ }", 1000, 300),
            Err(SignatureError::SignatureMismatch)
        );
        assert_eq!(
            verify_signature(b"other", "1000", &sig, body, 1000, 300),
            Err(SignatureError::SignatureMismatch)
        );
        assert!(matches!(
            verify_signature(SECRET, "1000", &sig, body, 1301, 300),
            Err(SignatureError::StaleTimestamp { skew_secs: 301, .. })
        ));
        assert!(matches!(
            verify_signature(SECRET, "1000", &sig, body, 699, 300),
            Err(SignatureError::StaleTimestamp { .. })
        ));
        assert_eq!(
            verify_signature(SECRET, "soon", &sig, body, 1000, 300),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verify_signature(SECRET, "1000", "zz", body, 1000, 300),
            Err(SignatureError::MalformedSignature)
        );
    }

    #[test]
    fn either_form_authenticates() {
        let body = b"{}";
        let secret_only = PresentedAuth {
            webhook_secret: Some("whsec_test"),
            ..Default::default()
        };
        assert_eq!(
            verify(SECRET, secret_only, body, 0, 300),
            Ok(WebhookAuthMethod::SecretHeader)
        );
        let sig = sign(SECRET, 50, body);
        let signed = PresentedAuth {
            webhook_secret: Some("wrong"),
            timestamp: Some("50"),
            signature: Some(&sig),
        };
        assert_eq!(
            verify(SECRET, signed, body, 60, 300),
            Ok(WebhookAuthMethod::Signature)
        );
        let wrong = PresentedAuth {
            webhook_secret: Some("wrong"),
            ..Default::default()
        };
        assert_eq!(
            verify(SECRET, wrong, body, 0, 300),
            Err(SignatureError::SecretMismatch)
        );
        assert_eq!(
            verify(SECRET, PresentedAuth::default(), body, 0, 300),
            Err(SignatureError::Missing)
        );
    }
}
