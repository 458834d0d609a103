//! Invoices become e-invoices through MBS (the sandbox): confirm → validate (here and at MBS)
//! → sign (MBS's `sign`, the submission), with the figures of API.md, MBS's refusals mapped
//! to fields, MBS down leaving the invoice unchanged, and one invoice never submitted twice:
//! not by two signs at once, not after a dropped answer, not after a replica is killed
//! mid-submission. The QR code of a signed invoice decrypts to its IRN.

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;
use sandbox::mbs::faults::{FaultKind, FaultSpec};
use sandbox::mbs::state::{Business, DEMO_BUSINESS_ID, DEMO_SERVICE_ID};
use taxpoynt_mono::db::invoices::{insert_draft, NewDraft};
use taxpoynt_mono::invoice::InvoiceKind;
use taxpoynt_mono::tenancy::{EnvName, Tenant};

/// An app wired to the sandbox, the demo business made, the profile complete.
async fn ready(pool: PgPool) -> (SandboxApp, Business) {
    let s = TestApp::builder(pool)
        .with_sandbox()
        .start()
        .await
        .e_invoicing()
        .await;
    let business = s.mbs_business().await;
    (s, business)
}

fn sandbox_tenant(app: &TestApp) -> Tenant {
    let env_id = app.env_id("sandbox").parse().unwrap();
    Tenant::system(app.tenant.org_id, env_id, EnvName::Sandbox)
}

/// A draft as a sync stores it: 1,075.00 naira paid by Bola Stores.
async fn draft(app: &TestApp, amount: i64) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let invoice = insert_draft(
        &app.pool,
        &sandbox_tenant(app),
        &NewDraft {
            source: "mono",
            kind: InvoiceKind::Invoice,
            account_id: Some("acc_einvoice".into()),
            transaction_id: Some(format!("txn_einvoice_{n}")),
            amount,
            currency: "NGN".into(),
            reference: Some(format!("PO-{n}")),
            counterparty: Some("Bola Stores Ltd".into()),
            narration: Some("TRF FROM BOLA STORES LTD".into()),
            description: Some("Bookkeeping, March".into()),
            transaction_date: Some(Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 5).unwrap()),
            reason: Some("business_keyword".into()),
            rule_id: None,
            keywords: vec!["ltd".into()],
        },
    )
    .await
    .expect("draft stored");
    invoice.id.to_string()
}

async fn step(app: &TestApp, id: &str, action: &str, body: Value) -> (u16, Value) {
    app.post_raw(&format!("/si/invoices/{id}/{action}"), body).await
}

/// A draft confirmed and validated.
async fn validated(app: &TestApp, amount: i64) -> (String, Value) {
    let id = draft(app, amount).await;
    let (status, body) = step(app, &id, "confirm", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = step(app, &id, "validate", json!({})).await;
    assert_eq!(status, 200, "{body}");
    (id, body["data"].clone())
}

fn sign_calls(s: &SandboxApp, irn: &str) -> usize {
    s.sandbox
        .state
        .mbs()
        .log()
        .iter()
        .filter(|e| e.path == "/api/v1/invoice/sign" && e.body["irn"] == irn)
        .count()
}

fn fault(s: &SandboxApp, kind: FaultKind, path: &str, times: Option<u32>) {
    s.sandbox.state.mbs().faults().add(FaultSpec {
        kind,
        path: Some(path.into()),
        times,
    });
}

#[sqlx::test]
async fn a_draft_becomes_an_e_invoice_mbs_accepted(pool: PgPool) {
    let (s, _) = ready(pool).await;
    let id = draft(&s.app, 107_500).await;
    let draft: Value = s.app.get(&format!("/si/invoices/{id}")).await;
    // The figures of API.md: 1,075.00 naira VAT included at 7.5 %.
    assert_eq!(draft["typeCode"], "381");
    assert_eq!(draft["invoiceKind"], "B2C");
    assert_eq!(draft["issueTime"], "14:30:05");
    assert_eq!(
        draft["dueDate"], "2026-03-23",
        "issue date + the profile's 14 days"
    );
    assert_eq!(
        draft["tax"],
        json!({"category": "STANDARD_VAT", "percent": "7.5", "taxableAmount": 100_000, "taxAmount": 7_500})
    );
    assert_eq!(
        draft["totals"],
        json!({"lineExtension": 100_000, "taxExclusive": 100_000, "taxInclusive": 107_500, "payable": 107_500})
    );
    assert_eq!(draft["lines"][0]["serviceCode"], "6920");
    assert_eq!(draft["lines"][0]["lineAmount"], 100_000);

    let (status, confirmed) = step(
        &s.app,
        &id,
        "confirm",
        json!({"buyer": {"name": "Bola Stores Limited"}}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["data"]["buyer"]["name"], "Bola Stores Limited");
    let (status, validated) = step(&s.app, &id, "validate", json!({})).await;
    assert_eq!(status, 200, "{validated}");
    let validated = &validated["data"];
    assert_eq!(validated["status"], "VALIDATED");
    let irn = validated["irn"].as_str().unwrap().to_owned();
    assert_eq!(
        irn,
        format!(
            "{}-{DEMO_SERVICE_ID}-20260309",
            validated["invoiceNumber"].as_str().unwrap()
        )
    );
    assert_eq!(validated["supplier"]["businessId"], DEMO_BUSINESS_ID);
    assert_eq!(validated["submission"]["status"], "prepared");

    let (status, signed) = step(&s.app, &id, "sign", json!({})).await;
    assert_eq!(status, 200, "{signed}");
    let signed = &signed["data"];
    assert_eq!(signed["status"], "SIGNED");
    assert_eq!(signed["submission"]["status"], "accepted");
    let payload = &signed["signedPayload"];
    assert_eq!(payload["irn"], irn);
    assert_eq!(payload["business_id"], DEMO_BUSINESS_ID);
    assert_eq!(payload["legal_monetary_total"]["payable_amount"], json!(1075.0));
    assert_eq!(payload["tax_total"][0]["tax_amount"], json!(75.0));
    assert!(
        payload.get("accounting_customer_party").is_none(),
        "B2C without a TIN"
    );
    // What MBS holds is what the service says it filed.
    let held = s
        .sandbox
        .state
        .mbs()
        .invoice(&irn)
        .expect("MBS holds the invoice");
    assert_eq!(held.invoice, *payload);
    assert_eq!(sign_calls(&s, &irn), 1);
    // The seal verifies over the payload's RFC 8785 bytes.
    let key: Value = s.app.get("/si/invoices/signing-key").await;
    let public = BASE64.decode(key["publicKey"].as_str().unwrap()).unwrap();
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let sig = BASE64
        .decode(signed["signature"]["value"].as_str().unwrap())
        .unwrap();
    let bytes = serde_json_canonicalizer::to_vec(payload).unwrap();
    use ed25519_dalek::Verifier;
    verifying
        .verify(&bytes, &ed25519_dalek::Signature::from_slice(&sig).unwrap())
        .expect("the seal verifies");

    // Signing again is a 409 naming the state; MBS is not called again.
    let (status, again) = step(&s.app, &id, "sign", json!({})).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["status"], "SIGNED");
    assert_eq!(sign_calls(&s, &irn), 1);
}

#[sqlx::test]
async fn every_problem_of_the_invoice_and_the_profile_is_named_before_mbs_is_asked(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    s.mbs_business().await;
    let id = draft(&s.app, 107_500).await;
    let (status, body) = step(&s.app, &id, "confirm", json!({"buyer": {"tin": "87654321-0001"}})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = step(&s.app, &id, "validate", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_invoice");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for expected in [
        "buyer.address",
        "buyer.email",
        "buyer.telephone",
        "lines[0].serviceCode",
        "supplier.address",
        "supplier.businessId",
        "supplier.email",
        "supplier.telephone",
        "supplier.tin",
    ] {
        assert!(fields.contains(&expected), "{expected} in {fields:?}");
    }
    let calls = s.sandbox.state.mbs().log();
    assert!(
        calls.iter().all(|c| !c.path.contains("/invoice/validate")),
        "MBS was not asked"
    );
    let invoice: Value = s.app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(invoice["status"], "CONFIRMED");
    assert_eq!(invoice["irn"], Value::Null);
}

#[sqlx::test]
async fn mbs_refusing_the_irn_template_is_a_400_naming_the_field_with_mbs_text(pool: PgPool) {
    let (s, _) = ready(pool).await;
    let (status, body) = s
        .app
        .put_raw("/si/org/profile", json!({"serviceId": "OTHER123"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = draft(&s.app, 50_000).await;
    step(&s.app, &id, "confirm", json!({})).await;
    let (status, body) = step(&s.app, &id, "validate", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_invoice");
    assert!(body["error"]["fields"]["irn"].is_string(), "{body}");
    assert!(
        body["error"]["mbs"].as_str().unwrap().contains("template"),
        "{body}"
    );
    let invoice: Value = s.app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(invoice["status"], "CONFIRMED");
}

#[sqlx::test]
async fn mbs_down_is_a_503_and_the_invoice_is_unchanged(pool: PgPool) {
    let (s, _) = ready(pool).await;
    // The code lists are cached first: only the validation calls fail.
    let _: Value = s.app.get("/si/mbs/resources/services-codes").await;
    let _: Value = s.app.get("/si/mbs/resources/tax-categories").await;
    let id = draft(&s.app, 50_000).await;
    step(&s.app, &id, "confirm", json!({})).await;
    fault(
        &s,
        FaultKind::Status {
            status: 503,
            retry_after_secs: None,
        },
        "/api/v1/invoice",
        None,
    );
    let (status, body) = step(&s.app, &id, "validate", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "mbs_unavailable");
    let invoice: Value = s.app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(invoice["status"], "CONFIRMED");
    assert_eq!(invoice["irn"], Value::Null);
    assert!(invoice.get("submission").is_none());
}

#[sqlx::test]
async fn a_sign_whose_answer_is_dropped_is_settled_by_confirm_with_one_sign_call(pool: PgPool) {
    let (s, _) = ready(pool).await;
    let (id, validated) = validated(&s.app, 107_500).await;
    let irn = validated["irn"].as_str().unwrap().to_owned();
    fault(&s, FaultKind::DropAfterStore, "/api/v1/invoice/sign", Some(1));
    let (status, body) = step(&s.app, &id, "sign", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "SIGNED");
    assert_eq!(sign_calls(&s, &irn), 1);
    let confirms = s
        .sandbox
        .state
        .mbs()
        .log()
        .iter()
        .filter(|e| e.path.starts_with("/api/v1/invoice/confirm"))
        .count();
    assert!(confirms >= 1, "the unknown outcome was settled by asking");
}

#[sqlx::test]
async fn two_signs_at_once_make_one_sign_call(pool: PgPool) {
    let (s, _) = ready(pool).await;
    let (id, validated) = validated(&s.app, 107_500).await;
    let irn = validated["irn"].as_str().unwrap().to_owned();
    // Slow MBS, so both requests are in flight together.
    fault(&s, FaultKind::Latency { ms: 300 }, "/api/v1/invoice/sign", None);
    let replica = s.replica().start().await;
    let (a, b) = tokio::join!(
        step(&s.app, &id, "sign", json!({})),
        step(&replica, &id, "sign", json!({}))
    );
    for (status, body) in [&a, &b] {
        assert!([200, 202, 409].contains(status), "{body}");
    }
    assert!(a.0 == 200 || b.0 == 200, "one of them signed it: {a:?} {b:?}");
    let invoice = wait_for("the invoice SIGNED", Duration::from_secs(20), || async {
        let v: Value = s.app.get(&format!("/si/invoices/{id}")).await;
        (v["status"] == "SIGNED").then_some(v)
    })
    .await;
    assert_eq!(invoice["submission"]["status"], "accepted");
    assert_eq!(sign_calls(&s, &irn), 1);
}

/// The replica that made the sign call is killed (SIGKILL) while MBS holds the call; another
/// replica's settle job asks MBS once the call's lease is over and records the invoice SIGNED:
/// one sign call in all.
#[sqlx::test]
async fn a_replica_killed_mid_submission_leaves_the_invoice_signed_once(
    _opts: sqlx::postgres::PgPoolOptions,
    conn: sqlx::postgres::PgConnectOptions,
) {
    let url = database_url_for(&conn);
    let pool = sqlx::postgres::PgPoolOptions::new().connect(&url).await.unwrap();
    let (s, business) = ready(pool).await;
    let (id, validated) = validated(&s.app, 107_500).await;
    let irn = validated["irn"].as_str().unwrap().to_owned();
    // The process replica: the same database and MBS, a short MBS timeout (a 6 s lease).
    let mut command = Command::new(BIN);
    command
        .args(["serve"])
        .env("DATABASE_URL", &url)
        .env("MONO_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("DATA_ENCRYPTION_KEY", TEST_DATA_KEY)
        .env("MBS_BASE_URL", s.sandbox.base_url.as_str())
        .env("MBS_API_KEY", &business.api_key)
        .env("MBS_API_SECRET", &business.api_secret)
        .env("MBS_TIMEOUT_MS", "3000")
        .env("JOB_CONCURRENCY", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let service = Service::start(command);
    service.wait_ready(Duration::from_secs(20)).await;
    // MBS stores the sign and holds the answer; the process is killed meanwhile.
    fault(&s, FaultKind::DropAfterStore, "/api/v1/invoice/sign", Some(1));
    let url = format!("{}/si/invoices/{id}/sign", service.base);
    let key = s.app.key().to_owned();
    let request = tokio::spawn(async move {
        try_raw(
            Method::POST,
            &url,
            &[("authorization", &format!("Bearer {key}"))],
            "{}",
        )
        .await
    });
    wait_for("MBS to hold the sign", Duration::from_secs(20), || async {
        s.sandbox.state.mbs().invoice(&irn).is_some()
    })
    .await;
    drop(service);
    let _ = request.await;
    let mid: Value = s.app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(
        mid["status"], "VALIDATED",
        "the killed replica recorded nothing: {mid}"
    );
    assert_eq!(mid["submission"]["status"], "submitted");

    // The test app's worker runs the settle job once the lease is over.
    let invoice = wait_for("the settle job to sign it", Duration::from_secs(60), || async {
        let v: Value = s.app.get(&format!("/si/invoices/{id}")).await;
        (v["status"] == "SIGNED").then_some(v)
    })
    .await;
    assert_eq!(invoice["submission"]["status"], "accepted");
    assert_eq!(sign_calls(&s, &irn), 1);
}

#[sqlx::test]
async fn the_qr_of_a_signed_invoice_decrypts_to_its_irn(pool: PgPool) {
    use rsa::pkcs8::DecodePrivateKey;
    let (s, business) = ready(pool).await;
    let (id, _) = validated(&s.app, 107_500).await;
    // Not signed yet: no QR.
    let (status, body) = s.app.get_raw(&format!("/si/invoices/{id}/qr")).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = step(&s.app, &id, "sign", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let irn = body["data"]["irn"].as_str().unwrap().to_owned();
    // No crypto keys yet.
    let (status, body) = s.app.get_raw(&format!("/si/invoices/{id}/qr")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "crypto_keys_missing");
    let bearer = s.app.bearer();
    let put = s
        .app
        .raw(
            Method::PUT,
            "/si/org/crypto-keys",
            &[("authorization", &bearer)],
            business.crypto_keys_txt(),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());

    let png = s
        .app
        .raw(
            Method::GET,
            &format!("/si/invoices/{id}/qr?format=png"),
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(png.status, 200);
    assert_eq!(png.header("content-type"), Some("image/png"));
    let image = image::load_from_memory(&png.body).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let (_, text) = grids[0].decode().expect("the QR decodes");
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&business.private_key_pem).unwrap();
    let plain = private
        .decrypt(rsa::Pkcs1v15Encrypt, &BASE64.decode(&text).unwrap())
        .unwrap();
    let payload: Value = serde_json::from_slice(&plain).unwrap();
    let (qr_irn, _) = payload["irn"].as_str().unwrap().rsplit_once('.').unwrap();
    assert_eq!(qr_irn, irn);
    assert_eq!(payload["certificate"], business.crypto_keys.certificate);

    let svg = s
        .app
        .raw(
            Method::GET,
            &format!("/si/invoices/{id}/qr"),
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(
        svg.text().starts_with("<svg") || svg.text().starts_with("<?xml"),
        "{}",
        svg.text()
    );

    // Another organization sees none of it.
    let other = tenants::create_tenant(&s.app.pool, "Other Org").await.unwrap();
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/si/invoices/{id}/qr"),
            Some(&other.api_key),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// The signed invoice, its crypto keys uploaded: the app and the business.
async fn signed_with_keys(pool: PgPool) -> (SandboxApp, Business, String, String) {
    let (s, business) = ready(pool).await;
    let (id, _) = validated(&s.app, 107_500).await;
    let (status, body) = step(&s.app, &id, "sign", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let irn = body["data"]["irn"].as_str().unwrap().to_owned();
    let bearer = s.app.bearer();
    let put = s
        .app
        .raw(
            Method::PUT,
            "/si/org/crypto-keys",
            &[("authorization", &bearer)],
            business.crypto_keys_txt(),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    (s, business, id, irn)
}

/// What a QR code's text decrypts to with the business's private key: the IRN and the
/// certificate.
fn decrypt_qr(business: &Business, text: &str) -> (String, Value) {
    use rsa::pkcs8::DecodePrivateKey;
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&business.private_key_pem).unwrap();
    let plain = private
        .decrypt(rsa::Pkcs1v15Encrypt, &BASE64.decode(text).expect("base64"))
        .expect("decrypts with the business's private key");
    let payload: Value = serde_json::from_slice(&plain).unwrap();
    let (irn, _) = payload["irn"].as_str().unwrap().rsplit_once('.').unwrap();
    (irn.to_owned(), payload["certificate"].clone())
}

#[sqlx::test]
async fn the_document_is_one_page_with_the_figures_the_irn_and_the_qr_inline(pool: PgPool) {
    let (s, _, id, irn) = signed_with_keys(pool).await;
    let bearer = s.app.bearer();
    let page = s
        .app
        .raw(
            Method::GET,
            &format!("/si/invoices/{id}/document"),
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let html = page.text();
    for expected in [
        irn.as_str(),
        "Taxpoynt Demo Supplies Limited",
        "Bola Stores Ltd",
        "NGN 1,075.00",
        "NGN 75.00",
        "NGN 1,000.00",
        "VAT 7.5%",
        "<svg",
    ] {
        assert!(html.contains(expected), "{expected} in the page");
    }
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no outside assets"
    );
    let other = tenants::create_tenant(&s.app.pool, "Other Org").await.unwrap();
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/si/invoices/{id}/document"),
            Some(&other.api_key),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// The printable page in headless Chromium: it renders, a screenshot is saved under
/// `target/browser/`, and the QR code read back from the screenshot decrypts to the IRN.
/// Needs Chromium: `scripts/browser-test.sh` installs it and runs this test.
#[sqlx::test]
#[ignore = "needs Chromium: run by scripts/browser-test.sh"]
async fn the_document_in_a_browser_shows_a_qr_that_decrypts_to_the_irn(pool: PgPool) {
    let (s, business, id, irn) = signed_with_keys(pool).await;
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("Chromium is installed (scripts/browser-test.sh installs it)");
    // The page as a file: Chromium cannot send the bearer key.
    let bearer = s.app.bearer();
    let html = s
        .app
        .raw(
            Method::GET,
            &format!("/si/invoices/{id}/document"),
            &[("authorization", &bearer)],
            "",
        )
        .await
        .text();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&out).unwrap();
    let page = out.join("invoice-document.html");
    let shot = out.join("invoice-document.png");
    std::fs::write(&page, html).unwrap();
    let _ = std::fs::remove_file(&shot);
    let profile = tempdir("chromium-profile");
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1000,1300",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("Chromium ran");
    assert!(status.success(), "{status:?}");
    let png = std::fs::read(&shot).expect("a screenshot");
    let image = image::load_from_memory(&png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, text) = grids[0].decode().expect("the QR decodes from the screenshot");
    let (qr_irn, certificate) = decrypt_qr(&business, &text);
    assert_eq!(qr_irn, irn);
    assert_eq!(certificate, business.crypto_keys.certificate);
    eprintln!("screenshot: {}", shot.display());
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tpm-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A settled payment of a SIGNED invoice is told to MBS (`update/{irn}` PAID) by a job, and
/// the invoice shows it (`submission.mbsPaymentStatus`).
#[sqlx::test]
async fn a_settled_payment_of_a_signed_invoice_is_told_to_mbs(pool: PgPool) {
    let (s, _) = ready(pool).await;
    let (id, _) = validated(&s.app, 107_500).await;
    let (status, body) = step(&s.app, &id, "sign", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let irn = body["data"]["irn"].as_str().unwrap().to_owned();
    let tenant = sandbox_tenant(&s.app);
    let mut tx = s.app.pool.begin().await.unwrap();
    let payment = taxpoynt_mono::services::reconcile::Payment {
        account_id: "acc_einvoice",
        transaction_id: "txn_payment_1",
        settled: true,
        trace_id: "test",
    };
    taxpoynt_mono::services::reconcile::record_payment(
        &mut tx,
        &tenant,
        &payment,
        id.parse().unwrap(),
        107_500,
        "NGN",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let invoice = wait_for("MBS told of the payment", Duration::from_secs(30), || async {
        let v: Value = s.app.get(&format!("/si/invoices/{id}")).await;
        (v["submission"]["mbsPaymentStatus"] == "PAID").then_some(v)
    })
    .await;
    assert_eq!(invoice["paymentStatus"], "settled");
    let held = s.sandbox.state.mbs().invoice(&irn).unwrap();
    assert_eq!(held.payment_status, "PAID");
    let updates = s
        .sandbox
        .state
        .mbs()
        .log()
        .iter()
        .filter(|e| e.path.starts_with("/api/v1/invoice/update/"))
        .count();
    assert_eq!(updates, 1);
}

#[sqlx::test]
async fn a_bulk_submission_signs_what_it_took_once_each_and_one_runs_per_environment(pool: PgPool) {
    let (s, _) = ready(pool).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(validated(&s.app, 107_500).await.0);
    }
    let draft = draft(&s.app, 50_000).await;
    // Bad selections are named.
    let (status, body) = s
        .app
        .post_raw("/si/invoices/sign", json!({"status": "DRAFT"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["fields"]["status"].is_string());
    let (status, body) = s
        .app
        .post_raw("/si/invoices/sign", json!({"ids": ["nope"]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["fields"]["ids"].is_string());

    // MBS slow, so the first job is still running when the second is asked for.
    fault(&s, FaultKind::Latency { ms: 200 }, "/api/v1/invoice/sign", None);
    let (status, started) = s
        .app
        .post_raw("/si/invoices/sign", json!({"status": "VALIDATED"}))
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["data"]["taken"], 6, "the draft is not taken: {draft}");
    let job_id = started["data"]["jobId"].as_str().unwrap().to_owned();
    let (status, again) = s
        .app
        .post_raw("/si/invoices/sign", json!({"ids": [ids[0]]}))
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "job_running");
    assert_eq!(again["error"]["jobId"], job_id);

    let job = wait_for(
        "the bulk submission to finish",
        Duration::from_secs(60),
        || async {
            let v: Value = s.app.get(&format!("/si/mono/jobs/{job_id}")).await;
            (v["status"] == "done").then_some(v)
        },
    )
    .await;
    assert_eq!(job["progress"]["signed"], 6, "{job}");
    assert_eq!(job["progress"]["failed"], 0, "{job}");
    for id in &ids {
        let v: Value = s.app.get(&format!("/si/invoices/{id}")).await;
        assert_eq!(v["status"], "SIGNED");
        assert_eq!(sign_calls(&s, v["irn"].as_str().unwrap()), 1);
    }
    // Done: the next bulk submission may start (nothing left to take).
    let (status, body) = s.app.post_raw("/si/invoices/sign", json!({"ids": ids})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["taken"], 0);
}

/// Load: 1,000 VALIDATED invoices submitted in bulk at `MBS_MAX_RPS=50` with MBS answering
/// every sign after 100 ms. Prints the wall time beside the budget's floor (1,000 / 50 =
/// 20 s), the busiest second at MBS and the failures. Run with
/// `cargo nextest run --run-ignored only -E 'test(bulk_submission_load)' --no-capture`
/// (`TPM_BULK_SIGN_INVOICES` changes the count).
#[sqlx::test]
#[ignore = "load measurement: run on purpose, see the doc comment"]
async fn bulk_submission_load(_opts: sqlx::postgres::PgPoolOptions, conn: sqlx::postgres::PgConnectOptions) {
    // The service's default pool (DATABASE_MAX_CONNECTIONS=10), not the test harness's 5.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect_with(conn)
        .await
        .unwrap();
    let n: usize = std::env::var("TPM_BULK_SIGN_INVOICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    const RPS: u32 = 50;
    let s = TestApp::builder(pool)
        .mbs_max_rps(RPS)
        .with_sandbox()
        .start()
        .await
        .e_invoicing()
        .await;
    // The invoices are made VALIDATED by an unbudgeted replica, so only the bulk submission is
    // measured.
    let setup = s.replica().mbs_max_rps(0).job_concurrency(0).start().await;
    let made = std::time::Instant::now();
    let mut ids = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(50) {
        let batch = (chunk * 50..((chunk + 1) * 50).min(n)).map(|_| async {
            let id = draft(&setup, 107_500).await;
            step(&setup, &id, "confirm", json!({})).await;
            let (status, body) = step(&setup, &id, "validate", json!({})).await;
            assert_eq!(status, 200, "{body}");
            id
        });
        ids.extend(futures::future::join_all(batch).await);
    }
    eprintln!(
        "bulk sign load: {n} invoices validated in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    fault(&s, FaultKind::Latency { ms: 100 }, "/api/v1/invoice/sign", None);
    let before = s.sandbox.state.mbs().calls().requests;
    let first_second = Utc::now().timestamp() as u64;
    let started = std::time::Instant::now();
    let (status, body) = s
        .app
        .post_raw("/si/invoices/sign", json!({"status": "VALIDATED"}))
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["data"]["jobId"].as_str().unwrap().to_owned();
    let job = wait_for("the bulk submission", Duration::from_secs(600), || async {
        let v: Value = s.app.get(&format!("/si/mono/jobs/{job_id}")).await;
        (v["status"] == "done" || v["status"] == "failed").then_some(v)
    })
    .await;
    let wall = started.elapsed().as_secs_f64();
    let counts = s.sandbox.state.mbs().calls();
    // Calls of the bulk phase by the whole second they reached MBS (the log's times).
    let mut per_second = std::collections::BTreeMap::new();
    for entry in s.sandbox.state.mbs().log() {
        let second = entry.received_at.timestamp() as u64;
        if second >= first_second && entry.path == "/api/v1/invoice/sign" {
            *per_second.entry(second).or_insert(0u64) += 1;
        }
    }
    let busiest = per_second.values().copied().max().unwrap_or(0);
    let floor = n as f64 / f64::from(RPS);
    eprintln!(
        "bulk sign load: {n} invoices at MBS_MAX_RPS={RPS}, sign 100 ms: {wall:.1} s (floor {floor:.1} s, {:.2}x), \
         {} MBS calls, busiest second {busiest}, signed {}, pending {}, failed {}",
        wall / floor,
        counts.requests - before,
        job["progress"]["signed"],
        job["progress"]["pending"],
        job["progress"]["failed"]
    );
    assert_eq!(job["progress"]["signed"], n, "{job}");
    assert!(busiest <= u64::from(RPS), "busiest second {busiest}");
}

/// A draft's buyer comes from the directory entry its counterparty matches (account number,
/// else normalised name); confirming adds or updates the entry, keyed by the counterparty.
#[sqlx::test]
async fn a_drafts_buyer_comes_from_the_directory_and_confirm_teaches_it(pool: PgPool) {
    let (s, _) = ready(pool).await;
    let known: Value = s
        .app
        .create(
            "/si/buyers",
            json!({"name": "Bola Stores Ltd", "tin": "87654321-0001", "email": "ap@bola.ng",
                   "telephone": "+2348099999999",
                   "address": {"street": "4 Allen Avenue", "city": "Ikeja", "country": "NG", "state": "NG-LA"},
                   "match": {"accountNumbers": ["0001112223"]}}),
        )
        .await;
    let account = s.link_new_account(0).await;
    let credit = |narration: &str, name: &str, number: &str, reference: &str| {
        json!({"amount": 250_000, "type": "credit", "narration": narration, "reference": reference,
               "counterparty": {"name": name, "accountNumber": number}})
    };
    s.control_post(
        &format!("/_sandbox/accounts/{account}/transactions"),
        json!({"transactions": [
            // By account number, whatever the name says.
            credit("INVOICE PAYMENT FROM BOLA ENTERPRISES LTD", "BOLA ENTERPRISES", "000-111-2223", "PO-7001"),
            // By normalised name.
            credit("INVOICE PAYMENT BOLA STORES LIMITED", "bola stores limited.", "5550001111", "PO-7002"),
            // Nobody the directory knows.
            credit("INVOICE PAYMENT FROM KUNLE TRADERS LTD", "KUNLE TRADERS LTD", "9990001111", "PO-7003"),
        ]}),
    )
    .await;
    sync_to_end(&s.app, &account, 100, WhenBusy::Wait).await;
    let (drafts, _) = s
        .app
        .get_page::<Value>(&format!("/si/invoices?accountId={account}&status=DRAFT"))
        .await;
    assert_eq!(drafts.len(), 3, "{drafts:?}");
    let by_reference = |r: &str| drafts.iter().find(|d| d["reference"] == r).unwrap().clone();
    for reference in ["PO-7001", "PO-7002"] {
        let d = by_reference(reference);
        assert_eq!(d["buyer"]["id"], known["id"], "{reference}: {d}");
        assert_eq!(d["buyer"]["tin"], "87654321-0001");
        assert_eq!(d["invoiceKind"], "B2B", "a buyer with a TIN");
    }
    let stranger = by_reference("PO-7003");
    assert!(stranger["buyer"].get("id").is_none(), "{stranger}");

    // Confirming the stranger's invoice with details adds it to the directory, keyed by the
    // counterparty: the next transaction from it is drafted naming it.
    let id = stranger["id"].as_str().unwrap();
    let (status, body) = step(
        &s.app,
        id,
        "confirm",
        json!({"buyer": {"name": "Kunle Traders Limited", "email": "kunle@traders.ng"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let entry = body["data"]["buyer"]["id"]
        .as_str()
        .expect("the entry learnt")
        .to_owned();
    s.control_post(
        &format!("/_sandbox/accounts/{account}/transactions"),
        json!({"transactions": [credit("INVOICE PAYMENT FROM KUNLE TRADERS", "KUNLE TRADERS LTD", "1234567890", "PO-7004")]}),
    )
    .await;
    sync_to_end(&s.app, &account, 100, WhenBusy::Wait).await;
    let next: Value = wait_for("the next draft", Duration::from_secs(20), || async {
        let (drafts, _) = s
            .app
            .get_page::<Value>(&format!("/si/invoices?accountId={account}&status=DRAFT"))
            .await;
        drafts.into_iter().find(|d| d["reference"] == "PO-7004")
    })
    .await;
    assert_eq!(next["buyer"]["id"], entry.as_str(), "{next}");
    assert_eq!(next["buyer"]["email"], "kunle@traders.ng");
    let learnt: Value = s.app.get(&format!("/si/buyers/{entry}")).await;
    assert_eq!(learnt["invoices"], 2, "{learnt}");
}

/// The migration that made invoices e-invoices, on a database of the schema before it:
/// unsigned invoices get the organization's defaults (line, tax category and percent, due
/// date from its payment terms, issue time); an invoice sealed before submissions existed
/// keeps its seal and shows no submission.
#[sqlx::test(migrations = false)]
async fn the_e_invoice_migration_backfills_what_came_before(pool: PgPool) {
    const FIRST_AFTER: &str = "20261208500000";
    let dir = tempdir("migrations-before");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.as_str() < FIRST_AFTER {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .expect("the schema before");
    let (org, env) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query(
        "INSERT INTO organizations (id, name, tin, default_service_code, payment_terms_days) VALUES ($1, 'Before Ltd', '12345678-0001', '6920', 7)",
    )
    .bind(org)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO environments (id, org_id, name) VALUES ($1, $2, 'sandbox')")
        .bind(env)
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let insert = |status: &'static str| {
        let pool = pool.clone();
        async move {
            let id = uuid::Uuid::now_v7();
            sqlx::query(
                "INSERT INTO invoices (id, org_id, env_id, status, source, kind, account_id, transaction_id, amount, currency,
                                       transaction_date, irn, signed_at, signed_payload, signature)
                 VALUES ($1, $2, $3, $4, 'mono', 'invoice', 'acc', $5, 107500, 'NGN', '2026-03-09T14:30:05Z',
                         CASE WHEN $4 = 'SIGNED' THEN 'INV1-AB12CD34-20260309' END,
                         CASE WHEN $4 = 'SIGNED' THEN now() END,
                         CASE WHEN $4 = 'SIGNED' THEN '{\"amount\": 107500}'::jsonb END,
                         CASE WHEN $4 = 'SIGNED' THEN '{\"alg\": \"Ed25519\", \"keyId\": \"k\", \"value\": \"v\"}'::jsonb END)",
            )
            .bind(id)
            .bind(org)
            .bind(env)
            .bind(status)
            .bind(format!("txn_{status}"))
            .execute(&pool)
            .await
            .unwrap();
            id
        }
    };
    let draft = insert("DRAFT").await;
    let sealed = insert("SIGNED").await;

    taxpoynt_mono::db::MIGRATOR
        .run(&pool)
        .await
        .expect("the rest of the migrations");

    let row: (String, Option<i32>, Option<String>, chrono::NaiveDate, chrono::NaiveDate, chrono::NaiveTime) = sqlx::query_as(
        "SELECT tax_category, tax_percent_bp, service_code, issue_date, due_date, issue_time FROM invoices WHERE id = $1",
    )
    .bind(draft)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.0, "STANDARD_VAT");
    assert_eq!(row.1, Some(750));
    assert_eq!(row.2.as_deref(), Some("6920"));
    assert_eq!(row.4, row.3 + chrono::Days::new(7), "due from the payment terms");
    assert_eq!(row.5.to_string(), "14:30:05");
    let (status, payload, signature): (String, Value, Value) =
        sqlx::query_as("SELECT status, signed_payload, signature FROM invoices WHERE id = $1")
            .bind(sealed)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "SIGNED");
    assert_eq!(payload, json!({"amount": 107500}), "the seal's payload is kept");
    assert_eq!(signature["value"], "v");
    assert_eq!(
        count(&pool, "invoice_submissions").await,
        0,
        "no submission for what came before"
    );
}
