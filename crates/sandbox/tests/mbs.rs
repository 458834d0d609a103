//! The MBS sandbox over loopback: the `mbs` client against every call, the refusals compared
//! field by field with the texts of `spec/MBS.md`, the client's classification of each, the
//! faults (a 503, a hang, a sign stored with its answer dropped and settled by `confirm`),
//! the log and counts, and the key material of `crypto_keys.txt`.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::NaiveDate;
use mbs::{
    Amount, Invoice, InvoiceKind, InvoiceLine, IrnCheck, Item, LegalMonetaryTotal, MbsClient, MbsError,
    Party, PaymentMeans, PaymentStatus, PostalAddress, Price, TaxCategory, TaxSubtotal, TaxTotal,
};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use sandbox::mbs::reply::{
    DUPLICATE_IRN, ERROR_MESSAGE, IRN_TEMPLATE, KEY_REFUSED, NO_ROUTE, NO_WEBHOOK, VALIDATION_FAILED,
};
use sandbox::mbs::state::{Business, NewBusiness};
use sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{json, Value};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn start() -> Result<SandboxHandle> {
    let config = SandboxConfig {
        customers: 1,
        transactions_per_account: 5,
        ..SandboxConfig::default()
    };
    Ok(Sandbox::start(config, "127.0.0.1:0".parse()?).await?)
}

async fn business(sandbox: &SandboxHandle, spec: NewBusiness) -> Result<Business> {
    let mbs = sandbox.state.mbs().clone();
    Ok(tokio::task::spawn_blocking(move || mbs.create_business(spec)).await??)
}

fn client(sandbox: &SandboxHandle, business: &Business) -> Result<MbsClient> {
    Ok(MbsClient::new(sandbox.mbs_client_config(business))?)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
}

fn party(name: &str, tin: &str) -> Party {
    Party {
        party_name: name.into(),
        tin: tin.into(),
        email: "accounts@example.ng".into(),
        telephone: "+2348012345678".into(),
        business_description: Some("Trading".into()),
        postal_address: PostalAddress {
            street_name: "12 Allen Avenue".into(),
            city_name: "Ikeja".into(),
            postal_zone: Some("100271".into()),
            country: "NG".into(),
            state: Some("NG-LA".into()),
            lga: Some("NG-LA-IKJ".into()),
        },
    }
}

/// A complete invoice of `b` numbered `number` (₦1,000 of tax consultancy plus 7.5% VAT).
fn invoice(b: &Business, number: &str) -> Invoice {
    Invoice {
        business_id: b.business_id.clone(),
        irn: format!("{number}-{}-20240611", b.service_id),
        issue_date: date("2024-06-11"),
        issue_time: "17:59:04".into(),
        due_date: date("2024-07-11"),
        tax_point_date: date("2024-06-11"),
        invoice_type_code: "381".into(),
        invoice_kind: InvoiceKind::B2B,
        payment_status: PaymentStatus::Pending,
        document_currency_code: "NGN".into(),
        tax_currency_code: "NGN".into(),
        note: Some("Sandbox invoice".into()),
        billing_reference: Vec::new(),
        payment_means: vec![PaymentMeans {
            payment_means_code: "30".into(),
            payment_due_date: date("2024-07-11"),
        }],
        accounting_supplier_party: party(&b.name, &b.tin),
        accounting_customer_party: Some(party("Adaeze Foods Limited", "98765432-0001")),
        tax_total: vec![TaxTotal {
            tax_amount: Amount(7_500),
            tax_subtotal: vec![TaxSubtotal {
                taxable_amount: Amount(100_000),
                tax_amount: Amount(7_500),
                tax_category: TaxCategory {
                    id: "STANDARD_VAT".into(),
                    percent: 7.5,
                },
            }],
        }],
        legal_monetary_total: LegalMonetaryTotal {
            line_extension_amount: Amount(100_000),
            tax_exclusive_amount: Amount(100_000),
            tax_inclusive_amount: Amount(107_500),
            payable_amount: Amount(107_500),
        },
        invoice_line: vec![InvoiceLine {
            isic_code: Some("6920".into()),
            service_category: Some("Tax consultancy".into()),
            hsn_code: None,
            product_category: None,
            invoiced_quantity: 1,
            line_extension_amount: Amount(100_000),
            item: Item {
                name: "VAT filing".into(),
                description: "Monthly VAT return".into(),
                sellers_item_identification: "SVC-0001".into(),
            },
            price: Price {
                price_amount: Amount(100_000),
                base_quantity: 1,
                price_unit: "EA".into(),
            },
            discount_rate: None,
            discount_amount: None,
            fee_rate: None,
            fee_amount: None,
        }],
    }
}

/// A raw call with `business`'s key (or none), answering the status and the JSON body.
async fn raw(
    sandbox: &SandboxHandle,
    method: reqwest::Method,
    path: &str,
    business: Option<&Business>,
    body: Option<&[u8]>,
) -> Result<(u16, Value, Vec<u8>)> {
    let url = sandbox.base_url.join(path.trim_start_matches('/'))?;
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(b) = business {
        request = request
            .header("x-api-key", &b.api_key)
            .header("x-api-secret", &b.api_secret);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_vec());
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?.to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, json, bytes))
}

/// Checks MBS's failure envelope: status = code, the message, handler, public message, a
/// UUID id, and `details` (absent when `None`).
fn assert_failure(status: u16, body: &Value, handler: &str, details: Option<&str>, public: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 400, "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["message"], ERROR_MESSAGE, "{body}");
    let error = &body["error"];
    assert!(
        uuid::Uuid::parse_str(error["id"].as_str().unwrap_or_default()).is_ok(),
        "{body}"
    );
    assert_eq!(error["handler"], handler, "{body}");
    assert_eq!(error["public_message"], public, "{body}");
    match details {
        Some(d) => assert_eq!(error["details"], d, "{body}"),
        None => assert!(error.get("details").is_none_or(Value::is_null), "{body}"),
    }
}

#[tokio::test]
async fn the_client_makes_every_call_against_the_sandbox() -> Result {
    let sandbox = start().await?;
    let b = business(&sandbox, NewBusiness::default()).await?;
    let mbs = client(&sandbox, &b)?;

    assert!(mbs.health().await?);
    for name in mbs::types::RESOURCES {
        assert!(!mbs.resources(name).await?.is_empty(), "{name}");
    }
    let categories = mbs.resources("tax-categories").await?;
    assert!(categories
        .iter()
        .any(|c| c["code"] == "STANDARD_VAT" && c["percent"] == "7.5"));

    let inv = invoice(&b, "INV001");
    mbs.validate_irn(&IrnCheck {
        business_id: b.business_id.clone(),
        invoice_reference: "INV-001".into(),
        irn: inv.irn.clone(),
    })
    .await?;
    mbs.validate(&inv).await?;
    mbs.sign(&inv).await?;

    let confirmed = mbs.confirm(&inv.irn).await?;
    assert_eq!(confirmed.issue_date.as_deref(), Some("2024-06-11"));
    assert_eq!(confirmed.due_date.as_deref(), Some("2024-07-11"));
    assert_eq!(confirmed.payment_status.as_deref(), Some("PENDING"));
    assert!(confirmed.sync_date.is_some());
    assert!(!confirmed.transmitted && !confirmed.delivered);

    mbs.update(&inv.irn, PaymentStatus::Paid, Some("NIP-0001"))
        .await?;
    assert_eq!(
        mbs.confirm(&inv.irn).await?.payment_status.as_deref(),
        Some("PAID")
    );
    let stored = sandbox.state.mbs().invoice(&inv.irn).ok_or("not stored")?;
    assert_eq!(stored.payment_reference.as_deref(), Some("NIP-0001"));

    let download = mbs.download(&inv.irn).await?;
    assert_eq!(download.content_type.as_deref(), Some("application/json"));
    let sent: Value = serde_json::from_slice(&download.bytes)?;
    assert_eq!(sent, serde_json::to_value(&inv)?);
    assert_eq!(download.sha256.len(), 64);

    mbs.transmit(&inv.irn).await?;
    let confirmed = mbs.confirm(&inv.irn).await?;
    assert!(confirmed.transmitted && confirmed.delivered);

    let taxpayer = mbs.verify_tin("98765432-0001").await?;
    assert_eq!(taxpayer.taxpayer_name.as_deref(), Some("Adaeze Foods Limited"));
    assert!(taxpayer.rc_number.is_some() && taxpayer.taxpayer_type.is_some());

    // A B2C invoice without a buyer party is complete.
    let mut b2c = invoice(&b, "INV002");
    b2c.invoice_kind = InvoiceKind::B2C;
    b2c.accounting_customer_party = None;
    mbs.sign(&b2c).await?;
    // A credit note names the invoice it credits.
    let mut credit = invoice(&b, "CN001");
    credit.invoice_type_code = "380".into();
    assert!(
        matches!(mbs.validate(&credit).await, Err(MbsError::Field { path, .. }) if path == "billingreference")
    );
    credit.billing_reference = vec![mbs::BillingReference {
        irn: inv.irn.clone(),
        issue_date: inv.issue_date,
    }];
    mbs.sign(&credit).await?;
    sandbox.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn refusals_carry_mbs_envelopes_and_texts() -> Result {
    let sandbox = start().await?;
    let b = business(&sandbox, NewBusiness::default()).await?;
    let inv = serde_json::to_value(invoice(&b, "INV001"))?;
    let post = reqwest::Method::POST;

    // A missing field, named in MBS's spelling.
    let mut missing = inv.clone();
    if let Some(address) = missing["accounting_supplier_party"]["postal_address"].as_object_mut() {
        address.remove("city_name");
    }
    let (status, body, _) = raw(
        &sandbox,
        post.clone(),
        "/api/v1/invoice/validate",
        Some(&b),
        Some(&serde_json::to_vec(&missing)?),
    )
    .await?;
    assert_failure(
        status,
        &body,
        "invoice_actions",
        Some("invoicerequest.invoice.accountingsupplierparty.postaladdress.cityname is required"),
        VALIDATION_FAILED,
    );

    // The spec's own example.
    let mut category = inv.clone();
    category["tax_total"][0]["tax_subtotal"][0]["tax_category"]["id"] = json!("VAT");
    let (status, body, _) = raw(
        &sandbox,
        post.clone(),
        "/api/v1/invoice/sign",
        Some(&b),
        Some(&serde_json::to_vec(&category)?),
    )
    .await?;
    assert_failure(
        status,
        &body,
        "invoice_actions",
        Some("invoicerequest.invoice.taxtotal[0].taxsubtotal[0].taxcategory.id must be a valid tax category, refer to the invoice resource apis"),
        VALIDATION_FAILED,
    );

    // An IRN off the business's template, in the invoice and at irn/validate.
    let mut template = inv.clone();
    template["irn"] = json!("INV001-ABCDEFGH-20240611");
    let (status, body, _) = raw(
        &sandbox,
        post.clone(),
        "/api/v1/invoice/validate",
        Some(&b),
        Some(&serde_json::to_vec(&template)?),
    )
    .await?;
    assert_failure(
        status,
        &body,
        "invoice_actions",
        Some(IRN_TEMPLATE),
        VALIDATION_FAILED,
    );
    let check = json!({"business_id": b.business_id, "invoice_reference": "INV-002", "irn": inv["irn"]});
    let (status, body, _) = raw(
        &sandbox,
        post.clone(),
        "/api/v1/invoice/irn/validate",
        Some(&b),
        Some(&serde_json::to_vec(&check)?),
    )
    .await?;
    assert_failure(
        status,
        &body,
        "invoice_actions",
        Some(IRN_TEMPLATE),
        VALIDATION_FAILED,
    );

    // A duplicate sign.
    let bytes = serde_json::to_vec(&inv)?;
    let (status, body, _) = raw(
        &sandbox,
        post.clone(),
        "/api/v1/invoice/sign",
        Some(&b),
        Some(&bytes),
    )
    .await?;
    assert_eq!(
        (status, &body),
        (201, &json!({"code": 201, "data": {"ok": true}}))
    );
    let (status, body, _) = raw(
        &sandbox,
        post.clone(),
        "/api/v1/invoice/sign",
        Some(&b),
        Some(&bytes),
    )
    .await?;
    assert_failure(
        status,
        &body,
        "invoice_actions",
        Some(DUPLICATE_IRN),
        VALIDATION_FAILED,
    );

    // A bad key, and none: 400, handler "handler", no details.
    let mut wrong = b.clone();
    wrong.api_secret = "not-the-secret".into();
    let (status, body, _) = raw(
        &sandbox,
        post.clone(),
        "/api/v1/invoice/sign",
        Some(&wrong),
        Some(&bytes),
    )
    .await?;
    assert_failure(status, &body, "handler", None, KEY_REFUSED);
    let (status, body, _) = raw(
        &sandbox,
        reqwest::Method::GET,
        "/api/v1/invoice/confirm/X",
        None,
        None,
    )
    .await?;
    assert_failure(status, &body, "handler", None, KEY_REFUSED);

    // Unknown routes, methods and resources: the bare 404, byte for byte.
    let expected = format!(r#"{{"code":404,"data":null,"message":"{NO_ROUTE}"}}"#);
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/nope"),
        (reqwest::Method::GET, "/api/v1/invoice/sign"),
        (reqwest::Method::GET, "/api/v1/invoice/resources/nope"),
        (reqwest::Method::DELETE, "/api"),
        (reqwest::Method::GET, "/api/"),
    ] {
        let (status, _, bytes) = raw(&sandbox, method, path, Some(&b), None).await?;
        assert_eq!(status, 404, "{path}");
        assert_eq!(String::from_utf8(bytes)?, expected, "{path}");
    }

    // Health needs no key; a body that is not JSON gets the envelope.
    let (status, body, _) = raw(&sandbox, reqwest::Method::GET, "/api", None, None).await?;
    assert_eq!((status, body), (200, json!({"healthy": true})));
    let (status, body, _) = raw(
        &sandbox,
        post,
        "/api/v1/invoice/validate",
        Some(&b),
        Some(b"{not json"),
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["handler"], "invoice_actions");
    assert!(body["error"]["details"]
        .as_str()
        .is_some_and(|d| d.starts_with("unable to parse the request body")));
    sandbox.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_client_tells_every_refusal_apart() -> Result {
    let sandbox = start().await?;
    let b = business(&sandbox, NewBusiness::default()).await?;
    let other = business(
        &sandbox,
        NewBusiness {
            webhook_url_set: Some(false),
            ..NewBusiness::default()
        },
    )
    .await?;
    let mbs = client(&sandbox, &b)?;

    let mut bad = invoice(&b, "INV001");
    bad.tax_total[0].tax_subtotal[0].tax_category.id = "VAT".into();
    match mbs.validate(&bad).await {
        Err(MbsError::Field { path, details }) => {
            assert_eq!(path, "taxtotal[0].taxsubtotal[0].taxcategory.id");
            assert!(details.ends_with("refer to the invoice resource apis"));
        }
        other => panic!("{other:?}"),
    }
    let mut off_template = invoice(&b, "INV001");
    off_template.irn = "INV-001-X".into();
    assert_eq!(mbs.sign(&off_template).await, Err(MbsError::IrnTemplate));
    assert_eq!(
        mbs.validate_irn(&IrnCheck {
            business_id: other.business_id.clone(),
            invoice_reference: "INV001".into(),
            irn: format!("INV001-{}-20240611", b.service_id),
        })
        .await,
        Err(MbsError::IrnTemplate)
    );

    let inv = invoice(&b, "INV001");
    mbs.sign(&inv).await?;
    assert_eq!(mbs.sign(&inv).await, Err(MbsError::DuplicateIrn));

    let stranger = client(&sandbox, &other)?;
    // Another business's IRN is unknown to it.
    assert!(matches!(
        stranger.confirm(&inv.irn).await,
        Err(MbsError::UnknownIrn { .. })
    ));
    for result in [
        mbs.update("NOPE-00000000-20240611", PaymentStatus::Paid, None)
            .await,
        mbs.transmit("NOPE-00000000-20240611").await,
        mbs.download("NOPE-00000000-20240611").await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(MbsError::UnknownIrn { .. })), "{result:?}");
    }
    // Transmit without a webhook URL.
    let theirs = invoice(&other, "INV009");
    stranger.sign(&theirs).await?;
    // A refusal about the integrator's setup, not an unknown IRN.
    match stranger.transmit(&theirs.irn).await {
        Err(MbsError::Refused { status: 400, details }) => assert_eq!(details, NO_WEBHOOK),
        other => panic!("{other:?}"),
    }

    let mut config = sandbox.mbs_client_config(&b);
    config.api_secret = "wrong".to_owned().into();
    let refused = MbsClient::new(config)?;
    assert_eq!(refused.sign(&inv).await, Err(MbsError::Credentials));
    assert_eq!(refused.confirm(&inv.irn).await, Err(MbsError::Credentials));
    assert!(matches!(
        mbs.resources("nope").await,
        Err(MbsError::NoRoute { .. })
    ));
    assert!(matches!(
        mbs.verify_tin("00000000-0000").await,
        Err(MbsError::Refused { status: 400, .. })
    ));
    sandbox.shutdown().await?;
    Ok(())
}

async fn add_fault(sandbox: &SandboxHandle, fault: Value) -> Result {
    let url = sandbox.base_url.join("_sandbox/mbs/faults")?;
    let response = reqwest::Client::new().post(url).json(&fault).send().await?;
    assert_eq!(response.status(), 201, "{}", response.text().await?);
    Ok(())
}

#[tokio::test]
async fn a_503_is_unavailable_and_nothing_is_stored() -> Result {
    let sandbox = start().await?;
    let b = business(&sandbox, NewBusiness::default()).await?;
    let mbs = client(&sandbox, &b)?;
    add_fault(
        &sandbox,
        json!({"kind": "status", "status": 503, "times": 1, "path": "/api/v1/invoice/sign", "retry_after_secs": 2}),
    )
    .await?;
    let inv = invoice(&b, "INV001");
    let error = mbs.sign(&inv).await.err().ok_or("the sign went through")?;
    assert!(matches!(error, MbsError::Unavailable(_)), "{error:?}");
    assert!(error.outcome_unknown());
    // Settled by asking: nothing was stored, so it may be signed.
    assert!(matches!(
        mbs.confirm(&inv.irn).await,
        Err(MbsError::UnknownIrn { .. })
    ));
    mbs.sign(&inv).await?;
    assert!(mbs.confirm(&inv.irn).await.is_ok());
    sandbox.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_sign_stored_with_its_answer_dropped_is_settled_by_confirm() -> Result {
    let sandbox = start().await?;
    let b = business(&sandbox, NewBusiness::default()).await?;
    let mut config = sandbox.mbs_client_config(&b);
    config.timeout = Duration::from_secs(2);
    let mbs = MbsClient::new(config)?;
    add_fault(
        &sandbox,
        json!({"kind": "drop_after_store", "path": "/api/v1/invoice/sign", "times": 1}),
    )
    .await?;
    let inv = invoice(&b, "INV001");
    let error = mbs.sign(&inv).await.err().ok_or("the answer was not dropped")?;
    assert!(error.outcome_unknown(), "{error:?}");
    // The submission happened: confirm says so, and signing again is a duplicate.
    let confirmed = mbs.confirm(&inv.irn).await?;
    assert_eq!(confirmed.payment_status.as_deref(), Some("PENDING"));
    assert_eq!(mbs.sign(&inv).await, Err(MbsError::DuplicateIrn));

    let log = sandbox.state.mbs().log();
    let signs: Vec<_> = log.iter().filter(|e| e.path == "/api/v1/invoice/sign").collect();
    assert_eq!(signs.len(), 2);
    assert_eq!((signs[0].status, signs[0].answered), (Some(201), false));
    assert_eq!((signs[1].status, signs[1].answered), (Some(400), true));
    sandbox.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_hang_times_the_client_out_and_latency_delays_it() -> Result {
    let sandbox = start().await?;
    let b = business(&sandbox, NewBusiness::default()).await?;
    let mut config = sandbox.mbs_client_config(&b);
    config.timeout = Duration::from_millis(500);
    let mbs = MbsClient::new(config)?;
    add_fault(
        &sandbox,
        json!({"kind": "hang", "path": "/api/v1/invoice/confirm", "times": 1}),
    )
    .await?;
    let error = mbs.confirm("INV001-X-20240611").await.err().ok_or("answered")?;
    assert!(matches!(error, MbsError::TimedOut(_)), "{error:?}");
    add_fault(
        &sandbox,
        json!({"kind": "latency", "ms": 150, "path": "/api", "times": 1}),
    )
    .await?;
    let started = std::time::Instant::now();
    assert!(mbs.health().await?);
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Rules that ran out stay listed with nothing left.
    let url = sandbox.base_url.join("_sandbox/mbs/faults")?;
    let rules: Vec<Value> = reqwest::get(url).await?.json().await?;
    assert_eq!(rules.len(), 2);
    assert!(rules.iter().all(|r| r["remaining"] == 0));
    sandbox.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_log_and_the_counts_record_every_call() -> Result {
    let sandbox = start().await?;
    let b = business(&sandbox, NewBusiness::default()).await?;
    let mbs = client(&sandbox, &b)?;
    let inv = invoice(&b, "INV001");
    mbs.validate(&inv).await?;
    assert!(mbs.health().await?);
    let _ = mbs.confirm("NOPE-00000000-20240611").await;

    let url = sandbox.base_url.join("_sandbox/mbs/log")?;
    let log: Vec<Value> = reqwest::get(url.clone()).await?.json().await?;
    assert_eq!(log.len(), 3, "{log:?}");
    let validate = &log[0];
    assert_eq!(validate["method"], "POST");
    assert_eq!(validate["path"], "/api/v1/invoice/validate");
    assert_eq!(validate["status"], 201);
    assert_eq!(validate["body"], serde_json::to_value(&inv)?);
    assert_eq!(validate["api_key_present"], true);
    assert_eq!(validate["api_secret_present"], true);
    let shown = validate["headers"].to_string();
    assert!(!shown.contains(&b.api_key) && !shown.contains(&b.api_secret));
    assert_eq!(log[1]["api_key_present"], false);
    assert_eq!(log[2]["status"], 400);

    let calls: Value = reqwest::get(sandbox.base_url.join("_sandbox/mbs/calls")?)
        .await?
        .json()
        .await?;
    assert_eq!(calls["requests"], 3);
    let per_second: u64 = calls["seconds"]
        .as_array()
        .ok_or("no seconds")?
        .iter()
        .filter_map(|s| s["requests"].as_u64())
        .sum();
    assert_eq!(per_second, 3);

    let cleared: Value = reqwest::Client::new()
        .delete(url.clone())
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(cleared["cleared"], 3);
    assert!(sandbox.state.mbs().log().is_empty());
    // A method a route does not serve passes the gate too, and answers MBS's 404.
    let (status, _, _) = raw(&sandbox, reqwest::Method::GET, "/api/v1/invoice/sign", None, None).await?;
    assert_eq!(status, 404);
    let log = sandbox.state.mbs().log();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].method.as_str(), log[0].status), ("GET", Some(404)));
    assert_eq!(sandbox.state.mbs().calls().requests, 4);
    sandbox.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_business_made_over_http_has_keys_that_match() -> Result {
    let sandbox = start().await?;
    let http = reqwest::Client::new();
    let created = http
        .post(sandbox.base_url.join("_sandbox/mbs/businesses")?)
        .json(&json!({"name": "Kano Textiles", "tin": "55555555-0001"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    let b: Value = created.json().await?;
    let id = b["business_id"].as_str().ok_or("no id")?;
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let service = b["service_id"].as_str().ok_or("no service id")?;
    assert!(
        service.len() == 8
            && service
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    assert!(b["api_key"].is_string() && b["api_secret"].is_string());

    let file = http
        .get(
            sandbox
                .base_url
                .join(&format!("_sandbox/mbs/businesses/{id}/crypto_keys.txt"))?,
        )
        .send()
        .await?
        .bytes()
        .await?;
    let file: Value = serde_json::from_slice(&file)?;
    assert_eq!(file, b["crypto_keys"]);
    assert_eq!(file.as_object().map(|o| o.len()), Some(2));
    let pem = String::from_utf8(STANDARD.decode(file["public_key"].as_str().ok_or("no key")?)?)?;
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let public = RsaPublicKey::from_public_key_pem(&pem)?;
    assert!(!STANDARD
        .decode(file["certificate"].as_str().ok_or("no certificate")?)?
        .is_empty());

    let again: Value = http
        .get(sandbox.base_url.join(&format!("_sandbox/mbs/businesses/{id}"))?)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(again, b);
    let private = RsaPrivateKey::from_pkcs8_pem(again["private_key_pem"].as_str().ok_or("no private key")?)?;
    let message = br#"{"irn":"INV001-94ND90NR-20240611.1718128744","certificate":"x"}"#;
    let sealed = public.encrypt(&mut rand::thread_rng(), Pkcs1v15Encrypt, message)?;
    assert_eq!(private.decrypt(Pkcs1v15Encrypt, &sealed)?, message);

    // The business it made signs through the client.
    let business: Business = serde_json::from_value(again)?;
    let mbs = client(&sandbox, &business)?;
    let inv = invoice(&business, "INV001");
    mbs.sign(&inv).await?;
    let stored: Value = http
        .get(
            sandbox
                .base_url
                .join(&format!("_sandbox/mbs/invoices/{}", inv.irn))?,
        )
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(stored["invoice"], serde_json::to_value(&inv)?);
    assert_eq!(stored["payment_status"], "PENDING");
    // A sandbox business is a taxpayer verify-tin knows.
    let taxpayer = mbs.verify_tin("55555555-0001").await?;
    assert_eq!(taxpayer.tin, "55555555-0001");
    assert_eq!(taxpayer.taxpayer_name.as_deref(), Some("Kano Textiles"));

    // The demo business is made once, with fixed credentials.
    let demo: Value = http
        .post(sandbox.base_url.join("_sandbox/mbs/businesses/demo")?)
        .send()
        .await?
        .json()
        .await?;
    let demo_again = sandbox.state.mbs().demo_business()?;
    assert_eq!(demo["api_key"], demo_again.api_key);
    assert_eq!(
        demo["crypto_keys"],
        serde_json::to_value(&demo_again.crypto_keys)?
    );
    assert!(client(&sandbox, &demo_again)?
        .verify_tin("12345678-0001")
        .await
        .is_ok());
    sandbox.shutdown().await?;
    Ok(())
}
