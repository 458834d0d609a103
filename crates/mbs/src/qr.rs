//! The QR code of an e-invoice (`spec/MBS.md` "The QR code"): its text, the standard base64 of
//! the business's MBS public key encrypting (RSA, PKCS#1 v1.5) the compact JSON
//! `{"irn":"<IRN>.<unix seconds>","certificate":"<certificate>"}`, and its renders as SVG and
//! PNG for the printed or rendered invoice. The QR never goes into the signed payload.
//!
//! One RSA block carries the whole payload: MBS describes no chunking, so a payload longer
//! than the key allows (an RSA-2048 key takes at most 245 bytes) is refused with
//! [`QrError::PayloadTooLong`] rather than split in a way no reader expects.
//!
//! Rendering: error correction level M (15% of the symbol recoverable, for print and phone
//! cameras). The 344 characters of an RSA-2048 text take a version-14 symbol (73 modules)
//! there; L would save two versions for half the recovery, Q or H need a much denser symbol.
//! The quiet zone is the standard 4 modules. The PNG is 8-bit greyscale at [`PNG_MODULE_PX`]
//! pixels a module (405 px square for RSA-2048); the SVG is self-contained, one `<path>` over
//! a white `<rect>`, [`SVG_MODULE_UNITS`] user units a module.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use image::{ImageEncoder, Luma};
use qrcode::render::svg;
use qrcode::EcLevel;
use rsa::rand_core::CryptoRngCore;
use rsa::traits::PublicKeyParts;
use rsa::Pkcs1v15Encrypt;
use serde::Serialize;

use crate::keys::CryptoKeys;

/// The error correction level of every rendered QR code.
pub const QR_EC_LEVEL: EcLevel = EcLevel::M;
/// Pixels a module in the PNG.
pub const PNG_MODULE_PX: u32 = 5;
/// User units a module in the SVG (it scales; this sets its default size).
pub const SVG_MODULE_UNITS: u32 = 8;
/// Bytes PKCS#1 v1.5 padding takes from an RSA block.
const PKCS1V15_OVERHEAD: usize = 11;

/// Why a QR code could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// The JSON payload is longer than one RSA PKCS#1 v1.5 block of the key takes (the
    /// certificate is too long for the key; MBS describes no chunking).
    #[error("the QR payload is {len} bytes; the key encrypts at most {max}")]
    PayloadTooLong { len: usize, max: usize },
    /// The RSA encryption failed otherwise.
    #[error("encrypting the QR payload failed: {0}")]
    Encrypt(String),
    /// The text does not fit any QR code.
    #[error("the text does not fit a QR code: {0}")]
    Encode(String),
    /// Writing the PNG failed.
    #[error("writing the QR code as PNG failed: {0}")]
    Png(String),
}

/// The payload's fields, in MBS's order.
#[derive(Serialize)]
struct Payload<'a> {
    irn: &'a str,
    certificate: &'a str,
}

/// The compact JSON the QR encrypts: `{"irn":"<IRN>.<unix seconds>","certificate":"<cert>"}`,
/// escaped as JSON.
pub fn qr_payload(irn: &str, unix_seconds: i64, certificate: &str) -> String {
    let irn = format!("{irn}.{unix_seconds}");
    let payload = Payload {
        irn: &irn,
        certificate,
    };
    // Two strings always serialize.
    serde_json::to_string(&payload).expect("a struct of two strings serializes")
}

/// The most payload bytes one PKCS#1 v1.5 block of `keys` takes (245 for RSA-2048).
pub fn max_payload_len(keys: &CryptoKeys) -> usize {
    keys.public_key().size().saturating_sub(PKCS1V15_OVERHEAD)
}

/// The QR text of an invoice: the standard base64 (padded) of the payload encrypted with the
/// business's public key, RSA PKCS#1 v1.5. Random padding makes each text different; every
/// one decrypts to the same payload. A payload longer than [`max_payload_len`] is refused
/// with [`QrError::PayloadTooLong`].
pub fn encrypt_qr_text<R: CryptoRngCore>(
    keys: &CryptoKeys,
    irn: &str,
    unix_seconds: i64,
    rng: &mut R,
) -> Result<String, QrError> {
    let payload = qr_payload(irn, unix_seconds, keys.certificate());
    let max = max_payload_len(keys);
    if payload.len() > max {
        return Err(QrError::PayloadTooLong {
            len: payload.len(),
            max,
        });
    }
    let encrypted = keys
        .public_key()
        .encrypt(rng, Pkcs1v15Encrypt, payload.as_bytes())
        .map_err(|e| QrError::Encrypt(e.to_string()))?;
    Ok(STANDARD.encode(encrypted))
}

fn encode(text: &str) -> Result<qrcode::QrCode, QrError> {
    qrcode::QrCode::with_error_correction_level(text.as_bytes(), QR_EC_LEVEL)
        .map_err(|e| QrError::Encode(e.to_string()))
}

/// `text` as a self-contained SVG document (`width`, `height`, `viewBox`; black modules on
/// white, with the quiet zone).
pub fn render_svg(text: &str) -> Result<String, QrError> {
    let code = encode(text)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(SVG_MODULE_UNITS, SVG_MODULE_UNITS)
        .build())
}

/// `text` as a PNG (8-bit greyscale, [`PNG_MODULE_PX`] pixels a module, with the quiet zone).
pub fn render_png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = encode(text)?;
    let image = code
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(PNG_MODULE_PX, PNG_MODULE_PX)
        .build();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| QrError::Png(e.to_string()))?;
    Ok(png)
}

/// An invoice's QR code: its text and both renders.
#[derive(Clone, PartialEq, Eq)]
pub struct InvoiceQr {
    /// What the code encodes: the base64 of the encrypted payload.
    pub text: String,
    /// The SVG document.
    pub svg: String,
    /// The PNG file.
    pub png: Vec<u8>,
}

impl InvoiceQr {
    /// Encrypts the payload for `irn` at `unix_seconds` and renders it.
    pub fn make<R: CryptoRngCore>(
        keys: &CryptoKeys,
        irn: &str,
        unix_seconds: i64,
        rng: &mut R,
    ) -> Result<InvoiceQr, QrError> {
        let text = encrypt_qr_text(keys, irn, unix_seconds, rng)?;
        let svg = render_svg(&text)?;
        let png = render_png(&text)?;
        Ok(InvoiceQr { text, svg, png })
    }
}

impl fmt::Debug for InvoiceQr {
    /// The text, and the renders by size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvoiceQr")
            .field("text", &self.text)
            .field("svg_len", &self.svg.len())
            .field("png_len", &self.png.len())
            .finish()
    }
}
