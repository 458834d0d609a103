//! The key material MBS issues a business: an RSA-2048 key pair and a certificate, written
//! as MBS's `crypto_keys.txt` (`{"public_key": "<base64 of the PEM public key>",
//! "certificate": "<base64>"}`), with the private key kept for tests that decrypt QR codes.
//!
//! Generating a key takes up to a second of CPU: async code calls [`KeyMaterial::generate`]
//! through `spawn_blocking`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde::Serialize;

/// Bits of every generated key.
pub const KEY_BITS: usize = 2048;
/// Random bytes behind a certificate.
const CERTIFICATE_BYTES: usize = 48;

/// `crypto_keys.txt`, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CryptoKeys {
    /// Standard base64 of the PEM (`-----BEGIN PUBLIC KEY-----`, SPKI) public key.
    pub public_key: String,
    /// Standard base64 of the certificate's bytes.
    pub certificate: String,
}

/// A business's keys.
#[derive(Clone)]
pub struct KeyMaterial {
    pub crypto_keys: CryptoKeys,
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("crypto_keys", &self.crypto_keys)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// A fresh key pair and certificate (blocking: up to a second of CPU).
    pub fn generate() -> Result<Self, String> {
        let mut rng = rand::thread_rng();
        let private = RsaPrivateKey::new(&mut rng, KEY_BITS).map_err(|e| format!("key generation: {e}"))?;
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("public key PEM: {e}"))?;
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| format!("private key PEM: {e}"))?;
        let mut certificate = [0u8; CERTIFICATE_BYTES];
        rng.fill_bytes(&mut certificate);
        Ok(KeyMaterial {
            crypto_keys: CryptoKeys {
                public_key: STANDARD.encode(public_pem.as_bytes()),
                certificate: STANDARD.encode(certificate),
            },
            private_key_pem: private_pem.to_string(),
        })
    }

    /// The bytes of `crypto_keys.txt`.
    pub fn crypto_keys_txt(&self) -> Vec<u8> {
        serde_json::to_vec(&self.crypto_keys).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    use rsa::{Pkcs1v15Encrypt, RsaPublicKey};

    #[test]
    fn the_file_holds_the_public_half_of_the_private_key() {
        let keys = KeyMaterial::generate().unwrap();
        let file: CryptoKeys = serde_json::from_slice(&keys.crypto_keys_txt()).unwrap();
        let pem = String::from_utf8(STANDARD.decode(&file.public_key).unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let public = RsaPublicKey::from_public_key_pem(&pem).unwrap();
        let private = RsaPrivateKey::from_pkcs8_pem(&keys.private_key_pem).unwrap();
        let sealed = public
            .encrypt(&mut rand::thread_rng(), Pkcs1v15Encrypt, b"irn")
            .unwrap();
        assert_eq!(private.decrypt(Pkcs1v15Encrypt, &sealed).unwrap(), b"irn");
        assert_eq!(
            STANDARD.decode(&file.certificate).unwrap().len(),
            CERTIFICATE_BYTES
        );
    }
}
