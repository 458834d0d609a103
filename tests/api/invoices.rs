//! Invoice review, validation and signing over HTTP with a real database and the MBS
//! sandbox: the state machine, concurrent transitions, validation naming every problem, the
//! organization profile, and the service's seal over the payload filed at MBS, verified with
//! nothing but the published key and the invoice as the API shows it.

use crate::helpers::*;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{TimeZone, Utc};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use taxpoynt_mono::db::invoices::{insert_draft, NewDraft};
use taxpoynt_mono::invoice::InvoiceKind;
use taxpoynt_mono::tenancy::{EnvName, Tenant};

const TIN: &str = "12345678-0001";

// ---- helpers -------------------------------------------------------------------------------

/// A draft as a sync would store it; `edit` changes what a test needs.
async fn seed(app: &TestApp, edit: impl FnOnce(&mut NewDraft)) -> String {
    let env_id = app.env_id("sandbox").parse().unwrap();
    let tenant = Tenant::system(app.tenant.org_id, env_id, EnvName::Sandbox);
    let n: u32 = rand_suffix();
    let mut draft = NewDraft {
        source: "mono",
        kind: InvoiceKind::Invoice,
        account_id: Some("acc_seeded".into()),
        transaction_id: Some(format!("txn_{n}")),
        amount: 250_000,
        currency: "NGN".into(),
        reference: Some("PO-2291".into()),
        counterparty: Some("Bola Stores Ltd".into()),
        narration: Some("TRF FROM BOLA STORES LTD PO-2291".into()),
        description: None,
        transaction_date: Some(Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 0).unwrap()),
        reason: Some("business_keyword".into()),
        rule_id: None,
        keywords: vec!["ltd".into()],
    };
    edit(&mut draft);
    let invoice = insert_draft(&app.pool, &tenant, &draft)
        .await
        .expect("draft stored");
    invoice.id.to_string()
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Any method with any key (another organization's, say).
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(method, path, Some(key), body.as_ref()).await
}

async fn put_profile(app: &TestApp, body: Value) -> (u16, Value) {
    call(
        app,
        reqwest::Method::PUT,
        "/si/org/profile",
        app.key(),
        Some(body),
    )
    .await
}

async fn transition(app: &TestApp, id: &str, action: &str) -> (u16, Value) {
    app.post_raw(&format!("/si/invoices/{id}/{action}"), json!({}))
        .await
}

/// An app wired to the sandbox with the profile of its MBS business: ready to sign.
async fn einvoicing(builder: TestAppBuilder) -> SandboxApp {
    builder.with_sandbox().start().await.e_invoicing().await
}

/// Confirmed, validated and signed; returns the signed invoice as the API answered.
async fn signed_invoice(app: &TestApp) -> InvoiceView {
    let id = seed(app, |_| {}).await;
    for action in ["confirm", "validate", "sign"] {
        let _: InvoiceView = app.post(&format!("/si/invoices/{id}/{action}"), json!({})).await;
    }
    app.get(&format!("/si/invoices/{id}")).await
}

async fn signing_key(app: &TestApp) -> SigningKey {
    app.get("/si/invoices/signing-key").await
}

/// RFC 8785 written independently of the service: keys sorted by UTF-16 code units, no
/// whitespace; strings as JSON.stringify writes them (which is serde_json's escaping).
fn jcs(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let members: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", serde_json::to_string(k).unwrap(), jcs(&map[*k])))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(jcs).collect::<Vec<_>>().join(",")),
        // ECMAScript's Number-to-String for the amounts MBS reads (two decimals at most):
        // integral values without a fraction, others in their shortest form.
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => {
                let f = n.as_f64().unwrap();
                if f.fract() == 0.0 && f.abs() < 1e21 {
                    format!("{}", f as i64)
                } else {
                    format!("{f}")
                }
            }
        },
        other => serde_json::to_string(other).unwrap(),
    }
}

/// Verifies with only the published key document and the invoice as the API shows it.
fn verifies(key: &SigningKey, invoice: &InvoiceView) -> bool {
    let raw: [u8; 32] = BASE64.decode(&key.public_key).unwrap().try_into().unwrap();
    let public = VerifyingKey::from_bytes(&raw).unwrap();
    let sig = Signature::from_slice(
        &BASE64
            .decode(invoice.signature["value"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    public
        .verify(jcs(&invoice.signed_payload).as_bytes(), &sig)
        .is_ok()
}

// ---- the state machine ---------------------------------------------------------------------

#[sqlx::test]
async fn a_reviewed_invoice_is_signed_and_verifies_with_the_published_key(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool)).await;
    let app = &s.app;
    let profile: ProfileView = app.get("/si/org/profile").await;
    let service_id = profile.service_id;

    let _: ProfileView = app
        .put("/si/org/profile", json!({"tin": TIN, "email": "billing@acme.ng"}))
        .await;
    let id = seed(app, |_| {}).await;

    let d: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(d.status, InvoiceStatus::Draft);
    assert_eq!(d.kind, InvoiceKind::Invoice);
    assert_eq!(d.source, "mono");
    assert!(
        d.transaction_id.as_deref().is_some_and(|t| t.starts_with("txn_")),
        "{d:?}"
    );
    assert_eq!((d.amount, d.currency.as_str()), (250_000, "NGN"));
    assert_eq!(d.issue_date, "2026-03-09");
    assert_eq!(d.buyer.name.as_deref(), Some("Bola Stores Ltd"));
    assert_eq!(d.payment_status, PaymentStatus::None);
    assert_eq!(
        d.decision,
        json!({"reason": "business_keyword", "ruleId": null, "keywords": ["ltd"]})
    );
    assert!(d.irn.is_none() && d.signature.is_null(), "{d:?}");
    let number = d.invoice_number.as_str();
    assert!(
        number.starts_with("INV") && number.chars().all(|c| c.is_ascii_alphanumeric()),
        "{number}"
    );

    let confirmed: InvoiceView = app
        .post(
            &format!("/si/invoices/{id}/confirm"),
            json!({"buyerName": "Bola Stores Limited", "description": "Shelving units", "dueDate": "2026-04-08"}),
        )
        .await;
    assert_eq!(confirmed.status, InvoiceStatus::Confirmed);
    assert_eq!(confirmed.buyer.name.as_deref(), Some("Bola Stores Limited"));
    assert_eq!(confirmed.due_date.as_deref(), Some("2026-04-08"));
    assert_eq!(
        confirmed.reference.as_deref(),
        Some("PO-2291"),
        "uncorrected fields stay"
    );

    let validated: InvoiceView = app.post(&format!("/si/invoices/{id}/validate"), json!({})).await;
    assert_eq!(validated.status, InvoiceStatus::Validated);

    let signed: InvoiceView = app.post(&format!("/si/invoices/{id}/sign"), json!({})).await;
    assert_eq!(signed.status, InvoiceStatus::Signed);
    assert!(signed.signed_at.is_some(), "{signed:?}");
    let irn = signed.irn.as_deref().unwrap();
    assert_eq!(irn, format!("{number}-{service_id}-20260309"));
    // The payload filed at MBS, as MBS holds it.
    let payload = &signed.signed_payload;
    assert_eq!(payload["irn"], irn);
    assert_eq!(payload["invoice_type_code"], "381");
    assert_eq!(payload["due_date"], "2026-04-08");
    assert_eq!(
        payload["accounting_supplier_party"]["party_name"],
        "Taxpoynt Demo Supplies Limited"
    );
    assert_eq!(
        payload["invoice_line"][0]["item"]["description"],
        "Shelving units"
    );
    assert_eq!(payload["legal_monetary_total"]["payable_amount"], json!(2500.0));
    let held = s.sandbox.state.mbs().invoice(irn).expect("MBS holds it");
    assert_eq!(held.invoice, *payload);

    // The key as published is all a verifier needs.
    let key = signing_key(app).await;
    assert_eq!(key.alg, "Ed25519");
    let raw = BASE64.decode(&key.public_key).unwrap();
    assert_eq!(raw.len(), 32);
    assert_eq!(key.key_id, hex::encode(Sha256::digest(&raw))[..16]);
    assert_eq!(signed.signature["alg"], "Ed25519");
    assert_eq!(signed.signature["keyId"], key.key_id.as_str());
    assert!(verifies(&key, &signed));
    // As GET shows it, too.
    let again: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
    assert!(verifies(&key, &again));
}

#[sqlx::test]
async fn changing_any_signed_field_breaks_the_signature(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool)).await;
    let app = &s.app;
    let invoice = signed_invoice(app).await;
    let key = signing_key(app).await;
    assert!(verifies(&key, &invoice));
    // Every leaf of the payload, by its path of keys and indexes.
    fn leaves(v: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                let mut p = path.clone();
                p.push(k.clone());
                leaves(v, p, out)
            }),
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
                let mut p = path.clone();
                p.push(i.to_string());
                leaves(v, p, out)
            }),
            _ => out.push(path),
        }
    }
    let mut paths = Vec::new();
    leaves(&invoice.signed_payload, Vec::new(), &mut paths);
    assert!(paths.len() >= 35, "{} leaves: {paths:?}", paths.len());
    for path in paths {
        let mut forged = invoice.clone();
        let mut slot = &mut forged.signed_payload;
        for p in &path {
            slot = match p.parse::<usize>() {
                Ok(i) if slot.is_array() => &mut slot[i],
                _ => &mut slot[p.as_str()],
            };
        }
        *slot = match &*slot {
            Value::Number(n) => json!(n.as_f64().unwrap() + 1.0),
            Value::String(s) => json!(format!("{s}X")),
            Value::Bool(b) => json!(!b),
            _ => json!("X"),
        };
        assert!(!verifies(&key, &forged), "changing {path:?} still verified");
    }
    // Adding a member breaks it as well.
    let mut forged = invoice.clone();
    forged.signed_payload["note"] = json!("extra");
    assert!(!verifies(&key, &forged));
}

#[sqlx::test]
async fn each_refused_transition_names_the_current_state(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool)).await;
    let app = &s.app;
    let all = ["confirm", "discard", "validate", "sign"];
    // (how to reach the state, the state, the transitions it allows)
    let cases: [(&[&str], &str, &[&str]); 5] = [
        (&[], "DRAFT", &["confirm", "discard"]),
        (&["confirm"], "CONFIRMED", &["validate"]),
        (&["confirm", "validate"], "VALIDATED", &["sign"]),
        (&["confirm", "validate", "sign"], "SIGNED", &[]),
        (&["discard"], "DISCARDED", &[]),
    ];
    for (path, state, allowed) in cases {
        for action in all {
            let id = seed(app, |_| {}).await;
            for step in path {
                let (status, body) = transition(app, &id, step).await;
                assert_eq!(status, 200, "{step}: {body}");
            }
            let (status, body) = transition(app, &id, action).await;
            if allowed.contains(&action) {
                assert_eq!(status, 200, "{action} from {state}: {body}");
            } else {
                assert_eq!(status, 409, "{action} from {state}: {body}");
                assert_eq!(assert_failure(&body), "invalid_transition");
                assert_eq!(body["error"]["status"], state, "{body}");
                assert!(body["message"].as_str().unwrap().contains(state), "{body}");
                // Nothing moved.
                let now: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
                assert_eq!(now.status.as_str(), state);
            }
        }
    }
    // An id that does not exist is 404, whatever the transition.
    let (status, body) = transition(app, &uuid::Uuid::now_v7().to_string(), "confirm").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = transition(app, "not-a-uuid", "sign").await;
    assert_eq!(status, 404);
}

#[sqlx::test]
async fn of_two_concurrent_transitions_exactly_one_wins(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool)).await;
    let app = &s.app;
    for _ in 0..5 {
        let id = seed(app, |_| {}).await;
        let path = format!("/si/invoices/{id}/confirm");
        let (a, b) = tokio::join!(
            app.post_raw(&path, json!({"buyerName": "First"})),
            app.post_raw(&path, json!({"buyerName": "Second"}))
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let (winner, loser) = if a.0 == 200 { (a.1, b.1) } else { (b.1, a.1) };
        assert_eq!(loser["error"]["code"], "invalid_transition");
        assert_eq!(loser["error"]["status"], "CONFIRMED");
        // The stored corrections are the winner's, not a mix.
        let now: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
        let winner: InvoiceView = data(&winner);
        assert_eq!(now.buyer, winner.buyer);

        // Confirm racing discard: one of them.
        let id = seed(app, |_| {}).await;
        let (a, b) = tokio::join!(transition(app, &id, "confirm"), transition(app, &id, "discard"));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    }
    // Two signs: one submission to MBS, one signature. The loser answers with the invoice
    // as it stands (200 once signed, 202 while the winner's call is out) or 409.
    let id = seed(app, |_| {}).await;
    transition(app, &id, "confirm").await;
    let (_, validated) = transition(app, &id, "validate").await;
    let irn = validated["data"]["irn"].as_str().unwrap().to_owned();
    let (a, b) = tokio::join!(transition(app, &id, "sign"), transition(app, &id, "sign"));
    assert!(a.0 == 200 || b.0 == 200, "{a:?} {b:?}");
    assert!(
        [200, 202, 409].contains(&a.0) && [200, 202, 409].contains(&b.0),
        "{a:?} {b:?}"
    );
    let signs = s
        .sandbox
        .state
        .mbs()
        .log()
        .iter()
        .filter(|e| e.path == "/api/v1/invoice/sign" && e.body["irn"] == irn.as_str())
        .count();
    assert_eq!(signs, 1);
}

#[sqlx::test]
async fn a_signed_invoice_never_changes_but_its_payment_status(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool)).await;
    let app = &s.app;
    let invoice = signed_invoice(app).await;
    let id = invoice.id;
    // Another writer trying to change it is stopped by the database.
    let err = sqlx::query("UPDATE invoices SET amount = amount + 1 WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("signed"), "{err}");
    sqlx::query("UPDATE invoices SET payment_status = 'settled', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let now: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(now.payment_status, PaymentStatus::Settled);
    assert_eq!(now.signed_payload, invoice.signed_payload);
    assert_eq!(now.signature, invoice.signature);
    let key = signing_key(app).await;
    assert!(verifies(&key, &now));
}

// ---- validation ----------------------------------------------------------------------------

#[sqlx::test]
async fn validate_names_every_problem_at_once(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool)).await;
    let app = &s.app;
    // No TIN, a currency that is not ISO 4217, and a credit note whose credited invoice is
    // purged after confirmation.
    put_profile(app, json!({"tin": null})).await;
    let credited = seed(app, |_| {}).await;
    let id = seed(app, |d| {
        d.kind = InvoiceKind::CreditNote;
        d.currency = "naira".into();
    })
    .await;
    let _: InvoiceView = app
        .post(
            &format!("/si/invoices/{id}/confirm"),
            json!({"creditedInvoiceId": credited}),
        )
        .await;
    sqlx::query("DELETE FROM invoices WHERE id = $1::uuid")
        .bind(&credited)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = transition(app, &id, "validate").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_failure(&body), "invalid_invoice");
    let mut fields: Vec<&str> = body["error"]["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["creditedInvoiceId", "currency", "supplier.tin"],
        "{body}"
    );
    let now: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(
        now.status,
        InvoiceStatus::Confirmed,
        "a failed validation moves nothing"
    );
    // Sign is refused by state, not by content.
    let (status, body) = transition(app, &id, "sign").await;
    assert_eq!(status, 409, "{body}");

    // The profile problem fixed, the invoice's own remain.
    put_profile(app, json!({"tin": TIN})).await;
    let (_, body) = transition(app, &id, "validate").await;
    assert!(body["error"]["fields"]["supplier.tin"].is_null(), "{body}");
    assert!(body["error"]["fields"]["currency"].is_string(), "{body}");

    // What is signed is the supplier as validated: a profile changed between validate and
    // sign changes nothing of what is filed.
    let ok = seed(app, |_| {}).await;
    transition(app, &ok, "confirm").await;
    let (status, body) = transition(app, &ok, "validate").await;
    assert_eq!(status, 200, "{body}");
    put_profile(app, json!({"tin": null})).await;
    let (status, body) = transition(app, &ok, "sign").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["signedPayload"]["accounting_supplier_party"]["tin"],
        TIN
    );
    put_profile(app, json!({"tin": TIN})).await;

    // A credit note needs its invoice SIGNED; with it, it validates and signs and names it.
    let unsigned = seed(app, |_| {}).await;
    let note = seed(app, |d| {
        d.kind = InvoiceKind::CreditNote;
        d.counterparty = None;
    })
    .await;
    let _: InvoiceView = app
        .post(
            &format!("/si/invoices/{note}/confirm"),
            json!({"buyerName": "Bola Stores Ltd", "creditedInvoiceId": unsigned}),
        )
        .await;
    let (status, body) = transition(app, &note, "validate").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["fields"]["creditedInvoiceId"]
            .as_str()
            .unwrap()
            .contains("SIGNED"),
        "{body}"
    );

    let credited = signed_invoice(app).await;
    let note = seed(app, |d| {
        d.kind = InvoiceKind::CreditNote;
        d.counterparty = None;
    })
    .await;
    let confirmed: InvoiceView = app
        .post(
            &format!("/si/invoices/{note}/confirm"),
            json!({"buyerName": "Bola Stores Ltd", "creditedInvoiceId": credited.id}),
        )
        .await;
    assert_eq!(confirmed.credited_invoice_id, Some(credited.id));
    for action in ["validate", "sign"] {
        let (status, body) = transition(app, &note, action).await;
        assert_eq!(status, 200, "{action}: {body}");
        if action == "sign" {
            let payload = &body["data"]["signedPayload"];
            assert_eq!(payload["invoice_type_code"], "380");
            assert_eq!(
                payload["billing_reference"][0]["irn"],
                credited.irn.as_deref().unwrap()
            );
        }
    }
}

#[sqlx::test]
async fn confirm_names_every_bad_correction(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let id = seed(&app, |_| {}).await;
    let (status, body) = app
        .post_raw(
            &format!("/si/invoices/{id}/confirm"),
            json!({"buyerName": "  ", "dueDate": "2026-02-30", "creditedInvoiceId": id, "reference": "x".repeat(201)}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_failure(&body), "invalid_request");
    let fields = body["error"]["fields"].as_object().unwrap();
    for f in ["buyerName", "dueDate", "creditedInvoiceId", "reference"] {
        assert!(fields.contains_key(f), "{f} not named: {body}");
    }
    // A due date before the issue date, an unknown field.
    let (status, body) = app
        .post_raw(
            &format!("/si/invoices/{id}/confirm"),
            json!({"dueDate": "2026-03-01"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["fields"]["dueDate"].is_string());
    let (status, body) = app
        .post_raw(&format!("/si/invoices/{id}/confirm"), json!({"buyer": "x"}))
        .await;
    assert_eq!(status, 400, "{body}");
    // A credit note may not credit another credit note, a discarded or an unknown invoice.
    let note = seed(&app, |d| d.kind = InvoiceKind::CreditNote).await;
    let other_note = seed(&app, |d| d.kind = InvoiceKind::CreditNote).await;
    let discarded = seed(&app, |_| {}).await;
    transition(&app, &discarded, "discard").await;
    for target in [
        other_note,
        discarded,
        uuid::Uuid::now_v7().to_string(),
        "nope".into(),
    ] {
        let (status, body) = app
            .post_raw(
                &format!("/si/invoices/{note}/confirm"),
                json!({"creditedInvoiceId": target}),
            )
            .await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body["error"]["fields"]["creditedInvoiceId"].is_string(), "{body}");
    }
    let now: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(
        now.status,
        InvoiceStatus::Draft,
        "a refused confirmation moves nothing"
    );
}

// ---- the organization profile --------------------------------------------------------------

#[sqlx::test]
async fn the_profile_checks_tin_and_service_id(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let p: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(p.name, "Acme Test Org");
    assert!(p.tin.is_none(), "{p:?}");
    let service_id = p.service_id.as_str();
    assert!(
        service_id.len() == 8 && service_id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{p:?}"
    );

    for (body, bad) in [
        (json!({"tin": "1234567"}), vec!["tin"]),
        (json!({"tin": "12345678901234567890X"}), vec!["tin"]),
        (json!({"tin": "1234-ABCD"}), vec!["tin"]),
        (json!({"serviceId": "ABC1234"}), vec!["serviceId"]),
        (json!({"serviceId": "ABC-1234"}), vec!["serviceId"]),
        (
            json!({"serviceId": null, "name": "", "email": "nope", "tin": "x"}),
            vec!["email", "name", "serviceId", "tin"],
        ),
    ] {
        let (status, resp) = put_profile(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {resp}");
        let mut named: Vec<&str> = resp["error"]["fields"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        named.sort();
        assert_eq!(named, bad, "{body}: {resp}");
    }
    let unchanged: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(unchanged.service_id, service_id, "a refused change saves nothing");

    let _: ProfileView = app
        .put(
            "/si/org/profile",
            json!({"name": "Acme Nigeria Ltd", "tin": "98765432-0001", "serviceId": "ACME2026", "email": "billing@acme.ng"}),
        )
        .await;
    let p: ProfileView = app.get("/si/org/profile").await;
    assert_eq!(p.name, "Acme Nigeria Ltd");
    assert_eq!(p.tin.as_deref(), Some("98765432-0001"));
    assert_eq!(p.service_id, "ACME2026");
    assert_eq!(p.email.as_deref(), Some("billing@acme.ng"));
    assert!(p.address.is_none(), "{p:?}");
}

/// The IRN and the supplier of what is filed follow the profile.
#[sqlx::test]
async fn the_irn_and_the_supplier_follow_the_profile(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool)).await;
    let app = &s.app;
    let _: ProfileView = app
        .put(
            "/si/org/profile",
            json!({"name": "Acme Nigeria Ltd", "tin": "98765432-0001"}),
        )
        .await;
    let invoice = signed_invoice(app).await;
    assert!(
        invoice.irn.as_deref().unwrap().ends_with("-TXPDEMO1-20260309"),
        "{invoice:?}"
    );
    let party = &invoice.signed_payload["accounting_supplier_party"];
    assert_eq!(party["party_name"], "Acme Nigeria Ltd");
    assert_eq!(party["tin"], "98765432-0001");
}

#[sqlx::test]
async fn tenant_create_takes_a_tin(_opts: PgPoolOptions, conn: PgConnectOptions) {
    let url = database_url_for(&conn);
    let bin = env!("CARGO_BIN_EXE_taxpoynt-mono");
    let out = std::process::Command::new(bin)
        .args([
            "tenant",
            "create",
            "--name",
            "Tin Org",
            "--tin",
            "12345678-0001",
            "--json",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let service_id = created["serviceId"].as_str().unwrap();
    assert_eq!(service_id.len(), 8);
    let pool = PgPool::connect(&url).await.unwrap();
    let (tin, stored): (Option<String>, String) =
        sqlx::query_as("SELECT tin, service_id FROM organizations WHERE id = $1::uuid")
            .bind(created["orgId"].as_str().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tin.as_deref(), Some("12345678-0001"));
    assert_eq!(stored, service_id);

    let out = std::process::Command::new(bin)
        .args(["tenant", "create", "--name", "Bad Tin", "--tin", "12ab"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tin"));
}

// ---- the key -------------------------------------------------------------------------------

#[sqlx::test]
async fn a_second_application_on_the_same_database_signs_with_the_same_key(pool: PgPool) {
    let s = einvoicing(TestApp::builder(pool.clone())).await;
    let first = &s.app;
    let invoice = signed_invoice(first).await;
    let second = s.replica().start().await;
    let key1 = signing_key(first).await;
    let key2 = signing_key(&second).await;
    assert_eq!(key1, key2);
    assert!(verifies(&key2, &invoice));
    // And what the second one signs, the first one's key verifies.
    let other = signed_invoice(&second).await;
    assert!(verifies(&key1, &other));
    assert_eq!(count(&pool, "signing_keys").await, 1);
}

#[sqlx::test]
async fn signing_key_from_the_configuration(pool: PgPool) {
    let seed = [42u8; 32];
    let s = einvoicing(TestApp::builder(pool).signing_key(&seed)).await;
    let app = &s.app;
    let key = signing_key(app).await;
    let expected = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(key.public_key, BASE64.encode(expected.as_bytes()));
    let invoice = signed_invoice(app).await;
    assert!(verifies(&key, &invoice));
    // The key does not leave a request without a bearer key.
    let (status, _) = app
        .call(reqwest::Method::GET, "/si/invoices/signing-key", None, None)
        .await;
    assert_eq!(status, 401);
}

// ---- the list ------------------------------------------------------------------------------

#[sqlx::test]
async fn the_list_filters_and_pages_newest_first(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let march = |day| Some(Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap());
    let mut ids = Vec::new();
    for day in 1..=9 {
        ids.push(
            seed(&app, |d| {
                d.transaction_date = march(day);
                d.account_id = Some(if day % 3 == 0 { "acc_b" } else { "acc_a" }.into());
                if day % 4 == 0 {
                    d.kind = InvoiceKind::CreditNote;
                }
            })
            .await,
        );
    }
    transition(&app, &ids[0], "discard").await;
    transition(&app, &ids[1], "confirm").await;
    sqlx::query("UPDATE invoices SET payment_status = 'settled' WHERE id = $1::uuid")
        .bind(&ids[2])
        .execute(&app.pool)
        .await
        .unwrap();

    let listed = |q: &'static str| {
        let app = &app;
        async move {
            let listed: Vec<InvoiceView> = app.get(&format!("/si/invoices{q}")).await;
            listed.iter().map(|i| i.id.to_string()).collect::<Vec<_>>()
        }
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed("").await, newest_first);
    assert_eq!(listed("?status=DISCARDED").await, [ids[0].clone()]);
    assert_eq!(listed("?status=confirmed").await, [ids[1].clone()]);
    assert_eq!(listed("?paymentStatus=settled").await, [ids[2].clone()]);
    assert_eq!(
        listed("?kind=credit_note").await,
        [ids[7].clone(), ids[3].clone()]
    );
    assert_eq!(
        listed("?accountId=acc_b").await,
        [ids[8].clone(), ids[5].clone(), ids[2].clone()]
    );
    assert_eq!(
        listed("?from=2026-03-03&to=2026-03-05").await,
        [ids[4].clone(), ids[3].clone(), ids[2].clone()]
    );
    assert_eq!(
        listed("?status=DRAFT&accountId=acc_a&kind=invoice&to=2026-03-05").await,
        [ids[4].clone()]
    );

    // Pages of 4: every invoice once, in order, and the last page says so.
    let mut seen = Vec::new();
    let mut path = "/si/invoices?limit=4".to_string();
    loop {
        let (page, meta) = app.get_page::<InvoiceView>(&path).await;
        assert!(page.len() <= 4);
        seen.extend(page.iter().map(|i| i.id.to_string()));
        match meta.next {
            Some(next) => path = format!("/si/invoices?limit=4&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    // Bad filters are named, all of them.
    let (status, body) = app
        .get_raw(
            "/si/invoices?status=PAID&kind=receipt&paymentStatus=late&from=03-03-2026&limit=500&before=x",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let mut named: Vec<&str> = body["error"]["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    named.sort();
    assert_eq!(
        named,
        ["before", "from", "kind", "limit", "paymentStatus", "status"]
    );
}

#[sqlx::test]
async fn another_organizations_invoice_is_not_found(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let id = seed(&app, |_| {}).await;
    let other = taxpoynt_mono::services::tenants::create_tenant(&pool, "Other Org")
        .await
        .unwrap();
    let key = other.api_key.as_str();
    let (status, body) = call(
        &app,
        reqwest::Method::GET,
        &format!("/si/invoices/{id}"),
        key,
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(assert_failure(&body), "not_found");
    for action in ["confirm", "discard", "validate", "sign"] {
        let path = format!("/si/invoices/{id}/{action}");
        let (status, body) = call(&app, reqwest::Method::POST, &path, key, Some(json!({}))).await;
        assert_eq!(status, 404, "{action}: {body}");
    }
    let (_, list) = call(&app, reqwest::Method::GET, "/si/invoices", key, None).await;
    assert_eq!(list["data"], json!([]));
    // The other environment of the same organization does not see it either.
    let production = app.env_id("production");
    let (status, _) = app
        .get_raw(&format!("/si/invoices/{id}?envId={production}"))
        .await;
    assert_eq!(status, 404);
    let mine: InvoiceView = app.get(&format!("/si/invoices/{id}")).await;
    assert_eq!(mine.status, InvoiceStatus::Draft);
}

// ---- numbering -----------------------------------------------------------------------------

#[sqlx::test]
async fn every_insert_path_numbers_invoices_per_organization(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(120).await;
    let synced: SyncOutcome = app.post("/si/mono/sync", json!({"accountId": account})).await;
    let drafted = synced.drafted;
    assert!(drafted > 0, "{synced:?}");
    // A second path (a manual draft) continues the same sequence.
    seed(app, |_| {}).await;

    let invoices: Vec<InvoiceView> = app.get("/si/invoices?limit=200").await;
    assert_eq!(invoices.len() as u64, drafted + 1);
    let mut numbers: Vec<String> = invoices.iter().map(|i| i.invoice_number.clone()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=drafted + 1).map(|n| format!("INV{n:06}")).collect();
    assert_eq!(numbers, expected);
    for i in invoices
        .iter()
        .filter(|i| i.source == "mono" && i.account_id.as_deref() == Some(account.as_str()))
    {
        assert_eq!(i.status, InvoiceStatus::Draft);
        assert!(i.decision["reason"].is_string(), "{i:?}");
        assert!(i.decision["keywords"].is_array(), "{i:?}");
        assert_eq!(i.issue_date.len(), 10, "{i:?}");
    }

    // Another organization counts from one.
    let other = taxpoynt_mono::services::tenants::create_tenant(&pool, "Second Org")
        .await
        .unwrap();
    let env = other
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .unwrap()
        .id;
    let tenant = Tenant::system(other.org_id, env, EnvName::Sandbox);
    let draft = NewDraft {
        source: "manual",
        kind: InvoiceKind::Invoice,
        account_id: None,
        transaction_id: None,
        amount: 1,
        currency: "NGN".into(),
        reference: None,
        counterparty: None,
        narration: None,
        description: None,
        transaction_date: None,
        reason: None,
        rule_id: None,
        keywords: vec![],
    };
    let first = insert_draft(&pool, &tenant, &draft).await.unwrap();
    assert_eq!(first.invoice_number, "INV000001");
    assert_eq!(first.issue_date, Utc::now().date_naive());
}
