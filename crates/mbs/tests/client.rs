//! The MBS client against wiremock, with the exact bodies of `spec/MBS.md`: what each answer
//! becomes, which calls are retried, and that credentials travel as headers.

use std::time::Duration;

use chrono::NaiveDate;
use mbs::{
    Amount, InvoiceKind, InvoiceLine, Item, LegalMonetaryTotal, MbsClient, MbsConfig, MbsError, Party,
    PaymentStatus, PostalAddress, Price, TaxCategory, TaxSubtotal, TaxTotal,
};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer, timeout: Duration) -> MbsClient {
    MbsClient::new(MbsConfig {
        base_url: format!("{}/", server.uri()).parse().unwrap(),
        api_key: "key-123".to_owned().into(),
        api_secret: "secret-456".to_owned().into(),
        timeout,
        max_retries: 2,
    })
    .unwrap()
}

fn failure(handler: &str, details: Option<&str>, public: &str) -> serde_json::Value {
    let mut error =
        json!({"id": "5d6f3c2e-0000-4000-8000-000000000001", "handler": handler, "public_message": public});
    if let Some(d) = details {
        error["details"] = json!(d);
    }
    json!({"code": 400, "data": null, "message": "error has occurred", "error": error})
}

fn party(name: &str) -> Party {
    Party {
        party_name: name.into(),
        tin: "12345678-0001".into(),
        email: "billing@acme.ng".into(),
        telephone: "+2348012345678".into(),
        business_description: None,
        postal_address: PostalAddress {
            street_name: "1 Marina".into(),
            city_name: "Lagos".into(),
            postal_zone: None,
            country: "NG".into(),
            state: Some("NG-LA".into()),
            lga: None,
        },
    }
}

fn invoice() -> mbs::Invoice {
    let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    mbs::Invoice {
        business_id: "9e1f7c6a-1111-4222-8333-444455556666".into(),
        irn: "INV000001-94ND90NR-20261207".into(),
        issue_date: day,
        issue_time: "10:00:00".into(),
        due_date: day,
        tax_point_date: day,
        invoice_type_code: "381".into(),
        invoice_kind: InvoiceKind::B2B,
        payment_status: PaymentStatus::Pending,
        document_currency_code: "NGN".into(),
        tax_currency_code: "NGN".into(),
        note: None,
        billing_reference: Vec::new(),
        payment_means: Vec::new(),
        accounting_supplier_party: party("ACME LTD"),
        accounting_customer_party: Some(party("BETA LTD")),
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
            service_category: Some("Accounting".into()),
            hsn_code: None,
            product_category: None,
            invoiced_quantity: 1,
            line_extension_amount: Amount(100_000),
            item: Item {
                name: "Services".into(),
                description: "Services".into(),
                sellers_item_identification: "SVC".into(),
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

#[tokio::test]
async fn health_answers_its_bare_body_without_keys() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"healthy": true})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(client(&server, Duration::from_secs(2)).health().await.unwrap());
    let received = server.received_requests().await.unwrap();
    assert!(received[0].headers.get("x-api-key").is_none());
}

#[tokio::test]
async fn a_sign_carries_the_keys_and_mbs_field_names_and_reads_ok() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/invoice/sign"))
        .and(header("x-api-key", "key-123"))
        .and(header("x-api-secret", "secret-456"))
        .and(body_partial_json(json!({
            "irn": "INV000001-94ND90NR-20261207",
            "invoice_type_code": "381",
            "legal_monetary_total": {"payable_amount": 1075.0},
            "tax_total": [{"tax_subtotal": [{"tax_category": {"id": "STANDARD_VAT", "percent": 7.5}}]}],
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"code": 201, "data": {"ok": true}})))
        .expect(1)
        .mount(&server)
        .await;
    client(&server, Duration::from_secs(2))
        .sign(&invoice())
        .await
        .unwrap();
}

#[tokio::test]
async fn every_documented_refusal_becomes_its_own_error() {
    let server = MockServer::start().await;
    let c = client(&server, Duration::from_secs(2));
    let cases = [
        (
            failure("handler", None, "unable to validate api key"),
            MbsError::Credentials,
        ),
        (
            failure(
                "invoice_actions",
                Some("irn validation failed for this business, refer to the template and try again"),
                "",
            ),
            MbsError::IrnTemplate,
        ),
        (
            failure(
                "invoice_actions",
                Some("unable to complete this operation at this time, kindly try again later"),
                "",
            ),
            MbsError::DuplicateIrn,
        ),
    ];
    for (body, want) in cases {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/invoice/sign"))
            .respond_with(ResponseTemplate::new(400).set_body_json(body))
            // Never sent again on the text of a 400.
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(c.sign(&invoice()).await.unwrap_err(), want);
        server.verify().await;
    }
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/invoice/validate"))
        .respond_with(ResponseTemplate::new(400).set_body_json(failure(
            "invoice_actions",
            Some("invoicerequest.invoice.taxtotal[0].taxsubtotal[0].taxcategory.id must be a valid tax category, refer to the invoice resource apis"),
            "validation failed: we are unable to process your request. also confirm this is not a duplicate request",
        )))
        .mount(&server)
        .await;
    match c.validate(&invoice()).await.unwrap_err() {
        MbsError::Field { path, details } => {
            assert_eq!(path, "taxtotal[0].taxsubtotal[0].taxcategory.id");
            assert!(details.contains("must be a valid tax category"), "{details}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_route_and_an_unknown_irn_are_named() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/invoice/confirm/NOPE-1"))
        .respond_with(ResponseTemplate::new(400).set_body_json(failure(
            "invoice_actions",
            Some("invoice not found"),
            "",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": 404, "data": null,
            "message": "no route found for this path. kindly check your request and try again"})))
        .mount(&server)
        .await;
    let c = client(&server, Duration::from_secs(2));
    assert!(matches!(
        c.confirm("NOPE-1").await.unwrap_err(),
        MbsError::UnknownIrn { .. }
    ));
    // MBS's own 404 (no `error`) names the route, whatever the call was about.
    assert_eq!(
        c.update("INV1-X-20261207", PaymentStatus::Paid, None)
            .await
            .unwrap_err(),
        MbsError::NoRoute {
            path: "/api/v1/invoice/update/INV1-X-20261207".into()
        }
    );
    // A 404 that is not MBS's envelope at all is said to be unreadable, not a refusal.
    let resources = c.resources("no-such-list").await.unwrap_err();
    assert!(matches!(resources, MbsError::Decode(_)), "{resources:?}");
}

#[tokio::test]
async fn a_5xx_or_a_timeout_is_unavailable_retried_only_where_nothing_changes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/invoice/sign"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/invoice/confirm/INV1-X-20261207"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/invoice/resources/currencies"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let c = client(&server, Duration::from_millis(300));
    let sign = c.sign(&invoice()).await.unwrap_err();
    assert!(sign.outcome_unknown(), "{sign:?}");
    assert!(c.confirm("INV1-X-20261207").await.unwrap_err().outcome_unknown());
    let slow = c.resources("currencies").await.unwrap_err();
    assert!(
        matches!(slow, MbsError::TimedOut(ref t) if t.contains("timed out")),
        "{slow:?}"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_download_keeps_the_bytes_as_sent_and_a_429_asks_to_slow_down() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/invoice/download/INV1-X-20261207"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"%PDF-1.7 ...".to_vec(), "application/pdf"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/utilities/verify-tin/"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3"))
        .mount(&server)
        .await;
    let c = client(&server, Duration::from_secs(2));
    let d = c.download("INV1-X-20261207").await.unwrap();
    assert_eq!(&d.bytes[..], b"%PDF-1.7 ...");
    assert_eq!(d.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(d.sha256.len(), 64);
    assert_eq!(
        c.verify_tin("12345678-0001").await.unwrap_err(),
        MbsError::RateLimited {
            retry_after_secs: Some(3)
        }
    );
}
