//! The crypto keys file and the QR code, end to end: a test RSA-2048 key pair stands in for
//! MBS; the QR renders (PNG and SVG) are decoded back with `rqrr`, decrypted with the private
//! key, and the payload checked against the IRN, the time and the certificate.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mbs::qr::{max_payload_len, PNG_MODULE_PX};
use mbs::{encrypt_qr_text, qr_payload, render_png, render_svg, CryptoKeys, InvoiceQr, KeysError, QrError};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use serde_json::json;

const IRN: &str = "INV001-94ND90NR-20240611";

/// One RSA-2048 key pair per test binary: generation is the slow part.
fn private_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA-2048 key generates"))
}

fn public_key() -> RsaPublicKey {
    private_key().to_public_key()
}

/// A certificate as MBS gives it: standard base64.
fn certificate() -> String {
    STANDARD.encode(b"test certificate issued by the MBS sandbox to business 94ND90NR, v1")
}

fn spki_pem() -> String {
    public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("the SPKI PEM encodes")
}

fn pkcs1_pem() -> String {
    public_key()
        .to_pkcs1_pem(LineEnding::LF)
        .expect("the PKCS#1 PEM encodes")
}

/// A `crypto_keys.txt` the way MBS issues it: base64 of the PEM.
fn key_file(pem: &str, certificate: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "public_key": STANDARD.encode(pem),
        "certificate": certificate,
    }))
    .expect("JSON")
}

fn keys() -> CryptoKeys {
    CryptoKeys::parse(&key_file(&spki_pem(), &certificate())).expect("the key file parses")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Decodes the one QR code in a greyscale image.
fn decode_qr(image: image::GrayImage) -> String {
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the image");
    let (_meta, text) = grids[0].decode().expect("the QR code decodes");
    text
}

/// Decrypts a QR text with the test private key and checks what MBS requires of it.
fn assert_payload(text: &str, irn: &str, around_unix: i64, certificate: &str) {
    let encrypted = STANDARD.decode(text).expect("the QR text is standard base64");
    assert_eq!(encrypted.len(), 256, "one RSA-2048 block");
    let plain = private_key()
        .decrypt(Pkcs1v15Encrypt, &encrypted)
        .expect("the private key decrypts it");
    let plain = String::from_utf8(plain).expect("UTF-8");
    let payload: serde_json::Value = serde_json::from_str(&plain).expect("JSON");
    let object = payload.as_object().expect("an object");
    assert_eq!(object.len(), 2, "irn and certificate only: {plain}");
    assert_eq!(object["certificate"], certificate);
    let irn_field = object["irn"].as_str().expect("irn is a string");
    let (irn_part, unix_part) = irn_field.rsplit_once('.').expect("<IRN>.<unix>");
    assert_eq!(irn_part, irn);
    let unix: i64 = unix_part.parse().expect("unix seconds");
    assert!(
        (unix - around_unix).abs() <= 1,
        "{unix} is within 1s of {around_unix}"
    );
    // Compact, in MBS's order.
    assert_eq!(plain, qr_payload(irn, unix, certificate));
}

/// Rasterizes what `render_svg` emits: a white `<rect>` the size of the viewBox and one black
/// `<path>` of `M{x} {y}h{w}v{h}H{x}V{y}` rectangles, one per dark module.
fn rasterize_svg(svg: &str) -> image::GrayImage {
    fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
        let start = tag
            .find(&format!(" {name}=\""))
            .unwrap_or_else(|| panic!("attribute {name}"))
            + name.len()
            + 3;
        let len = tag[start..].find('"').expect("closing quote");
        &tag[start..start + len]
    }
    let number = |s: &str| -> u32 { s.parse().unwrap_or_else(|_| panic!("a number: {s:?}")) };

    let svg_tag = &svg[svg.find("<svg").expect("<svg")..];
    let svg_tag = &svg_tag[..svg_tag.find('>').expect("end of <svg>")];
    let (width, height) = (number(attr(svg_tag, "width")), number(attr(svg_tag, "height")));
    assert_eq!(attr(svg_tag, "viewBox"), format!("0 0 {width} {height}"));

    let rect = &svg[svg.find("<rect").expect("the background rect")..];
    assert_eq!(attr(rect, "fill"), "#fff");
    let path = &svg[svg.find("<path").expect("the modules' path")..];
    assert_eq!(attr(path, "fill"), "#000");
    let d = attr(path, "d");

    let mut image = image::GrayImage::from_pixel(width, height, image::Luma([255]));
    let mut dark_modules = 0;
    for command in d.split('M').filter(|c| !c.is_empty()) {
        // "{x} {y}h{w}v{h}H{x}V{y}"
        let (xy, rest) = command.split_once('h').expect("h");
        let (x, y) = xy.split_once(' ').expect("x y");
        let (w, rest) = rest.split_once('v').expect("v");
        let (h, back) = rest.split_once('H').expect("H");
        assert_eq!(back, format!("{x}V{y}"), "the rectangle closes where it began");
        let (x, y, w, h) = (number(x), number(y), number(w), number(h));
        for py in y..y + h {
            for px in x..x + w {
                image.put_pixel(px, py, image::Luma([0]));
            }
        }
        dark_modules += 1;
    }
    assert!(dark_modules > 100, "a real symbol has many dark modules");
    image
}

#[test]
fn the_png_decodes_to_the_text_which_decrypts_to_the_irn_time_and_certificate() {
    let keys = keys();
    let unix = now();
    let text = encrypt_qr_text(&keys, IRN, unix, &mut rand::thread_rng()).expect("QR text");
    assert_eq!(text.len(), 344, "base64 of 256 bytes, padded");

    let png = render_png(&text).expect("PNG");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let image = image::load_from_memory(&png).expect("a PNG image");
    assert_eq!(image.width() % PNG_MODULE_PX, 0, "whole modules");
    // Version 14 at level M (73 modules) and the 4-module quiet zone each side.
    assert!(image.width() <= (73 + 8) * PNG_MODULE_PX, "{}", image.width());
    let decoded = decode_qr(image.to_luma8());
    assert_eq!(decoded, text);

    assert_payload(&decoded, IRN, now(), &certificate());
}

#[test]
fn the_svg_decodes_to_the_same_text() {
    let keys = keys();
    let unix = now();
    let text = encrypt_qr_text(&keys, IRN, unix, &mut rand::thread_rng()).expect("QR text");

    let svg = render_svg(&text).expect("SVG");
    assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(!svg.contains("href"), "self-contained: no outside assets");

    let decoded = decode_qr(rasterize_svg(&svg));
    assert_eq!(decoded, text);
    assert_payload(&decoded, IRN, unix, &certificate());
}

#[test]
fn an_invoice_qr_bundles_the_text_and_both_renders_of_it() {
    let keys = keys();
    let unix = now();
    let qr = InvoiceQr::make(&keys, IRN, unix, &mut rand::thread_rng()).expect("QR");
    let png = image::load_from_memory(&qr.png).expect("PNG").to_luma8();
    assert_eq!(decode_qr(png), qr.text);
    assert_eq!(decode_qr(rasterize_svg(&qr.svg)), qr.text);
    assert_payload(&qr.text, IRN, unix, &certificate());
}

#[test]
fn each_text_is_different_but_decrypts_to_the_same_payload() {
    let keys = keys();
    let unix = now();
    let a = encrypt_qr_text(&keys, IRN, unix, &mut rand::thread_rng()).expect("QR text");
    let b = encrypt_qr_text(&keys, IRN, unix, &mut rand::thread_rng()).expect("QR text");
    assert_ne!(a, b, "PKCS#1 v1.5 padding is random");
    assert_payload(&a, IRN, unix, &certificate());
    assert_payload(&b, IRN, unix, &certificate());
}

#[test]
fn the_payload_is_compact_json_in_mbs_order_and_escaped() {
    assert_eq!(
        qr_payload(IRN, 1_718_064_000, "Y2VydA=="),
        r#"{"irn":"INV001-94ND90NR-20240611.1718064000","certificate":"Y2VydA=="}"#
    );
    assert_eq!(
        qr_payload("A\"B", 1, "c\\d"),
        r#"{"irn":"A\"B.1","certificate":"c\\d"}"#
    );
}

/// A certificate of exactly `len` characters of base64.
fn certificate_of_len(len: usize) -> String {
    assert_eq!(len % 4, 0);
    "QUJD".repeat(len / 4)
}

#[test]
fn a_payload_longer_than_one_rsa_block_is_refused_not_truncated() {
    let overhead = qr_payload(IRN, now(), "").len();
    let max = 256 - 11;
    // Fill the block to the byte, then one base64 quantum too many.
    let fits = certificate_of_len((max - overhead) / 4 * 4);
    let keys_fit = CryptoKeys::parse(&key_file(&spi_pem_cached(), &fits)).expect("keys");
    assert_eq!(max_payload_len(&keys_fit), max);
    let unix = now();
    let text = encrypt_qr_text(&keys_fit, IRN, unix, &mut rand::thread_rng()).expect("fits");
    assert_payload(&text, IRN, unix, &fits);

    let too_long = certificate_of_len(fits.len() + 8);
    let keys_long = CryptoKeys::parse(&key_file(&spi_pem_cached(), &too_long)).expect("keys");
    let error = encrypt_qr_text(&keys_long, IRN, unix, &mut rand::thread_rng()).unwrap_err();
    let len = qr_payload(IRN, unix, &too_long).len();
    assert_eq!(error, QrError::PayloadTooLong { len, max: 245 });
    assert_eq!(
        error.to_string(),
        format!("the QR payload is {len} bytes; the key encrypts at most 245")
    );

    // A real-sized certificate (an X.509 DER is ~1 KB) is refused the same way.
    let x509_sized = STANDARD.encode([7u8; 1000]);
    let keys_x509 = CryptoKeys::parse(&key_file(&spi_pem_cached(), &x509_sized)).expect("keys");
    assert!(matches!(
        InvoiceQr::make(&keys_x509, IRN, unix, &mut rand::thread_rng()),
        Err(QrError::PayloadTooLong { max: 245, .. })
    ));
}

fn spi_pem_cached() -> String {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(spki_pem).clone()
}

#[test]
fn spki_and_pkcs1_pem_are_both_accepted_with_one_fingerprint() {
    let spki = CryptoKeys::parse(&key_file(&spki_pem(), &certificate())).expect("SPKI");
    let pkcs1 = CryptoKeys::parse(&key_file(&pkcs1_pem(), &certificate())).expect("PKCS#1");
    assert_eq!(spki.public_key(), &public_key());
    assert_eq!(pkcs1.public_key(), &public_key());
    assert_eq!(spki.fingerprint(), pkcs1.fingerprint());
    assert_eq!(spki, pkcs1);

    let fingerprint = spki.fingerprint();
    let hex = fingerprint.strip_prefix("sha256:").expect("sha256: prefix");
    assert_eq!(hex.len(), 64);
    assert!(hex
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    let der = public_key().to_public_key_der().expect("DER");
    assert_eq!(spki.public_key_der(), der.as_bytes());
    use sha2::Digest as _;
    assert_eq!(hex, hex::encode(sha2::Sha256::digest(der.as_bytes())));
}

#[test]
fn der_raw_pem_crlf_wrapping_and_surrounding_whitespace_are_tolerated() {
    let expected = keys();
    let spki_der = public_key().to_public_key_der().expect("DER");
    let pkcs1_der = public_key().to_pkcs1_der().expect("DER");
    let pem_crlf = public_key().to_public_key_pem(LineEnding::CRLF).expect("PEM");
    // One long line of base64 in the PEM body, which strict PEM readers refuse.
    let body = STANDARD.encode(spki_der.as_bytes());
    let pem_one_line = format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n");
    let wrapped: String = STANDARD
        .encode(spki_pem())
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).expect("ASCII")))
        .collect();

    for public_key in [
        STANDARD.encode(spki_der.as_bytes()),
        STANDARD.encode(pkcs1_der.as_bytes()),
        STANDARD.encode(&pem_crlf),
        STANDARD.encode(&pem_one_line),
        format!("\n  {}  \n", STANDARD.encode(spki_pem())),
        wrapped,
        spki_pem(),
        STANDARD.encode(format!("\n\n{}\n\n", pkcs1_pem())),
    ] {
        let file = serde_json::to_vec(&json!({
            "public_key": public_key,
            "certificate": certificate(),
        }))
        .expect("JSON");
        let keys = CryptoKeys::parse(&file).expect("tolerated");
        assert_eq!(keys, expected);
        assert_eq!(keys.fingerprint(), expected.fingerprint());
    }
}

#[test]
fn the_canonical_file_reads_back_to_equal_keys_whatever_form_was_uploaded() {
    let from_pkcs1 = CryptoKeys::parse(&key_file(&pkcs1_pem(), &certificate())).expect("keys");
    let file = from_pkcs1.to_file_json();
    let value: serde_json::Value = serde_json::from_slice(&file).expect("JSON");
    assert_eq!(
        value,
        json!({"public_key": STANDARD.encode(spki_pem()), "certificate": certificate()})
    );
    let file_text = String::from_utf8(file.clone()).expect("UTF-8");
    assert_eq!(
        file_text,
        format!(
            r#"{{"public_key":"{}","certificate":"{}"}}"#,
            STANDARD.encode(spki_pem()),
            certificate()
        ),
        "compact, in MBS's order"
    );
    let back = CryptoKeys::parse(&file).expect("reads back");
    assert_eq!(back, from_pkcs1);
    assert_eq!(back.certificate(), certificate());
}

#[test]
fn extra_fields_are_ignored_and_the_certificate_is_kept_exactly() {
    // No padding: accepted, and not re-padded.
    let cert = "QUJDRA";
    let file = serde_json::to_vec(&json!({
        "public_key": STANDARD.encode(spki_pem()),
        "certificate": cert,
        "business_id": "b-1",
        "issued_at": 1718064000,
    }))
    .expect("JSON");
    let keys = CryptoKeys::parse(&file).expect("keys");
    assert_eq!(keys.certificate(), cert);
}

fn refusal(file: &[u8]) -> KeysError {
    CryptoKeys::parse(file).expect_err("refused")
}

fn file_with(public_key: serde_json::Value, certificate: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"public_key": public_key, "certificate": certificate})).expect("JSON")
}

#[test]
fn a_1024_bit_key_is_refused_naming_public_key() {
    let small = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("RSA-1024");
    let pem = small
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    let error = refusal(&key_file(&pem, &certificate()));
    assert_eq!(error, KeysError::KeyTooSmall { bits: 1024 });
    assert_eq!(error.field(), "public_key");
    assert!(error.to_string().contains("1024 bits"), "{error}");
    assert!(error.to_string().contains("2048"), "{error}");
}

#[test]
fn a_public_key_that_is_not_base64_is_refused_naming_public_key() {
    let error = refusal(&file_with(json!("not base64 at all!"), json!(certificate())));
    assert_eq!(error.field(), "public_key");
    assert!(error.to_string().contains("base64"), "{error}");

    // Base64, but of neither a PEM nor a key.
    let error = refusal(&file_with(
        json!(STANDARD.encode(b"hello world")),
        json!(certificate()),
    ));
    assert_eq!(error.field(), "public_key");

    for (public_key, reason) in [
        (json!(null), "must be a string"),
        (json!(42), "must be a string"),
        (json!(""), "is empty"),
        (json!("   "), "is empty"),
    ] {
        let error = refusal(&file_with(public_key, json!(certificate())));
        assert_eq!(error, KeysError::PublicKey(reason.into()));
        assert_eq!(error.to_string(), format!("public_key {reason}"));
    }
    let error = refusal(br#"{"certificate": "QUJD"}"#);
    assert_eq!(error, KeysError::PublicKey("is missing".into()));
}

#[test]
fn a_private_key_or_certificate_pem_in_public_key_is_refused_without_echoing_it() {
    let private_pem = private_key().to_pkcs1_pem(LineEnding::LF).expect("PEM");
    let error = refusal(&key_file(&private_pem, &certificate()));
    assert_eq!(error.field(), "public_key");
    assert!(error.to_string().contains("private key"), "{error}");
    assert!(!format!("{error} {error:?}").contains("MII"), "no key material");

    let cert_pem = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n";
    let error = refusal(&key_file(cert_pem, &certificate()));
    assert_eq!(
        error,
        KeysError::PublicKey("holds a certificate, not a public key".into())
    );
}

#[test]
fn a_missing_empty_or_non_base64_certificate_is_refused_naming_certificate() {
    let public_key = json!(STANDARD.encode(spki_pem()));
    let error = refusal(&serde_json::to_vec(&json!({"public_key": public_key})).expect("JSON"));
    assert_eq!(error, KeysError::Certificate("is missing".into()));
    assert_eq!(error.field(), "certificate");
    assert_eq!(error.to_string(), "certificate is missing");

    for (certificate, reason) in [
        (json!(""), "is empty"),
        (json!(["QUJD"]), "must be a string"),
        (json!("not*base64"), "is not standard base64"),
        (json!("QUJD\n"), "is not standard base64"),
        (json!("QUJD_-"), "is not standard base64"),
    ] {
        let error = refusal(&file_with(public_key.clone(), certificate));
        assert_eq!(error, KeysError::Certificate(reason.into()));
        assert_eq!(error.field(), "certificate");
    }
}

#[test]
fn a_file_that_is_not_a_json_object_is_refused_naming_the_file() {
    for file in [
        &b"public_key=abc"[..],
        b"",
        b"{\"public_key\": \"MIIB",
        b"[1, 2]",
        b"\"a string\"",
    ] {
        let error = refusal(file);
        assert!(matches!(error, KeysError::File(_)), "{error:?}");
        assert_eq!(error.field(), "crypto_keys");
        assert!(!error.to_string().contains("MIIB"), "no input echoed: {error}");
    }
}

#[test]
fn debug_output_shows_the_fingerprint_and_no_key_material() {
    let keys = keys();
    let debug = format!("{keys:?}");
    assert!(debug.contains(keys.fingerprint()), "{debug}");
    assert!(!debug.contains(&certificate()), "{debug}");
    assert!(!debug.contains("MII"), "{debug}");
    let file_public_key = STANDARD.encode(spki_pem());
    assert!(!debug.contains(&file_public_key[..40]), "{debug}");
    use rsa::traits::PublicKeyParts as _;
    let modulus = public_key().n().to_str_radix(16);
    assert!(!debug.to_lowercase().contains(&modulus[..16]), "{debug}");
    let modulus = public_key().n().to_string();
    assert!(!debug.contains(&modulus[..16]), "{debug}");
}
