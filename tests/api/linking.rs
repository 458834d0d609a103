//! Account linking over HTTP against a real database and the Mono sandbox (wiremock where a
//! precise Mono failure is needed).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::mono::{InitiateMeta, InitiateRequest, ReauthInitiate, Scope};
use crate::helpers::{
    assert_failure, client, count, open_widget, query_value, tenants, AccountView, Purged, Role, SyncOutcome,
    TestApp, Unlinked, WidgetLink,
};

/// Opens the widget page like a browser and returns the `code` of its redirect.
async fn follow_widget(mono_url: &str) -> (String, url::Url) {
    let url = open_widget(mono_url).await;
    let code = query_value(&url, "code").expect("redirect carries a code");
    (code, url)
}

async fn widget_link(app: &TestApp, body: Value) -> WidgetLink {
    app.post("/si/mono/widget-link", body).await
}

#[sqlx::test]
async fn the_whole_link_flow_from_widget_link_to_exchange(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let link = widget_link(
        app,
        json!({"customer": {"name": "Ada Obi", "email": "ada@acme.ng"},
               "redirectUrl": "https://dashboard.example/mono/callback",
               "meta": {"ref": "acme-link-0001"}}),
    )
    .await;
    assert_eq!(link.r#ref, "acme-link-0001");
    assert_eq!(link.scope, Scope::Auth);
    let mono_url = link.mono_url.as_str();
    assert!(mono_url.starts_with(s.sandbox.base_url.as_str()), "{mono_url}");

    let (code, redirect) = follow_widget(mono_url).await;
    assert_eq!(redirect.host_str(), Some("dashboard.example"));

    let account: AccountView = app
        .post(
            "/si/mono/exchange",
            json!({"code": code, "ref": "acme-link-0001"}),
        )
        .await;
    let account_id = account.id.clone();
    assert_eq!(account.env_id.to_string(), app.env_id("sandbox"));
    assert_eq!(account.data_status.as_deref(), Some("AVAILABLE"));
    assert!(account.account_number.is_some(), "{account:?}");
    assert!(account.institution.bank_code.is_some(), "{account:?}");
    assert!(!account.reauth_required);
    let bvn = account.bvn.as_deref().unwrap_or("");
    assert!(bvn.len() <= 4, "bvn keeps at most 4 digits: {bvn}");

    // The ref is recorded against this organization and environment.
    let (org, env, completed, mono_ref): (uuid::Uuid, uuid::Uuid, bool, String) = sqlx::query_as(
        "SELECT org_id, env_id, completed_at IS NOT NULL, ref FROM mono_link_refs WHERE client_ref = 'acme-link-0001'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(org, app.tenant.org_id);
    // Mono saw the ref in the organization's namespace.
    assert_eq!(
        mono_ref,
        taxpoynt_mono::services::link::namespaced_ref(org, "acme-link-0001")
    );
    assert_ne!(mono_ref, "acme-link-0001");
    assert_eq!(env.to_string(), app.env_id("sandbox"));
    assert!(completed);

    let stored: AccountView = app.get(&format!("/si/mono/accounts/{account_id}")).await;
    assert_eq!(stored.id, account_id);

    // A used code is refused by Mono: 400 invalid_code with Mono's message.
    let (status, body) = app.post_raw("/si/mono/exchange", json!({"code": code})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_failure(&body), "invalid_code");
}

#[sqlx::test]
async fn a_generated_ref_and_the_widget_base_url(pool: PgPool) {
    let s = TestApp::builder(pool)
        .widget_base_url("https://connect.taxpoynt.test")
        .with_sandbox()
        .start()
        .await;
    let link = widget_link(
        &s.app,
        json!({"customer": {"name": "Ada", "email": "ada@acme.ng"}, "redirectUrl": "http://localhost:3000/cb"}),
    )
    .await;
    assert!(link.r#ref.len() >= 10, "{link:?}");
    assert!(
        link.mono_url.starts_with("https://connect.taxpoynt.test/"),
        "{link:?}"
    );
}

#[sqlx::test]
async fn reauth_clears_the_reauth_required_state_and_exchange_is_idempotent(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    let app = &s.app;
    let account_id = s.link_new_account(10).await;

    // Mono says the customer must reauthorise.
    s.control_post(
        &format!("/_sandbox/accounts/{account_id}/status"),
        json!({"sync_status": "REAUTHORISATION_REQUIRED"}),
    )
    .await;
    let refreshed: AccountView = app
        .get(&format!("/si/mono/accounts/{account_id}?refresh=true"))
        .await;
    assert!(refreshed.reauth_required, "{refreshed:?}");
    let stored: AccountView = app.get(&format!("/si/mono/accounts/{account_id}")).await;
    assert!(stored.reauth_required, "stays so until a reauth completes");

    let link = widget_link(
        app,
        json!({"scope": "reauth", "account": account_id, "redirectUrl": "https://dashboard.example/cb"}),
    )
    .await;
    assert_eq!(link.scope, Scope::Reauth);
    let (code, _) = follow_widget(&link.mono_url).await;
    let account: AccountView = app
        .post("/si/mono/exchange", json!({"code": code, "ref": link.r#ref}))
        .await;
    assert_eq!(account.id, account_id, "same account: idempotent");
    assert!(!account.reauth_required);

    let linked: Vec<AccountView> = app.get("/si/mono/accounts?linkedOnly=true").await;
    assert_eq!(linked.len(), 1, "still one account");
}

#[sqlx::test]
async fn an_account_linked_to_another_organization_is_409(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account_id = s.link_new_account(5).await;
    let other = tenants::create_tenant(&pool, "Other Org").await.unwrap();

    // The same bank account authorised again, this time reaching the other organization.
    let started = client(&s.sandbox)
        .initiate(&InitiateRequest::Reauth(ReauthInitiate {
            account: account_id.clone(),
            meta: InitiateMeta {
                reference: Some("other-org-ref-1".into()),
            },
            redirect_url: Some("https://other.example/cb".parse().unwrap()),
        }))
        .await
        .unwrap();
    let (code, _) = follow_widget(started.mono_url.as_str()).await;
    let (status, body) = s
        .app
        .call(
            Method::POST,
            "/si/mono/exchange",
            Some(&other.api_key),
            Some(&json!({"code": code})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(assert_failure(&body), "account_linked_elsewhere");

    // And the other organization cannot see it.
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/si/mono/accounts/{account_id}"),
            Some(&other.api_key),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[sqlx::test]
async fn every_invalid_widget_link_field_is_400_naming_it(pool: PgPool) {
    let s = TestApp::builder(pool).with_sandbox().start().await;
    let app = &s.app;
    let ok_customer = json!({"name": "Ada", "email": "ada@acme.ng"});
    let cases = [
        (
            json!({"customer": ok_customer, "redirectUrl": "not a url"}),
            "redirectUrl",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": "ftp://x.example/cb"}),
            "redirectUrl",
        ),
        (json!({"customer": ok_customer}), "redirectUrl"),
        (json!({"redirectUrl": "https://x.example/cb"}), "customer"),
        (
            json!({"customer": {"name": "Ada"}, "redirectUrl": "https://x.example/cb"}),
            "customer.email",
        ),
        (
            json!({"customer": {"name": "Ada", "email": "nope"}, "redirectUrl": "https://x.example/cb"}),
            "customer.email",
        ),
        (
            json!({"customer": {"email": "ada@acme.ng"}, "redirectUrl": "https://x.example/cb"}),
            "customer.name",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "meta": {"ref": "short"}}),
            "meta.ref",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "scope": "admin"}),
            "scope",
        ),
        (
            json!({"redirectUrl": "https://x.example/cb", "scope": "reauth"}),
            "account",
        ),
        (
            json!({"redirectUrl": "https://x.example/cb", "scope": "reauth", "account": "acc_unknown_1"}),
            "account",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "institution": {"id": "", "auth_method": "internet_banking"}}),
            "institution",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "colour": "red"}),
            "colour",
        ),
    ];
    let long = |n: usize| "a".repeat(n);
    let over_limit = [
        (
            json!({"customer": {"id": long(101)}, "redirectUrl": "https://x.example/cb"}),
            "customer.id",
        ),
        (
            json!({"customer": {"name": long(201), "email": "ada@acme.ng"}, "redirectUrl": "https://x.example/cb"}),
            "customer.name",
        ),
        (
            json!({"customer": {"name": "Ada", "email": format!("{}@acme.ng", long(250))}, "redirectUrl": "https://x.example/cb"}),
            "customer.email",
        ),
        (
            json!({"customer": {"name": "Ada", "email": "ada@acme.ng", "identity": {"type": "bvn", "number": long(31)}}, "redirectUrl": "https://x.example/cb"}),
            "customer.identity.number",
        ),
        (
            json!({"customer": {"name": "Ada", "email": "ada@acme.ng", "identity": {"type": long(21), "number": "1"}}, "redirectUrl": "https://x.example/cb"}),
            "customer.identity.type",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": format!("https://x.example/{}", long(2040))}),
            "redirectUrl",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "institution": {"id": long(101), "auth_method": "internet_banking"}}),
            "institution.id",
        ),
        (
            json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "institution": {"id": "i", "auth_method": long(51)}}),
            "institution.auth_method",
        ),
        (
            json!({"redirectUrl": "https://x.example/cb", "scope": "reauth", "account": long(101)}),
            "account",
        ),
    ];
    let refs_before = count(&app.pool, "mono_link_refs").await;
    for (body, field) in over_limit {
        let (status, resp) = app.post_raw("/si/mono/widget-link", body.clone()).await;
        assert_eq!(status, 400, "{field} -> {resp}");
        assert!(
            resp["error"]["fields"][field]
                .as_str()
                .is_some_and(|m| m.contains("at most")),
            "{field} should be named as too long: {resp}"
        );
    }
    assert_eq!(
        count(&app.pool, "mono_link_refs").await,
        refs_before,
        "nothing stored for a refused link"
    );
    let (status, resp) = app
        .post_raw("/si/mono/exchange", json!({"code": "c", "ref": long(201)}))
        .await;
    assert_eq!(status, 400, "{resp}");
    assert!(resp["error"]["fields"]["ref"].is_string(), "{resp}");
    for (body, field) in cases {
        let (status, resp) = app.post_raw("/si/mono/widget-link", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {resp}");
        assert!(
            resp["error"]["fields"][field].is_string(),
            "{body} should name {field}: {resp}"
        );
    }
    // A ref already used.
    widget_link(
        app,
        json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "meta": {"ref": "taken-ref-0001"}}),
    )
    .await;
    let (status, resp) = app
        .post_raw(
            "/si/mono/widget-link",
            json!({"customer": ok_customer, "redirectUrl": "https://x.example/cb", "meta": {"ref": "taken-ref-0001"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(resp["error"]["fields"]["meta.ref"].is_string(), "{resp}");

    for (body, field) in [
        (json!({"code": ""}), "code"),
        (json!({}), "code"),
        (json!({"code": 42}), "code"),
        (json!({"code": "abc", "ref": "not-a-ref-of-ours"}), "ref"),
    ] {
        let (status, resp) = app.post_raw("/si/mono/exchange", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {resp}");
        assert!(
            resp["error"]["fields"][field].is_string(),
            "{body} should name {field}: {resp}"
        );
    }
    let (status, resp) = app
        .post_raw(
            "/si/mono/exchange",
            json!({"code": "code_that_mono_never_issued"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_failure(&resp), "invalid_code");
}

#[sqlx::test]
async fn listing_accounts_linked_only_or_monos_list_for_admins(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let a = s.link_new_account(3).await;
    let b = s.link_new_account(3).await;

    let (linked, meta) = app
        .get_page::<AccountView>("/si/mono/accounts?linkedOnly=true")
        .await;
    let ids: Vec<&str> = linked.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str()]);
    assert!(meta.next.is_none(), "{meta:?}");
    assert_eq!(meta.total, Some(2));

    let production: Vec<AccountView> = app.get("/si/mono/accounts?linkedOnly=true&env=production").await;
    assert!(production.is_empty(), "{production:?}");

    let (status, body) = app.get_raw("/si/mono/accounts").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(assert_failure(&body), "forbidden");
    assert!(body["message"].as_str().unwrap().contains("linkedOnly=true"));

    let admin = tenants::create_key(&pool, app.tenant.org_id, Role::Admin)
        .await
        .unwrap();
    let (status, body) = app
        .call(
            Method::GET,
            "/si/mono/accounts?page=1",
            Some(&admin.api_key),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["data"].as_array().unwrap().is_empty());
    assert!(body["meta"]["total"].as_i64().unwrap() >= 2);
    // Mono's list carries full BVNs (the sandbox's does): they leave as their last 4 digits.
    for a in body["data"].as_array().unwrap() {
        let bvn = a["bvn"].as_str().unwrap_or_default();
        assert!(bvn.len() <= 4, "{a}");
    }
    assert!(body["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["bvn"].is_string()));

    let (status, body) = app.get_raw("/si/mono/accounts?linkedOnly=maybe").await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["linkedOnly"].is_string(), "{body}");
}

async fn seed_mono_rows(pool: &PgPool, app: &TestApp, account_id: &str) {
    let env: uuid::Uuid = app.env_id("sandbox").parse().unwrap();
    let org = app.tenant.org_id;
    sqlx::query(
        "INSERT INTO invoices (id, org_id, env_id, source, kind, account_id, transaction_id, amount, currency)
         VALUES (gen_random_uuid(), $1, $2, 'mono', 'invoice', $3, 'tx1', 100, 'NGN')",
    )
    .bind(org)
    .bind(env)
    .bind(account_id)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO dlq_records (id, org_id, env_id, account_id, transaction_id, reason, transaction, source)
         VALUES (gen_random_uuid(), $1, $2, $3, 'tx2', 'denylisted', '{}', 'sync')",
    )
    .bind(org)
    .bind(env)
    .bind(account_id)
    .execute(pool)
    .await
    .unwrap();
    for tx in ["tx1", "tx2"] {
        sqlx::query(
            "INSERT INTO eligibility_events (org_id, env_id, account_id, transaction_id, outcome, reason, amount,
                                             currency, narration, source)
             VALUES ($1, $2, $3, $4, 'draft', 'business_signal', 100, 'NGN', 'x', 'sync')",
        )
        .bind(org)
        .bind(env)
        .bind(account_id)
        .bind(tx)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[sqlx::test]
async fn unlink_with_and_without_purge_twice(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let keep = s.link_new_account(3).await;
    let purge = s.link_new_account(3).await;
    seed_mono_rows(&pool, app, &keep).await;
    seed_mono_rows(&pool, app, &purge).await;

    let nothing = Purged {
        invoices: 0,
        dlq: 0,
        events: 0,
    };
    for _ in 0..2 {
        let unlinked: Unlinked = app
            .post(&format!("/si/mono/accounts/{keep}/unlink"), json!({}))
            .await;
        assert!(unlinked.unlinked, "{unlinked:?}");
        assert_eq!(unlinked.purged, nothing);
    }
    let kept = count(&pool, &format!("invoices WHERE account_id = '{keep}'")).await;
    assert_eq!(kept, 1, "without purge the data stays");

    let unlinked: Unlinked = app
        .post(&format!("/si/mono/accounts/{purge}/unlink?purge=true"), json!({}))
        .await;
    assert_eq!(
        unlinked.purged,
        Purged {
            invoices: 1,
            dlq: 1,
            events: 2
        }
    );
    let unlinked: Unlinked = app
        .post(&format!("/si/mono/accounts/{purge}/unlink?purge=true"), json!({}))
        .await;
    assert_eq!(unlinked.purged, nothing);

    let kept: AccountView = app.get(&format!("/si/mono/accounts/{keep}")).await;
    assert!(kept.unlinked_at.is_some(), "{kept:?}");
    let linked: Vec<AccountView> = app.get("/si/mono/accounts?linkedOnly=true").await;
    assert!(linked.is_empty(), "{linked:?}");

    // Sync refuses an unlinked account.
    let (status, body) = app.post_raw("/si/mono/sync", json!({"accountId": keep})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(assert_failure(&body), "account_unlinked");

    let (status, _) = app
        .post_raw("/si/mono/accounts/acc_nobody_has/unlink", json!({}))
        .await;
    assert_eq!(status, 404);
}

#[sqlx::test]
async fn mono_down_is_502_and_mono_slow_is_504(pool: PgPool) {
    let mono = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/auth"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"status": "failed", "message": "upstream exploded", "data": null})),
        )
        .mount(&mono)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/initiate"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)))
        .mount(&mono)
        .await;
    let app = TestApp::builder(pool)
        .mono(&mono.uri(), "test_sk")
        .mono_timeout(Duration::from_millis(300))
        .max_retries(0)
        .start()
        .await;

    let (status, body) = app.post_raw("/si/mono/exchange", json!({"code": "abc"})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(assert_failure(&body), "mono_error");
    assert_eq!(body["error"]["monoStatus"], 500);
    assert_eq!(body["error"]["monoMessage"], "upstream exploded");

    let (status, body) = app
        .post_raw(
            "/si/mono/widget-link",
            json!({"customer": {"name": "Ada", "email": "ada@acme.ng"}, "redirectUrl": "https://x.example/cb"}),
        )
        .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(assert_failure(&body), "mono_timeout");
}

#[sqlx::test]
async fn details_failing_after_exchange_still_stores_the_link(pool: PgPool) {
    let mono = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/auth"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "acc_wm_000001"})))
        .mount(&mono)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_wm_000001"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"status": "failed", "message": "busy", "data": null})),
        )
        .mount(&mono)
        .await;
    let app = TestApp::builder(pool)
        .mono(&mono.uri(), "test_sk")
        .max_retries(0)
        .start()
        .await;
    let account: AccountView = app.post("/si/mono/exchange", json!({"code": "good"})).await;
    assert_eq!(account.id, "acc_wm_000001");
    assert!(account.data_status.is_none(), "{account:?}");
    let linked: Vec<AccountView> = app.get("/si/mono/accounts?linkedOnly=true").await;
    assert_eq!(linked.len(), 1);
}

#[sqlx::test]
async fn refs_and_customers_are_each_organizations_own(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let other_org = tenants::create_tenant(&pool, "Other Org").await.unwrap();
    let other = s.replica().tenant(other_org).start().await;
    let body = |r: &str, email: &str| json!({"customer": {"name": "Ada", "email": email}, "redirectUrl": "https://x.example/cb", "meta": {"ref": r}});
    // The same ref in two organizations: both links are made, and Mono sees two refs.
    let mine = widget_link(&s.app, body("shared-ref-0001", "ada@acme.ng")).await;
    let theirs = widget_link(&other, body("shared-ref-0001", "obi@other.ng")).await;
    assert_eq!(mine.r#ref, "shared-ref-0001");
    assert_eq!(theirs.r#ref, "shared-ref-0001");
    let refs: Vec<String> =
        sqlx::query_scalar("SELECT ref FROM mono_link_refs WHERE client_ref = 'shared-ref-0001'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(refs.len(), 2);
    assert_ne!(refs[0], refs[1]);
    // Taken only within the organization that used it.
    let (status, resp) = s
        .app
        .post_raw("/si/mono/widget-link", body("shared-ref-0001", "ada@acme.ng"))
        .await;
    assert_eq!(status, 400, "{resp}");
    assert!(resp["error"]["fields"]["meta.ref"].is_string(), "{resp}");
    // An exchange naming another organization's ref is refused as for an unknown one.
    let (status, resp) = other
        .post_raw(
            "/si/mono/exchange",
            json!({"code": "whatever", "ref": refs.iter().find(|r| mine.r#ref != **r).unwrap()}),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
    // A customer id seen by one organization is unknown to the other, exactly as one that never was.
    let customer = mine.customer.id.clone().expect("Mono's customer id");
    let existing = |id: &str| json!({"customer": {"id": id}, "redirectUrl": "https://x.example/cb"});
    let _: WidgetLink = s.app.post("/si/mono/widget-link", existing(&customer)).await;
    let (status, foreign) = other.post_raw("/si/mono/widget-link", existing(&customer)).await;
    let (unknown_status, unknown) = other
        .post_raw("/si/mono/widget-link", existing("cus_never_was"))
        .await;
    assert_eq!(status, 400, "{foreign}");
    assert_eq!((status, &foreign["error"]), (unknown_status, &unknown["error"]));
    assert!(foreign["error"]["fields"]["customer.id"].is_string(), "{foreign}");
}

#[sqlx::test]
async fn unlink_with_purge_never_deletes_a_signed_invoice(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(300).await;
    let synced: SyncOutcome = app.post("/si/mono/sync", json!({"accountId": account})).await;
    let drafted = synced.drafted as i64;
    assert!(drafted >= 2, "{synced:?}");
    // One draft signed (as the review flow leaves it); the rest stay drafts.
    let signed: uuid::Uuid = sqlx::query_scalar(
        "UPDATE invoices SET status = 'SIGNED', irn = 'INV1-TEST0001-20260101', signed_at = now(),
                signed_payload = '{}', signature = '{}'
         WHERE id = (SELECT id FROM invoices WHERE account_id = $1 ORDER BY id LIMIT 1) RETURNING id",
    )
    .bind(&account)
    .fetch_one(&pool)
    .await
    .unwrap();

    let unlinked: Unlinked = app
        .post(
            &format!("/si/mono/accounts/{account}/unlink?purge=true"),
            json!({}),
        )
        .await;
    assert_eq!(unlinked.purged.invoices, drafted - 1, "{unlinked:?}");
    let left: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT id, status FROM invoices WHERE account_id = $1")
            .bind(&account)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left, vec![(signed, "SIGNED".to_string())]);
}

#[sqlx::test]
async fn a_cursor_past_any_page_is_refused_not_overflowed(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(5).await;
    for cursor in [
        "v2.20260101.18446744073709551615.-",
        "v2.20260101.4294967296.-",
        "v1.20260101.4294967296.-",
        "v1.20260101.99999999999999999999.-",
    ] {
        let (status, body) = app
            .post_raw(
                "/si/mono/sync",
                json!({"accountId": account, "cursor": cursor, "pageSize": 500}),
            )
            .await;
        assert_eq!(status, 400, "{cursor}: {body}");
        assert_eq!(assert_failure(&body), "invalid_request");
        assert!(body["error"]["fields"]["cursor"].is_string(), "{cursor}: {body}");
    }
    // The largest positions a cursor may hold are valid: an answer, not a panic.
    for cursor in ["v2.20260101.4294967295.-", "v1.20260101.4294967295.-"] {
        let _: SyncOutcome = app
            .post(
                "/si/mono/sync",
                json!({"accountId": account, "cursor": cursor, "pageSize": 500}),
            )
            .await;
    }
}
