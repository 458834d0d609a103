//! Allow/deny rules and environment settings over HTTP, with the JSON error envelope.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{assert_failure, db, tenants, RuleView, TestApp};

async fn link_account(app: &TestApp, env: &str, account_id: &str) {
    let env_id = app.env_id(env).parse().unwrap();
    let env_name = taxpoynt_mono::tenancy::EnvName::parse(env).unwrap();
    let tenant = taxpoynt_mono::tenancy::Tenant::system(app.tenant.org_id, env_id, env_name);
    let linked = db::accounts::link(&app.pool, &tenant, account_id, None, None)
        .await
        .unwrap();
    assert!(linked);
}

#[sqlx::test]
async fn a_rule_is_created_listed_filtered_and_deleted(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    link_account(&app, "sandbox", "acc_main_0001").await;
    let rule: RuleView = app
        .create(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": "betking", "note": "betting"}),
        )
        .await;
    assert_eq!(rule.list, "deny");
    assert_eq!(rule.field, "narration");
    assert_eq!(rule.match_kind, "contains");
    assert_eq!(rule.pattern, "betking");
    assert!(rule.account_id.is_none(), "{rule:?}");
    assert_eq!(rule.note.as_deref(), Some("betting"));
    let deny_id = rule.id;

    let _: RuleView = app
        .create(
            "/si/mono/allow-deny",
            json!({"list": "allow", "pattern": "^ACME", "field": "counterparty", "match": "regex",
                   "accountId": "acc_main_0001"}),
        )
        .await;

    let (rules, meta) = app.get_page::<RuleView>("/si/mono/allow-deny").await;
    assert_eq!(rules.len(), 2);
    assert_eq!(meta.total, Some(2));
    let allowed: Vec<RuleView> = app.get("/si/mono/allow-deny?list=allow").await;
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0].match_kind, "regex");
    let of_account: Vec<RuleView> = app.get("/si/mono/allow-deny?accountId=acc_main_0001").await;
    assert_eq!(of_account.len(), 1);

    // Rules live per environment.
    let production: Vec<RuleView> = app.get("/si/mono/allow-deny?env=production").await;
    assert!(production.is_empty(), "{production:?}");

    let (status, _) = app.delete_raw(&format!("/si/mono/allow-deny/{deny_id}")).await;
    assert_eq!(status, 200);
    let (status, _) = app.delete_raw(&format!("/si/mono/allow-deny/{deny_id}")).await;
    assert_eq!(status, 404);
    let left: Vec<RuleView> = app.get("/si/mono/allow-deny").await;
    assert_eq!(left.len(), 1);
}

#[sqlx::test]
async fn invalid_rules_are_400_naming_the_field(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let long = "x".repeat(201);
    for (body, field) in [
        (
            json!({"list": "deny", "pattern": "(unclosed", "match": "regex"}),
            "pattern",
        ),
        (json!({"list": "deny", "pattern": ""}), "pattern"),
        (json!({"list": "deny", "pattern": "   "}), "pattern"),
        (json!({"list": "deny", "pattern": long}), "pattern"),
        (json!({"list": "maybe", "pattern": "x"}), "list"),
        (json!({"pattern": "x"}), "list"),
        (json!({"list": "deny"}), "pattern"),
        (
            json!({"list": "deny", "pattern": "x", "field": "amount"}),
            "field",
        ),
        (json!({"list": "deny", "pattern": "x", "match": "fuzzy"}), "match"),
        (json!({"list": "deny", "pattern": "x", "colour": "red"}), "colour"),
        (
            json!({"list": "deny", "pattern": "a{1000}{1000}", "match": "regex"}),
            "pattern",
        ),
        (json!({"list": "deny", "pattern": "a\u{0}b"}), "pattern"),
        (json!({"list": "deny", "pattern": "x", "note": "\u{0}"}), "note"),
    ] {
        let (status, resp) = app.post_raw("/si/mono/allow-deny", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {resp}");
        assert_eq!(assert_failure(&resp), "invalid_request", "{resp}");
        assert!(
            resp["error"]["fields"][field].is_string(),
            "{body} should name {field}: {resp}"
        );
    }
    // Nothing was stored.
    let (_, body) = app.get_raw("/si/mono/allow-deny").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
}

#[sqlx::test]
async fn a_rule_for_an_account_not_linked_here_is_404(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    link_account(&app, "production", "acc_prod_0001").await;
    let (status, body) = app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "allow", "pattern": "acme", "accountId": "acc_prod_0001"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "allow", "pattern": "acme", "accountId": "acc_prod_0001", "env": "production"}),
        )
        .await;
    assert_eq!(status, 201, "environment chosen from the JSON body");
}

#[sqlx::test]
async fn rules_of_another_organization_are_invisible(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let (_, body) = app
        .post_raw("/si/mono/allow-deny", json!({"list": "deny", "pattern": "x"}))
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let other = tenants::create_tenant(&pool, "Other").await.unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/si/mono/allow-deny/{id}"),
            Some(&other.api_key),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, body) = app
        .call(Method::GET, "/si/mono/allow-deny", Some(&other.api_key), None)
        .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    let (_, body) = app.get_raw("/si/mono/allow-deny").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "still there");
}

#[sqlx::test]
async fn settings_default_to_the_configuration_and_can_be_changed(pool: PgPool) {
    let app = TestApp::builder(pool)
        .setting("MONO_BUSINESS_FLOOR", 2500)
        .setting("MONO_REFERENCE_REGEX", "^INV-\\d+$")
        .start()
        .await;
    let (status, body) = app.get_raw("/si/mono/settings").await;
    assert_eq!(status, 200, "{body}");
    let s = &body["data"];
    assert_eq!(s["floor"], 2500);
    assert_eq!(s["referenceRegex"], "^INV-\\d+$");
    assert_eq!(s["invoiceCurrency"], "NGN");
    assert!(s["businessKeywords"]
        .as_array()
        .unwrap()
        .contains(&json!("invoice")));
    assert!(s["personalKeywords"]
        .as_array()
        .unwrap()
        .contains(&json!("pocket money")));
    assert!(s["refundKeywords"]
        .as_array()
        .unwrap()
        .contains(&json!("chargeback")));
    assert!(s["retentionDays"].is_null());
    assert_eq!(s["overridden"], json!([]));

    let (status, body) = app
        .put_raw(
            "/si/mono/settings",
            json!({"floor": 500.5, "businessKeywords": ["fee", " retainer "], "invoiceCurrency": "ghc",
                   "retentionDays": 90}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let s = &body["data"];
    assert_eq!(s["floor"], 500.5);
    assert_eq!(s["businessKeywords"], json!(["fee", "retainer"]));
    assert_eq!(s["invoiceCurrency"], "GHS");
    assert_eq!(s["retentionDays"], 90);
    assert_eq!(
        s["referenceRegex"], "^INV-\\d+$",
        "untouched fields keep their value"
    );

    // null returns a field to the default; production is separate.
    let (_, body) = app.put_raw("/si/mono/settings", json!({"floor": null})).await;
    assert_eq!(body["data"]["floor"], 2500);
    assert_eq!(body["data"]["invoiceCurrency"], "GHS");
    let (_, body) = app.get_raw("/si/mono/settings?env=production").await;
    assert_eq!(body["data"]["invoiceCurrency"], "NGN");
}

#[sqlx::test]
async fn invalid_settings_are_400_naming_the_field_and_change_nothing(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    for (body, field) in [
        (json!({"referenceRegex": "(INV"}), "referenceRegex"),
        (json!({"floor": -1}), "floor"),
        (json!({"floor": "ten"}), "floor"),
        (json!({"floor": 10.123}), "floor"),
        (json!({"invoiceCurrency": "NAIRA"}), "invoiceCurrency"),
        (json!({"businessKeywords": [""]}), "businessKeywords"),
        (json!({"personalKeywords": "gift"}), "personalKeywords"),
        (json!({"retentionDays": 0}), "retentionDays"),
        (json!({"threshold": 5}), "threshold"),
    ] {
        let (status, resp) = app.put_raw("/si/mono/settings", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {resp}");
        assert!(
            resp["error"]["fields"][field].is_string(),
            "{body} should name {field}: {resp}"
        );
    }
    let (_, body) = app.get_raw("/si/mono/settings").await;
    assert_eq!(body["data"]["overridden"], json!([]));
}

#[sqlx::test]
async fn malformed_json_and_wrong_content_types_answer_in_the_envelope(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let bearer = app.bearer();
    let resp = app
        .raw(
            Method::POST,
            "/si/mono/allow-deny",
            &[("authorization", &bearer), ("content-type", "application/json")],
            "{\"list\": \"deny\", ",
        )
        .await;
    let (status, body) = (resp.status, resp.json());
    assert_eq!(status, 400);
    assert_eq!(assert_failure(&body), "malformed_json");

    let resp = app
        .raw(
            Method::POST,
            "/si/mono/allow-deny",
            &[("authorization", &bearer), ("content-type", "text/plain")],
            "list=deny",
        )
        .await;
    let (status, body) = (resp.status, resp.json());
    assert_eq!(status, 415);
    assert_eq!(assert_failure(&body), "unsupported_media_type");

    let (status, body) = app
        .post_raw("/si/mono/allow-deny", json!(["not", "an", "object"]))
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_failure(&body), "invalid_request");

    let big = "x".repeat(1024 * 1024 + 1);
    let (status, body) = app
        .post_raw("/si/mono/allow-deny", json!({"list": "deny", "pattern": big}))
        .await;
    assert_eq!(status, 413);
    assert_eq!(assert_failure(&body), "payload_too_large");

    let (status, body) = app
        .call(Method::PUT, "/si/mono/allow-deny", Some(app.key()), None)
        .await;
    assert_eq!(status, 405);
    assert_eq!(assert_failure(&body), "method_not_allowed");
}
