//! The fixture files the tests read.

use serde_json::Value;

/// The eligibility fixture vectors, a byte copy of the shared ones (CI compares the two).
pub const ELIGIBILITY_CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eligibility/cases.json"
);

/// The eligibility fixture cases as JSON values.
pub fn eligibility_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(ELIGIBILITY_CASES).expect("fixture file readable");
    match serde_json::from_str(&text).expect("fixture file parses") {
        Value::Array(cases) => cases,
        other => panic!("fixture file is not an array: {other}"),
    }
}

/// A `crypto_keys.txt` as MBS issues it: a new RSA-2048 public key (base64 of its SPKI PEM)
/// and a base64 certificate.
pub fn crypto_keys_file() -> Vec<u8> {
    use base64::Engine;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let b64 = base64::engine::general_purpose::STANDARD;
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("a key");
    let pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("a PEM");
    let certificate = b64.encode(b"a certificate MBS issued for this business");
    serde_json::to_vec(&serde_json::json!({"public_key": b64.encode(pem), "certificate": certificate}))
        .expect("JSON")
}
