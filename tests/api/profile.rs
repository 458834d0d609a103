//! The organization profile (`/si/org/profile`): a full round trip, `null` clearing what may
//! be cleared, every bad field named at once with nothing saved, and codes checked against
//! MBS's lists (served by the MBS sandbox), refused with 503 when no list can be had.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

fn bad_fields(resp: &Value) -> Vec<String> {
    let mut named: Vec<String> = resp["error"]["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("no error.fields: {resp}"))
        .keys()
        .cloned()
        .collect();
    named.sort();
    named
}

#[sqlx::test]
async fn the_full_profile_round_trips_with_codes_checked_against_mbs(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    let app = &s.app;
    let fresh: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(
        fresh.defaults,
        ProfileDefaults {
            service_code: None,
            tax_category: "STANDARD_VAT".into(),
            invoice_kind: None,
            payment_terms_days: 0,
        }
    );
    assert_eq!(fresh.address, None);

    let address = json!({"street": "12 Marina", "city": "Lagos", "postalZone": "101001",
                         "country": "NG", "state": "NG-LA", "lga": "NG-LA-IKJ"});
    let saved: ProfileView = app
        .put(
            "/si/org/profile",
            json!({
                "name": "Acme Nigeria Ltd",
                "tin": "12345678-0001",
                "serviceId": "ACME2026",
                "businessId": "9f2c3a58-3b8e-4c1f-9a57-1d2e3f405162",
                "email": "billing@acme.ng",
                "telephone": "+2348012345678",
                "address": address,
                "description": "Office supplies",
                "defaults": {"serviceCode": "4100", "taxCategory": "ZERO_VAT", "invoiceKind": "b2b", "paymentTermsDays": 30}
            }),
        )
        .await;
    let read: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(read, saved);
    assert_eq!(read.name, "Acme Nigeria Ltd");
    assert_eq!(read.tin.as_deref(), Some("12345678-0001"));
    assert_eq!(read.service_id, "ACME2026");
    assert_eq!(
        read.business_id.map(|b| b.to_string()).as_deref(),
        Some("9f2c3a58-3b8e-4c1f-9a57-1d2e3f405162")
    );
    assert_eq!(read.telephone.as_deref(), Some("+2348012345678"));
    assert_eq!(read.address.as_ref(), Some(&address));
    assert_eq!(read.description.as_deref(), Some("Office supplies"));
    assert_eq!(
        read.defaults,
        ProfileDefaults {
            service_code: Some("4100".into()),
            tax_category: "ZERO_VAT".into(),
            invoice_kind: Some("B2B".into()),
            payment_terms_days: 30,
        }
    );

    // Null clears what may be cleared; absent fields and defaults members stay.
    let cleared: ProfileView = app
        .put(
            "/si/org/profile",
            json!({"telephone": null, "address": null, "defaults": {"invoiceKind": null}}),
        )
        .await;
    assert_eq!(cleared.telephone, None);
    assert_eq!(cleared.address, None);
    assert_eq!(cleared.defaults.invoice_kind, None);
    assert_eq!(cleared.defaults.tax_category, "ZERO_VAT");
    assert_eq!(cleared.defaults.payment_terms_days, 30);
    assert_eq!(cleared.email.as_deref(), Some("billing@acme.ng"));

    // Codes MBS does not list are named, all at once, and nothing is saved.
    let (status, resp) = app
        .put_raw(
            "/si/org/profile",
            json!({
                "telephone": "+2348099999999",
                "address": {"street": "1 Broad St", "city": "Lagos", "country": "ZZ", "state": "NG-XX", "lga": "NG-LA-XYZ"},
                "defaults": {"serviceCode": "0000", "taxCategory": "NOT_A_TAX"}
            }),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(
        bad_fields(&resp),
        [
            "address.country",
            "address.lga",
            "address.state",
            "defaults.serviceCode",
            "defaults.taxCategory"
        ]
    );
    assert!(
        resp["error"]["fields"]["defaults.taxCategory"]
            .as_str()
            .unwrap()
            .contains("tax-categories"),
        "{resp}"
    );
    let unchanged: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(unchanged, cleared);

    // An unknown tax category alone is refused too.
    let (status, resp) = app
        .put_raw("/si/org/profile", json!({"defaults": {"taxCategory": "VAT_20"}}))
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(bad_fields(&resp), ["defaults.taxCategory"]);
}

#[sqlx::test]
async fn every_bad_profile_field_is_named_at_once(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let before: ProfileView = app.get("/si/org/profile").await;
    let (status, resp) = app
        .put_raw(
            "/si/org/profile",
            json!({
                "name": "",
                "tin": "12-ab",
                "serviceId": "short",
                "businessId": "not-a-uuid",
                "email": "billing@acme",
                "telephone": "08012345678",
                "address": {"street": "12 Marina", "country": "Nigeria", "lga": 7},
                "defaults": {"serviceCode": null, "taxCategory": null, "invoiceKind": "B2X", "paymentTermsDays": 366}
            }),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"]["code"], "invalid_request");
    assert_eq!(
        bad_fields(&resp),
        [
            "address.city",
            "address.country",
            "address.lga",
            "businessId",
            "defaults.invoiceKind",
            "defaults.paymentTermsDays",
            "defaults.taxCategory",
            "email",
            "name",
            "serviceId",
            "telephone",
            "tin"
        ]
    );
    let after: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(after, before, "a refused change saves nothing");

    let (status, resp) = app
        .put_raw("/si/org/profile", json!({"address": "12 Marina, Lagos"}))
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(bad_fields(&resp), ["address"]);
}

#[sqlx::test]
async fn a_code_that_cannot_be_checked_is_not_saved(pool: PgPool) {
    // No MBS configured: no list to check a code against.
    let app = TestApp::builder(pool).start().await;
    let (status, resp) = app
        .put_raw(
            "/si/org/profile",
            json!({"telephone": "+2348012345678", "defaults": {"taxCategory": "STANDARD_VAT"}}),
        )
        .await;
    assert_eq!(status, 503, "{resp}");
    assert_eq!(resp["error"]["code"], "mbs_not_configured");
    let p: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(p.telephone, None, "nothing was saved");

    let (status, resp) = app
        .put_raw(
            "/si/org/profile",
            json!({"address": {"street": "12 Marina", "city": "Lagos", "country": "NG"}}),
        )
        .await;
    assert_eq!(status, 503, "{resp}");

    // A change with no code in it needs no list.
    let p: ProfileView = app
        .put(
            "/si/org/profile",
            json!({"telephone": "+2348012345678", "description": "Office supplies", "defaults": {"paymentTermsDays": 14}}),
        )
        .await;
    assert_eq!(p.telephone.as_deref(), Some("+2348012345678"));
    assert_eq!(p.defaults.payment_terms_days, 14);
}
