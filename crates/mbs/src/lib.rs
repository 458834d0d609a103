//! The e-invoicing platform of the tax authority (MBS, `spec/MBS.md`): the invoice payload as
//! types with MBS's field names (`types`), a typed client for its calls (`client`), one
//! typed error that tells apart what the caller must treat differently (`error`), the key
//! material MBS issues a business (`crypto_keys.txt`, checked into `CryptoKeys` by `keys`),
//! and the QR code of an e-invoice made with it: encrypted text, SVG and PNG (`qr`).
//!
//! On MBS, signing *is* the submission. A sign whose outcome is unknown (timeout, 5xx,
//! connection lost) is settled by asking (`confirm`), never by sending again: the client
//! retries only calls that change nothing (health, resources, confirm, download), and never
//! on the text of a 400.

pub mod client;
pub mod error;
pub mod keys;
pub mod qr;
pub mod types;

pub use client::{Download, MbsClient, MbsConfig};
pub use error::MbsError;
pub use keys::{CryptoKeys, KeysError};
pub use qr::{encrypt_qr_text, qr_payload, render_png, render_svg, InvoiceQr, QrError};
pub use types::*;
