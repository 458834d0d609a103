//! The key material MBS issues each business (`crypto_keys.txt`, `spec/MBS.md` "The QR
//! code"): parsed and checked once at the edge into [`CryptoKeys`], which can only hold an RSA
//! public key of at least 2048 bits and a base64 certificate. A refusal names the field at
//! fault and never repeats key material; neither does `Debug`, which shows the fingerprint.
//!
//! The file is JSON `{"public_key": "<base64 of a PEM public key>", "certificate": "<base64>"}`.
//! What is accepted for `public_key`, beyond the form MBS issues (base64 of an SPKI PEM,
//! `-----BEGIN PUBLIC KEY-----`): base64 of a PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`),
//! base64 of the DER itself (SPKI or PKCS#1), the PEM text unencoded, line breaks and
//! surrounding whitespace anywhere in the base64, and PEM lines of any width. Whatever form was
//! uploaded, [`CryptoKeys::to_file_json`] writes the canonical one (base64 of the SPKI PEM) and
//! the fingerprint is that of the SPKI DER, so both are stable across forms of one key.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The smallest modulus accepted. MBS issues RSA-2048.
pub const MIN_MODULUS_BITS: usize = 2048;

/// Standard alphabet; padding optional (the certificate is kept as given, only checked).
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a `crypto_keys.txt` was refused. [`KeysError::field`] names the field at fault (for an
/// API error's `field`); `Display` is the reason, fit to show to the person who uploaded it.
/// No variant carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The file itself: not JSON, or not a JSON object.
    #[error("the key file is not a JSON object: {0}")]
    File(String),
    /// `public_key` is missing, not a string, not base64, or not an RSA public key.
    #[error("public_key {0}")]
    PublicKey(String),
    /// `public_key` is an RSA key, but smaller than MBS issues.
    #[error(
        "public_key is an RSA key of {bits} bits; at least {MIN_MODULUS_BITS} are required \
         (MBS issues RSA-2048)"
    )]
    KeyTooSmall { bits: usize },
    /// `certificate` is missing, not a string, empty, or not standard base64.
    #[error("certificate {0}")]
    Certificate(String),
}

impl KeysError {
    /// The field at fault: `public_key`, `certificate`, or `crypto_keys` for the file itself.
    pub fn field(&self) -> &'static str {
        match self {
            KeysError::File(_) => "crypto_keys",
            KeysError::PublicKey(_) | KeysError::KeyTooSmall { .. } => "public_key",
            KeysError::Certificate(_) => "certificate",
        }
    }
}

/// A business's MBS key material, checked: an RSA public key of at least 2048 bits and the
/// certificate, kept exactly as the file gave it (it goes into every QR code verbatim).
#[derive(Clone)]
pub struct CryptoKeys {
    public_key: RsaPublicKey,
    /// The SPKI DER of `public_key`: what the fingerprint hashes and the canonical PEM holds.
    spki_der: Vec<u8>,
    /// Base64 of the SPKI PEM (LF line endings): the canonical `public_key` of the file.
    public_key_file_form: String,
    fingerprint: String,
    certificate: String,
}

/// The file's shape, for writing it back (fields in MBS's order).
#[derive(Serialize)]
struct KeyFile<'a> {
    public_key: &'a str,
    certificate: &'a str,
}

impl CryptoKeys {
    /// Parses and checks the bytes of a `crypto_keys.txt`. Fields other than `public_key` and
    /// `certificate` are ignored.
    pub fn parse(file: &[u8]) -> Result<CryptoKeys, KeysError> {
        let value: serde_json::Value = serde_json::from_slice(file).map_err(|e| {
            // serde_json's own text can quote the input; say only where it went wrong.
            KeysError::File(format!(
                "invalid JSON at line {}, column {}",
                e.line(),
                e.column()
            ))
        })?;
        let object = value
            .as_object()
            .ok_or_else(|| KeysError::File("expected an object".into()))?;

        let public_key_text = match object.get("public_key") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(KeysError::PublicKey("must be a string".into())),
            None => return Err(KeysError::PublicKey("is missing".into())),
        };
        let certificate = match object.get("certificate") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(KeysError::Certificate("must be a string".into())),
            None => return Err(KeysError::Certificate("is missing".into())),
        };

        let public_key = parse_public_key(public_key_text)?;
        CryptoKeys::from_parts(public_key, certificate.clone())
    }

    /// Builds the keys from an RSA public key and a certificate, with the same checks as
    /// [`CryptoKeys::parse`] (at least 2048 bits; the certificate non-empty standard base64).
    pub fn from_parts(public_key: RsaPublicKey, certificate: String) -> Result<CryptoKeys, KeysError> {
        let bits = public_key.n().bits();
        if bits < MIN_MODULUS_BITS {
            return Err(KeysError::KeyTooSmall { bits });
        }
        check_certificate(&certificate)?;
        let not_encodable = |_| KeysError::PublicKey("cannot be written as SPKI".into());
        let spki_der = public_key.to_public_key_der().map_err(not_encodable)?.into_vec();
        let pem = public_key
            .to_public_key_pem(LineEnding::LF)
            .map_err(not_encodable)?;
        let fingerprint = format!("sha256:{}", hex::encode(Sha256::digest(&spki_der)));
        Ok(CryptoKeys {
            public_key,
            spki_der,
            public_key_file_form: STANDARD.encode(pem),
            fingerprint,
            certificate,
        })
    }

    /// The RSA public key the QR codes are encrypted with.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// The public key as SPKI DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The certificate exactly as the file gave it.
    pub fn certificate(&self) -> &str {
        &self.certificate
    }

    /// `sha256:` and the lower-case hex SHA-256 of the public key's SPKI DER: the same for
    /// every form (SPKI or PKCS#1, PEM or DER) of one key. Safe to log and show.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The canonical `crypto_keys.txt`: compact JSON with `public_key` the standard base64 of
    /// the SPKI PEM (LF line endings) and `certificate` as given. [`CryptoKeys::parse`] reads
    /// it back to equal keys; this is what to encrypt and store.
    pub fn to_file_json(&self) -> Vec<u8> {
        let file = KeyFile {
            public_key: &self.public_key_file_form,
            certificate: &self.certificate,
        };
        // Two strings always serialize.
        serde_json::to_vec(&file).expect("a struct of two strings serializes")
    }
}

impl PartialEq for CryptoKeys {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der && self.certificate == other.certificate
    }
}

impl Eq for CryptoKeys {}

impl fmt::Debug for CryptoKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoKeys")
            .field("fingerprint", &self.fingerprint)
            .field("modulus_bits", &self.public_key.n().bits())
            .field("certificate_len", &self.certificate.len())
            .finish_non_exhaustive()
    }
}

/// Reads `public_key`: base64 of a PEM (SPKI or PKCS#1) or of the DER, or the PEM itself.
fn parse_public_key(text: &str) -> Result<RsaPublicKey, KeysError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(KeysError::PublicKey("is empty".into()));
    }
    let decoded = if text.starts_with("-----BEGIN") {
        text.as_bytes().to_vec()
    } else {
        decode_base64_lenient(text)
            .ok_or_else(|| KeysError::PublicKey("is not standard base64 (of a PEM public key)".into()))?
    };

    let trimmed = decoded.trim_ascii();
    if trimmed.starts_with(b"-----BEGIN") {
        let pem = std::str::from_utf8(trimmed)
            .map_err(|_| KeysError::PublicKey("holds a PEM that is not text".into()))?;
        parse_pem(pem)
    } else {
        RsaPublicKey::from_public_key_der(&decoded)
            .or_else(|_| RsaPublicKey::from_pkcs1_der(&decoded))
            .map_err(|_| {
                KeysError::PublicKey(
                    "is neither a PEM nor the DER of an RSA public key (SPKI or PKCS#1)".into(),
                )
            })
    }
}

/// Reads one PEM block (`-----BEGIN <label>-----` … `-----END <label>-----`), tolerant of line
/// width and line endings, and the RSA public key it holds by its label.
fn parse_pem(pem: &str) -> Result<RsaPublicKey, KeysError> {
    let not_pem = || KeysError::PublicKey("holds a malformed PEM".into());
    let rest = pem.strip_prefix("-----BEGIN ").ok_or_else(not_pem)?;
    let (label, rest) = rest.split_once("-----").ok_or_else(not_pem)?;
    let end = format!("-----END {label}-----");
    let (body, _) = rest.split_once(end.as_str()).ok_or_else(not_pem)?;
    // RFC 1421 headers (`Proc-Type: …`) only appear on encrypted private keys: refused below.
    let der = decode_base64_lenient(body).ok_or_else(not_pem)?;

    match label {
        "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&der)
            .map_err(|_| KeysError::PublicKey("holds a PUBLIC KEY PEM that is not an RSA public key".into())),
        "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&der)
            .map_err(|_| KeysError::PublicKey("holds an RSA PUBLIC KEY PEM that does not parse".into())),
        "CERTIFICATE" => Err(KeysError::PublicKey(
            "holds a certificate, not a public key".into(),
        )),
        label if label.contains("PRIVATE KEY") => Err(KeysError::PublicKey(
            "holds a private key: upload only the public key MBS issued".into(),
        )),
        _ => Err(KeysError::PublicKey(
            "holds a PEM that is not a public key".into(),
        )),
    }
}

/// Standard base64 with any ASCII whitespace (line breaks) ignored and padding optional.
fn decode_base64_lenient(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    STANDARD_ANY_PADDING.decode(compact).ok()
}

/// The certificate must be non-empty standard base64 exactly as given (it is copied into
/// every QR code verbatim, so no whitespace is forgiven).
fn check_certificate(certificate: &str) -> Result<(), KeysError> {
    if certificate.is_empty() {
        return Err(KeysError::Certificate("is empty".into()));
    }
    STANDARD_ANY_PADDING
        .decode(certificate)
        .map(|_| ())
        .map_err(|_| KeysError::Certificate("is not standard base64".into()))
}
