//! The service's side of the e-invoicing platform: MBS's code lists kept in PostgreSQL and
//! served at `GET /si/mbs/resources/{name}` (fetched once, refreshed when a day old, still
//! served when MBS is down), and an organization's crypto keys at `/si/org/crypto-keys`
//! (checked, sealed with `DATA_ENCRYPTION_KEY`, shown by fingerprint only). MBS is a
//! wiremock here; the MBS sandbox has tests of its own.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use reqwest::Method;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sqlx::PgPool;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const TAX_CATEGORIES: &str = "/api/v1/invoice/resources/tax-categories";

fn tax_categories() -> Value {
    json!({"code": 200, "data": [
        {"code": "STANDARD_VAT", "value": "Standard Value-Added Tax", "percent": "7.5"},
        {"code": "ZERO_VAT", "value": "Zero Value-Added Tax", "percent": "0.0"},
        {"code": "EXEMPTED", "value": "Exempted", "percent": "0.0"}
    ]})
}

async fn mbs_with_lists() -> MockServer {
    let mbs = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TAX_CATEGORIES))
        .respond_with(ResponseTemplate::new(200).set_body_json(tax_categories()))
        .mount(&mbs)
        .await;
    mbs
}

async fn app_with(pool: PgPool, mbs: &MockServer) -> TestApp {
    TestApp::builder(pool)
        .mbs(&mbs.uri(), "test-key", "test-secret")
        .start()
        .await
}

async fn calls_to(mbs: &MockServer, path: &str) -> usize {
    mbs.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == path)
        .count()
}

#[sqlx::test]
async fn a_list_is_fetched_once_then_served_from_the_cache(pool: PgPool) {
    let mbs = mbs_with_lists().await;
    let app = app_with(pool.clone(), &mbs).await;

    let list: Value = app.get("/si/mbs/resources/tax-categories").await;
    assert_eq!(list["name"], "tax-categories");
    assert_eq!(list["stale"], false);
    assert_eq!(list["items"], tax_categories()["data"]);
    let again: Value = app.get("/si/mbs/resources/tax-categories").await;
    assert_eq!(again["items"], list["items"]);
    assert_eq!(again["fetchedAt"], list["fetchedAt"]);
    assert_eq!(
        calls_to(&mbs, TAX_CATEGORIES).await,
        1,
        "the second answer came from the cache"
    );
    assert_eq!(count(&pool, "mbs_resources").await, 1);

    // Resource lists need no key at MBS; the service sends none for them.
    let requests = mbs.received_requests().await.unwrap_or_default();
    assert!(requests.iter().all(|r| !r.headers.contains_key("x-api-secret")));
}

#[sqlx::test]
async fn an_unknown_list_is_404_and_mbs_is_not_asked(pool: PgPool) {
    let mbs = mbs_with_lists().await;
    let app = app_with(pool, &mbs).await;
    let (status, body) = app.get_raw("/si/mbs/resources/vat-rates").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["message"].as_str().unwrap().contains("tax-categories"),
        "{body}"
    );
    assert!(mbs.received_requests().await.unwrap_or_default().is_empty());
}

#[sqlx::test]
async fn a_list_never_fetched_needs_mbs_and_says_so_when_it_is_down(pool: PgPool) {
    let mbs = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&mbs)
        .await;
    let app = app_with(pool.clone(), &mbs).await;
    let (status, body) = app.get_raw("/si/mbs/resources/currencies").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "mbs_unavailable");
    assert_eq!(count(&pool, "mbs_resources").await, 0);
}

#[sqlx::test]
async fn without_mbs_configured_a_list_never_fetched_is_503_naming_the_setting(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let (status, body) = app.get_raw("/si/mbs/resources/currencies").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "mbs_not_configured");
    assert!(
        body["message"].as_str().unwrap().contains("MBS_BASE_URL"),
        "{body}"
    );
}

#[sqlx::test]
async fn a_day_old_list_is_served_stale_while_mbs_is_down_and_refreshed_when_it_is_back(pool: PgPool) {
    let mbs = mbs_with_lists().await;
    let app = app_with(pool.clone(), &mbs).await;
    let first: Value = app.get("/si/mbs/resources/tax-categories").await;

    // A day and a bit later, MBS is down.
    sqlx::query(
        "UPDATE mbs_resources SET fetched_at = fetched_at - interval '25 hours', attempted_at = attempted_at - interval '25 hours'",
    )
    .execute(&pool)
    .await
    .unwrap();
    mbs.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&mbs)
        .await;
    let stale: Value = app.get("/si/mbs/resources/tax-categories").await;
    assert_eq!(stale["stale"], true);
    assert_eq!(
        stale["items"], first["items"],
        "the last list MBS sent is still served"
    );
    // The background refresh the stale answer set off failed, and says why.
    let error: String = wait_for("the failed refresh recorded", Duration::from_secs(20), || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT last_error FROM mbs_resources WHERE name = 'tax-categories'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    })
    .await;
    assert!(error.contains("502"), "{error}");

    // MBS is back with a longer list; the next refresh (another replica's, or the hourly
    // one, once the failed attempt is ten minutes old) stores it.
    mbs.reset().await;
    let mut longer = tax_categories();
    longer["data"]
        .as_array_mut()
        .unwrap()
        .push(json!({"code": "REDUCED_VAT", "value": "Reduced", "percent": "Not Available"}));
    Mock::given(method("GET"))
        .and(path(TAX_CATEGORIES))
        .respond_with(ResponseTemplate::new(200).set_body_json(longer.clone()))
        .mount(&mbs)
        .await;
    sqlx::query("UPDATE mbs_resources SET attempted_at = attempted_at - interval '11 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let state = TestApp::builder(pool.clone())
        .mbs(&mbs.uri(), "test-key", "test-secret")
        .application()
        .await;
    let stored = taxpoynt_mono::services::mbs_resources::refresh_due(state.state()).await;
    assert!(stored >= 1, "the due list was stored");
    let fresh: Value = app.get("/si/mbs/resources/tax-categories").await;
    assert_eq!(fresh["stale"], false);
    assert_eq!(fresh["items"], longer["data"]);
    let error: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM mbs_resources WHERE name = 'tax-categories'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(error, None);
}

/// A `crypto_keys.txt` as MBS issues it, with a new RSA-2048 key; its certificate.
fn key_file() -> (Vec<u8>, String) {
    let file = crypto_keys_file();
    let certificate = serde_json::from_slice::<Value>(&file).unwrap()["certificate"]
        .as_str()
        .unwrap()
        .to_owned();
    (file, certificate)
}

async fn put_keys(app: &TestApp, file: &[u8]) -> RawResponse {
    let bearer = app.bearer();
    app.raw(
        Method::PUT,
        "/si/org/crypto-keys",
        &[("authorization", &bearer), ("content-type", "application/json")],
        file.to_vec(),
    )
    .await
}

#[sqlx::test]
async fn crypto_keys_are_stored_sealed_and_shown_by_fingerprint_only(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let absent: Value = app.get("/si/org/crypto-keys").await;
    assert_eq!(absent, json!({"present": false}));

    let (file, certificate) = key_file();
    let resp = put_keys(&app, &file).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let uploaded = resp.json()["data"].clone();
    let fingerprint = uploaded["fingerprint"].as_str().unwrap().to_owned();
    assert!(
        fingerprint.starts_with("sha256:") && fingerprint.len() == 7 + 64,
        "{fingerprint}"
    );
    assert_eq!(uploaded.as_object().unwrap().len(), 2, "{uploaded}");

    let present: Value = app.get("/si/org/crypto-keys").await;
    assert_eq!(present["present"], true);
    assert_eq!(present["fingerprint"], fingerprint);
    assert_eq!(present["uploadedAt"], uploaded["uploadedAt"]);
    assert!(
        !present.to_string().contains(&certificate),
        "the keys are never answered back"
    );

    // A dump of the table shows neither the key nor the certificate.
    let (sealed, nonce): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT sealed, nonce FROM org_crypto_keys WHERE org_id = $1")
            .bind(app.tenant.org_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(nonce.len(), 12);
    let dump = String::from_utf8_lossy(&sealed);
    assert!(!dump.contains(&certificate) && !dump.contains("public_key") && !dump.contains("LS0tLS1"));

    // The service opens them again, as the QR codes will need.
    let application = app.replica().application().await;
    let tenant = taxpoynt_mono::tenancy::Tenant::system(
        app.tenant.org_id,
        app.tenant.environments[0].id,
        taxpoynt_mono::tenancy::EnvName::Sandbox,
    );
    let keys = taxpoynt_mono::services::crypto_keys::load(application.state(), &tenant)
        .await
        .expect("the keys open");
    assert_eq!(keys.fingerprint(), fingerprint);
    assert_eq!(keys.certificate(), certificate);

    // A second upload replaces the first.
    let (other, _) = key_file();
    let resp = put_keys(&app, &other).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_ne!(resp.json()["data"]["fingerprint"], fingerprint);
    assert_eq!(count(&pool, "org_crypto_keys").await, 1);
}

#[sqlx::test]
async fn a_bad_key_file_is_refused_naming_the_field_and_keeps_what_was_stored(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let (file, _) = key_file();
    assert_eq!(put_keys(&app, &file).await.status, 200);
    let before: Value = app.get("/si/org/crypto-keys").await;

    let small = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let small_pem = small.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "crypto_keys"),
        (b"[]".to_vec(), "crypto_keys"),
        (
            json!({"certificate": "Y2VydA=="}).to_string().into_bytes(),
            "public_key",
        ),
        (
            json!({"public_key": "%%%", "certificate": "Y2VydA=="})
                .to_string()
                .into_bytes(),
            "public_key",
        ),
        (
            json!({"public_key": BASE64.encode(small_pem), "certificate": "Y2VydA=="})
                .to_string()
                .into_bytes(),
            "public_key",
        ),
        (
            {
                let mut v: Value = serde_json::from_slice(&file).unwrap();
                v.as_object_mut().unwrap().remove("certificate");
                v.to_string().into_bytes()
            },
            "certificate",
        ),
    ];
    for (body, field) in cases {
        let resp = put_keys(&app, &body).await;
        let answer = resp.json();
        assert_eq!(resp.status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_request");
        assert!(answer["error"]["fields"][field].is_string(), "{field}: {answer}");
        assert!(
            !answer.to_string().contains("not json"),
            "the input is not echoed: {answer}"
        );
    }
    let after: Value = app.get("/si/org/crypto-keys").await;
    assert_eq!(after, before, "a refused upload changes nothing");
}

#[sqlx::test]
async fn without_a_data_encryption_key_crypto_keys_are_refused_not_stored_in_the_clear(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .data_encryption_key(None)
        .start()
        .await;
    let (file, _) = key_file();
    let resp = put_keys(&app, &file).await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.json()["error"]["code"], "encryption_key_missing");
    assert!(resp.text().contains("DATA_ENCRYPTION_KEY"));
    assert_eq!(count(&pool, "org_crypto_keys").await, 0);
}

#[sqlx::test]
async fn keys_sealed_under_another_data_key_are_reported_not_garbled(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let (file, _) = key_file();
    assert_eq!(put_keys(&app, &file).await.status, 200);
    let other = TestApp::builder(pool.clone())
        .tenant(app.tenant.clone())
        .data_encryption_key(Some(&[7u8; 32]))
        .application()
        .await;
    let tenant = taxpoynt_mono::tenancy::Tenant::system(
        app.tenant.org_id,
        app.tenant.environments[0].id,
        taxpoynt_mono::tenancy::EnvName::Sandbox,
    );
    let err = taxpoynt_mono::services::crypto_keys::load(other.state(), &tenant)
        .await
        .expect_err("another key cannot open them");
    assert_eq!(err.code(), "crypto_keys_unreadable");
}

#[sqlx::test]
async fn one_organization_does_not_see_anothers_keys(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let (file, _) = key_file();
    assert_eq!(put_keys(&app, &file).await.status, 200);
    let other_org = tenants::create_tenant(&pool, "Another Org").await.unwrap();
    let other = app.replica().tenant(other_org).start().await;
    let seen: Value = other.get("/si/org/crypto-keys").await;
    assert_eq!(seen, json!({"present": false}));
}

/// The crypto keys MBS's sandbox issued its demo business, uploaded as the dashboard would,
/// make a QR code that reads back from the PNG, decrypts with the business's private key, and
/// holds the IRN with a timestamp of now and the business's certificate.
#[sqlx::test]
async fn a_qr_made_with_the_uploaded_keys_decrypts_with_the_business_private_key(pool: PgPool) {
    use rsa::pkcs8::DecodePrivateKey;
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let business = s.mbs_business().await;
    let resp = put_keys(&s.app, &business.crypto_keys_txt()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    let application = s.replica().application().await;
    let tenant = taxpoynt_mono::tenancy::Tenant::system(
        s.app.tenant.org_id,
        s.app.tenant.environments[0].id,
        taxpoynt_mono::tenancy::EnvName::Sandbox,
    );
    let keys = taxpoynt_mono::services::crypto_keys::load(application.state(), &tenant)
        .await
        .expect("the uploaded keys open");
    let irn = format!("INV001-{}-20261207", business.service_id);
    let now = chrono::Utc::now().timestamp();
    let qr = mbs::InvoiceQr::make(&keys, &irn, now, &mut rand::thread_rng()).expect("a QR code");

    let image = image::load_from_memory(&qr.png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, text) = grids[0].decode().expect("the QR decodes");
    assert_eq!(text, qr.text);

    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&business.private_key_pem).expect("the business's key");
    let plain = private
        .decrypt(rsa::Pkcs1v15Encrypt, &BASE64.decode(&text).expect("base64"))
        .expect("decrypts with the business's private key");
    let payload: Value = serde_json::from_slice(&plain).expect("JSON");
    let (qr_irn, stamp) = payload["irn"].as_str().unwrap().rsplit_once('.').unwrap();
    assert_eq!(qr_irn, irn);
    assert!((stamp.parse::<i64>().unwrap() - chrono::Utc::now().timestamp()).abs() <= 1);
    assert_eq!(payload["certificate"], business.crypto_keys.certificate);
    assert_eq!(payload.as_object().unwrap().len(), 2);
}
