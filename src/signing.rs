//! Ed25519 signatures over RFC 8785 (JCS) canonical JSON: the service's signing key, the id
//! it is published under, signing and verifying a JSON value. Pure: no I/O, no database; where
//! the key comes from is `services::signing`'s business.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const ALG: &str = "Ed25519";

/// An Ed25519 seed: 32 bytes.
pub type Seed = [u8; 32];

/// The service's signing key. `Debug` shows the key id only.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The public half, as `GET /si/invoices/signing-key` publishes it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    #[schema(value_type = crate::vocab::SealAlg)]
    pub alg: &'static str,
    pub key_id: String,
    /// Base64 of the 32 raw bytes.
    pub public_key: String,
}

/// A signature as stored with an invoice: `{alg, keyId, value}`, `value` in base64.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureValue {
    #[schema(value_type = crate::vocab::SealAlg)]
    pub alg: &'static str,
    pub key_id: String,
    pub value: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the payload cannot be canonicalised: {0}")]
    Canonical(String),
}

impl Signer {
    pub fn from_seed(seed: &Seed) -> Self {
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(key.verifying_key().as_bytes());
        Signer { key, key_id }
    }

    /// A fresh random seed from the operating system.
    pub fn generate_seed() -> Seed {
        use rand::RngCore;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        seed
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            alg: ALG,
            key_id: self.key_id.clone(),
            public_key: BASE64.encode(self.key.verifying_key().as_bytes()),
        }
    }

    /// Signs the canonical JSON bytes of `payload`.
    pub fn sign(&self, payload: &Value) -> Result<SignatureValue, SigningError> {
        let bytes = canonical_json(payload)?;
        let signature = self.key.sign(&bytes);
        Ok(SignatureValue {
            alg: ALG,
            key_id: self.key_id.clone(),
            value: BASE64.encode(signature.to_bytes()),
        })
    }
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    hex::encode(&digest[..8])
}

/// The RFC 8785 (JCS) canonical form of `value`: keys sorted by UTF-16 code units, no
/// whitespace, ECMAScript number formatting.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, SigningError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| SigningError::Canonical(e.to_string()))
}

/// Whether `signature` (base64) is `public_key`'s (base64) over the canonical form of
/// `payload`. Anything malformed is simply not a valid signature.
pub fn verify(public_key: &str, payload: &Value, signature: &str) -> bool {
    let Ok(key_bytes) = BASE64.decode(public_key) else {
        return false;
    };
    let Ok(key_bytes) = <[u8; 32]>::try_from(key_bytes.as_slice()) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key_bytes) else {
        return false;
    };
    let Ok(sig_bytes) = BASE64.decode(signature) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&sig_bytes) else {
        return false;
    };
    let Ok(bytes) = canonical_json(payload) else {
        return false;
    };
    key.verify(&bytes, &sig).is_ok()
}

/// A seed written as base64 (standard alphabet, padding optional): `SIGNING_KEY`.
pub fn decode_seed(text: &str) -> Result<Seed, String> {
    let text = text.trim();
    let bytes = BASE64
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|_| "is not base64".to_string())?;
    <Seed>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "must be a 32-byte Ed25519 seed in base64, got {} bytes",
            bytes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(v: Value) -> String {
        String::from_utf8(canonical_json(&v).unwrap()).unwrap()
    }

    #[test]
    fn canonical_form_follows_rfc_8785() {
        // RFC 8785 section 3.2.3: properties sorted by UTF-16 code units (the emoji, a
        // surrogate pair, sorts before U+FB33 although its code point is larger).
        let text = canonical(
            serde_json::from_str(
                r#"{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, "\u00f6": 7}"#,
            )
            .unwrap(),
        );
        assert_eq!(
            text,
            "{\"\\r\":2,\"1\":4,\"\u{80}\":6,\"\u{f6}\":7,\"\u{20ac}\":1,\"\u{1f600}\":5,\"\u{fb33}\":3}"
        );
        // Section 3.2.2.2 string escaping and 3.2.2.3 numbers.
        assert_eq!(
            canonical(json!({"b": [56, {"d": true, "10": null, "1": []}], "a": {"f": "\u{7f}\n\u{1}\"\\/"}})),
            // DEL stays as it is; `/` is not escaped; control characters are \u00xx.
            "{\"a\":{\"f\":\"\u{7f}\\n\\u0001\\\"\\\\/\"},\"b\":[56,{\"1\":[],\"10\":null,\"d\":true}]}"
        );
        assert_eq!(
            canonical(json!([1.0, 1e21, -0.0, 4.5e-7, 333333333.3333333])),
            "[1,1e+21,0,4.5e-7,333333333.3333333]"
        );
    }

    #[test]
    fn signatures_verify_with_the_published_key_only() {
        let signer = Signer::from_seed(&[7u8; 32]);
        let payload = json!({"irn": "INV000001-AB12CD34-20260101", "amount": 150000});
        let sig = signer.sign(&payload).unwrap();
        let public = signer.public_key();
        assert_eq!(public.alg, "Ed25519");
        assert_eq!(sig.key_id, public.key_id);
        assert_eq!(public.key_id.len(), 16);
        assert!(verify(&public.public_key, &payload, &sig.value));
        // Key order does not matter: the canonical form is what is signed.
        let reordered: Value =
            serde_json::from_str(r#"{"amount":150000,"irn":"INV000001-AB12CD34-20260101"}"#).unwrap();
        assert!(verify(&public.public_key, &reordered, &sig.value));
        assert!(!verify(
            &public.public_key,
            &json!({"irn": "INV000001-AB12CD34-20260101", "amount": 150001}),
            &sig.value
        ));
        let other = Signer::from_seed(&[8u8; 32]).public_key();
        assert!(!verify(&other.public_key, &payload, &sig.value));
        assert!(!verify("not base64", &payload, &sig.value));
    }

    #[test]
    fn seeds_are_base64_of_32_bytes() {
        let seed = [3u8; 32];
        assert_eq!(decode_seed(&BASE64.encode(seed)).unwrap(), seed);
        assert_eq!(
            decode_seed(BASE64.encode(seed).trim_end_matches('=')).unwrap(),
            seed
        );
        assert!(decode_seed("!!").is_err());
        assert!(decode_seed(&BASE64.encode([1u8; 31]))
            .unwrap_err()
            .contains("31 bytes"));
        // RFC 8032 test 1: the seed determines the public key.
        let rfc = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        let signer = Signer::from_seed(&rfc.try_into().unwrap());
        assert_eq!(
            BASE64.decode(signer.public_key().public_key).unwrap(),
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap()
        );
        assert!(!format!("{signer:?}").contains("9d61"));
    }
}
