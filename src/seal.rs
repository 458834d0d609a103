//! Sealing what a database dump must not reveal (an organization's MBS crypto keys) with
//! AES-256-GCM under `DATA_ENCRYPTION_KEY`. Pure: no I/O. A sealed value records which key
//! sealed it (`key_id`), so a service started with another key says so instead of failing
//! to open it with a generic error. The associated data binds a sealed value to its row (the
//! organization), so a value copied to another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The data encryption key. `Debug` shows its id only.
#[derive(Clone)]
pub struct DataKey {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A sealed value: the nonce, the ciphertext with its tag, and the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed under another `DATA_ENCRYPTION_KEY` than the one configured.
    #[error("sealed with another DATA_ENCRYPTION_KEY (key id {0})")]
    OtherKey(String),
    /// The ciphertext, nonce or associated data was changed.
    #[error("the sealed value does not open: it was altered or belongs to another record")]
    Altered,
}

impl DataKey {
    /// From `DATA_ENCRYPTION_KEY`: standard base64 of exactly 32 bytes. The error text never
    /// contains the value.
    pub fn decode(text: &str) -> Result<Self, String> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| "is not standard base64 (generate one with `openssl rand -base64 32`)".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must be 32 bytes once decoded, not {}", b.len()))?;
        Ok(Self::from_bytes(&bytes))
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        DataKey {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)),
            key_id: hex::encode(&digest[..8]),
        }
    }

    /// A new random key as `DATA_ENCRYPTION_KEY` holds it (`serve --sandbox` without one).
    pub fn random_base64() -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        BASE64.encode(bytes)
    }

    /// Which key this is: the first 16 hex digits of its SHA-256 (reveals nothing of it).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `plaintext` bound to `context` (say, the organization it belongs to).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Sealed {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            // AES-GCM fails to encrypt only past 64 GiB of plaintext.
            .unwrap_or_default();
        Sealed {
            key_id: self.key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens what [`DataKey::seal`] sealed with the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.key_id != self.key_id {
            return Err(OpenError::OtherKey(sealed.key_id.clone()));
        }
        if sealed.nonce.len() != 12 {
            return Err(OpenError::Altered);
        }
        self.cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| OpenError::Altered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> DataKey {
        DataKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let k = key(7);
        let sealed = k.seal(b"{\"public_key\":\"secret\"}", b"org-1");
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open(&sealed, b"org-1").unwrap(), b"{\"public_key\":\"secret\"}");
        assert_eq!(k.open(&sealed, b"org-2"), Err(OpenError::Altered));
        assert_eq!(
            key(8).open(&sealed, b"org-1"),
            Err(OpenError::OtherKey(k.key_id().to_owned()))
        );
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert_eq!(k.open(&altered, b"org-1"), Err(OpenError::Altered));
        // A fresh nonce every time: the same plaintext seals differently.
        assert_ne!(k.seal(b"x", b"o").ciphertext, k.seal(b"x", b"o").ciphertext);
    }

    #[test]
    fn the_configured_key_is_32_bytes_of_base64_and_never_echoed() {
        let text = BASE64.encode([3u8; 32]);
        assert_eq!(DataKey::decode(&text).unwrap().key_id(), key(3).key_id());
        assert_eq!(
            DataKey::decode(&format!(" {text}\n")).unwrap().key_id(),
            key(3).key_id()
        );
        let short = BASE64.encode([3u8; 16]);
        let e = DataKey::decode(&short).unwrap_err();
        assert_eq!(e, "must be 32 bytes once decoded, not 16");
        let random = DataKey::random_base64();
        assert_ne!(DataKey::decode(&random).unwrap().key_id(), key(3).key_id());
        assert_ne!(random, DataKey::random_base64());
        let e = DataKey::decode("not base64 at all!").unwrap_err();
        assert!(!e.contains("not base64 at all"), "{e}");
        assert!(!format!("{:?}", key(3)).contains("cipher"));
    }
}
