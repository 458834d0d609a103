//! Tenant isolation, tried exhaustively: three organizations with accounts, rules, invoices,
//! DLQ records, jobs and events each; every endpoint that takes an id is called by every
//! organization with every other's ids (and environment ids). The answer is always 404 (or,
//! for a filter, an empty list), never the other's data, and nothing of the other changes.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;
use sandbox::SandboxHandle;

struct Owned {
    env_id: String,
    account: String,
    rule: String,
    invoice: String,
    dlq: String,
    job: String,
}

async fn populate(app: &TestApp, sandbox: &SandboxHandle) -> Owned {
    let made = create_account(sandbox, json!({"transactions": 150})).await;
    let linked: AccountView = app.post("/si/mono/exchange", json!({"code": made["code"]})).await;
    let account = linked.id;
    let _: SyncOutcome = app
        .post("/si/mono/sync", json!({"accountId": account, "pageSize": 500}))
        .await;
    let rule: RuleView = app
        .create(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": "betting", "accountId": account}),
        )
        .await;
    let invoices: Vec<InvoiceView> = app.get("/si/invoices?limit=1").await;
    let invoice = invoices.first().expect("a draft").id.to_string();
    let (_, dlq) = app.get_raw("/si/mono/dlq?limit=1").await;
    let dlq = dlq["data"][0]["id"].as_str().expect("a DLQ record").to_owned();
    let (status, body) = app
        .post_raw("/si/mono/dlq/replay", json!({"accountId": account}))
        .await;
    assert_eq!(status, 202, "{body}");
    let job = body["data"]["jobId"].as_str().unwrap().to_owned();
    Owned {
        env_id: app.env_id("sandbox"),
        account,
        rule: rule.id.to_string(),
        invoice,
        dlq,
        job,
    }
}

/// What one tenant's rows look like, to show nothing changed.
async fn fingerprint(pool: &PgPool, account: &str) -> Value {
    sqlx::query_scalar(
        "SELECT json_build_object(
            'account', (SELECT row_to_json(a) FROM (SELECT unlinked_at, sync_cursor, data_status FROM mono_accounts WHERE id = $1) a),
            'invoices', (SELECT json_agg(status ORDER BY id) FROM invoices WHERE account_id = $1),
            'dlq', (SELECT json_agg(status ORDER BY id) FROM dlq_records WHERE account_id = $1),
            'rules', (SELECT count(*) FROM eligibility_rules WHERE account_id = $1))",
    )
    .bind(account)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn every_endpoint_answers_404_for_every_other_tenants_ids(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let mut apps = Vec::new();
    for name in ["Org Two", "Org Three"] {
        let tenant = tenants::create_tenant(&pool, name).await.unwrap();
        apps.push(s.replica().tenant(tenant).start().await);
    }
    let apps: Vec<&TestApp> = std::iter::once(&s.app).chain(apps.iter()).collect();
    let mut owned = Vec::new();
    for app in &apps {
        owned.push(populate(app, &s.sandbox).await);
    }
    let before: Vec<Value> =
        futures::future::join_all(owned.iter().map(|o| fingerprint(&pool, &o.account))).await;

    let mut tried = 0;
    for (i, caller) in apps.iter().enumerate() {
        for (j, other) in owned.iter().enumerate() {
            if i == j {
                continue;
            }
            let (acc, env) = (&other.account, &other.env_id);
            let not_found: Vec<(Method, String, Option<Value>)> = vec![
                (Method::GET, format!("/si/mono/accounts/{acc}"), None),
                (Method::GET, format!("/si/mono/accounts/{acc}?refresh=true"), None),
                (
                    Method::POST,
                    format!("/si/mono/accounts/{acc}/unlink?purge=true"),
                    None,
                ),
                (Method::GET, format!("/si/mono/cursor?accountId={acc}"), None),
                (
                    Method::POST,
                    "/si/mono/sync".into(),
                    Some(json!({"accountId": acc})),
                ),
                (
                    Method::POST,
                    "/si/mono/allow-deny".into(),
                    Some(json!({"list": "allow", "pattern": "x", "accountId": acc})),
                ),
                (
                    Method::DELETE,
                    format!("/si/mono/allow-deny/{}", other.rule),
                    None,
                ),
                (Method::GET, format!("/si/invoices/{}", other.invoice), None),
                (
                    Method::POST,
                    format!("/si/invoices/{}/confirm", other.invoice),
                    Some(json!({})),
                ),
                (
                    Method::POST,
                    format!("/si/invoices/{}/discard", other.invoice),
                    Some(json!({})),
                ),
                (
                    Method::POST,
                    format!("/si/invoices/{}/validate", other.invoice),
                    Some(json!({})),
                ),
                (
                    Method::POST,
                    format!("/si/invoices/{}/sign", other.invoice),
                    Some(json!({})),
                ),
                (
                    Method::POST,
                    format!("/si/mono/dlq/{}/replay", other.dlq),
                    Some(json!({})),
                ),
                (
                    Method::POST,
                    format!("/si/mono/dlq/{}/resolve", other.dlq),
                    Some(json!({"resolution": "dismissed"})),
                ),
                (Method::GET, format!("/si/mono/jobs/{}", other.job), None),
                (Method::GET, format!("/si/mono/settings?envId={env}"), None),
                (
                    Method::PUT,
                    format!("/si/mono/settings?envId={env}"),
                    Some(json!({"floor": 1})),
                ),
                (Method::GET, format!("/si/mono/events?envId={env}"), None),
                (Method::GET, format!("/si/mono/dlq?envId={env}"), None),
                (Method::GET, format!("/si/invoices?envId={env}"), None),
                (Method::GET, format!("/si/mono/allow-deny?envId={env}"), None),
                (Method::GET, format!("/si/mono/webhook-status?envId={env}"), None),
                (
                    Method::POST,
                    "/si/mono/sync-stored".into(),
                    Some(json!({"envId": env})),
                ),
                (
                    Method::POST,
                    "/si/mono/dlq/replay".into(),
                    Some(json!({"envId": env})),
                ),
            ];
            for (method, path, body) in not_found {
                let (status, answer) = caller
                    .call(method.clone(), &path, Some(caller.key()), body.as_ref())
                    .await;
                assert_eq!(status, 404, "{method} {path} as another tenant: {answer}");
                assert!(answer["data"].is_null(), "{method} {path}: {answer}");
                tried += 1;
            }
            // A reauth link for another's account is refused exactly as for an account that
            // does not exist (400 naming the field), so ids cannot be probed.
            let reauth = |account: &str| json!({"redirectUrl": "https://x.example/cb", "scope": "reauth", "account": account});
            let (status, theirs) = caller.post_raw("/si/mono/widget-link", reauth(acc)).await;
            let (unknown_status, unknown) = caller
                .post_raw("/si/mono/widget-link", reauth("acc_that_never_was"))
                .await;
            assert_eq!(
                (status, &theirs["error"]),
                (unknown_status, &unknown["error"]),
                "{theirs} vs {unknown}"
            );
            assert!(status == 400 || status == 404, "{theirs}");
            tried += 1;
            // Filters by another tenant's account: an empty list, never its rows.
            for path in [
                format!("/si/mono/events?accountId={acc}"),
                format!("/si/mono/dlq?accountId={acc}"),
                format!("/si/invoices?accountId={acc}"),
                format!("/si/mono/allow-deny?accountId={acc}"),
            ] {
                let (status, answer) = caller.get_raw(&path).await;
                assert!(status == 404 || status == 200, "{path}: {status} {answer}");
                if status == 200 {
                    assert_eq!(
                        answer["data"].as_array().map(Vec::len),
                        Some(0),
                        "{path}: {answer}"
                    );
                }
                tried += 1;
            }
        }
    }
    let after: Vec<Value> =
        futures::future::join_all(owned.iter().map(|o| fingerprint(&pool, &o.account))).await;
    assert_eq!(before, after, "no tenant's data changed");
    eprintln!("tenant isolation: {tried} cross-tenant requests, all refused");
}

/// An environment selector given empty is a mistake, not a request for the default
/// environment: 400 naming it, in the query and in a body alike.
#[sqlx::test]
async fn an_empty_environment_selector_is_refused(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    for (path, field) in [
        ("/si/mono/settings?envId=", "envId"),
        ("/si/mono/settings?env=", "env"),
    ] {
        let (status, body) = app.get_raw(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"]["fields"].get(field).is_some(), "{path}: {body}");
    }
    for (selector, field) in [(json!({"envId": ""}), "envId"), (json!({"env": ""}), "env")] {
        let mut rule = json!({"list": "deny", "pattern": "POS"});
        rule.as_object_mut()
            .unwrap()
            .extend(selector.as_object().unwrap().clone());
        let (status, body) = app.post_raw("/si/mono/allow-deny", rule).await;
        assert_eq!(status, 400, "{selector}: {body}");
        assert!(body["error"]["fields"].get(field).is_some(), "{selector}: {body}");
    }
    let (status, rules) = app.get_raw("/si/mono/allow-deny").await;
    assert_eq!(status, 200);
    assert_eq!(rules["data"], json!([]), "nothing was stored");
}
