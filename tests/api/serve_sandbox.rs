//! The binary end to end: `serve --sandbox` links, reads and syncs an account through the
//! public API with no Mono keys, reaches the MBS sandbox on the same port with no MBS keys,
//! keeps crypto keys with no `DATA_ENCRYPTION_KEY`, and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{call, database_url_for, open_widget, query_value, run_cli, Service, BIN};

#[sqlx::test]
async fn serve_with_the_sandbox_links_and_syncs_an_account(_opts: PgPoolOptions, conn: PgConnectOptions) {
    let url = database_url_for(&conn);
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--sandbox"])
        .env("DATABASE_URL", &url)
        .env_remove("MONO_SECRET_KEY")
        .env_remove("MBS_BASE_URL")
        .env_remove("MBS_API_KEY")
        .env_remove("MBS_API_SECRET")
        .env_remove("DATA_ENCRYPTION_KEY")
        // The test syncs through the API and checks that answer: no first sync on link.
        .env("MONO_SYNC_ON_LINK", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut service = Service::start(command);
    service.wait_ready(Duration::from_secs(20)).await;
    let base = service.base.clone();

    let out = run_cli(&url, &["tenant", "create", "--name", "E2E", "--json"]);
    let tenant: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = tenant["apiKey"].as_str().unwrap().to_string();
    let post = |path: &str, body: Value| {
        let url = format!("{base}{path}");
        let key = key.clone();
        async move { call(Method::POST, &url, Some(&key), Some(&body)).await }
    };

    let (status, link) = post(
        "/si/mono/widget-link",
        json!({"customer": {"name": "Ada Obi", "email": "ada@acme.ng"}, "redirectUrl": "https://dash.example/cb"}),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let location = open_widget(link["data"]["monoUrl"].as_str().unwrap()).await;
    let code = query_value(&location, "code").unwrap();

    let (status, account) = post("/si/mono/exchange", json!({"code": code})).await;
    assert_eq!(status, 200, "{account}");
    let id = account["data"]["id"].as_str().unwrap().to_string();
    let (status, _) = call(
        Method::GET,
        &format!("{base}/si/mono/accounts/{id}?refresh=true"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let (status, sync) = post("/si/mono/sync", json!({"accountId": id, "pageSize": 500})).await;
    assert_eq!(status, 200, "{sync}");
    assert!(sync["data"]["fetched"].as_u64().unwrap() > 0);
    assert_eq!(
        sync["data"]["skipped"].as_u64().unwrap(),
        sync["data"]["fetched"].as_u64().unwrap() - sync["data"]["drafted"].as_u64().unwrap()
    );

    // MBS: the built-in sandbox answers the code lists, and crypto keys are kept sealed with
    // a key made up for the run.
    let (status, list) = call(
        Method::GET,
        &format!("{base}/si/mbs/resources/tax-categories"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let codes: Vec<&str> = list["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert!(codes.contains(&"STANDARD_VAT"), "{list}");
    let keys = crate::helpers::crypto_keys_file();
    let resp = crate::helpers::raw(
        Method::PUT,
        &format!("{base}/si/org/crypto-keys"),
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        keys,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    // SIGTERM: in-flight work finishes and the process exits successfully.
    service.terminate();
    let status = service.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
}

/// `scripts/run.sh`'s first run: `demo` makes the Demo organization, then `serve --sandbox`
/// gives it the MBS sandbox's demo business: its service id and TIN in the profile and its
/// crypto keys on file.
#[sqlx::test]
async fn serve_with_the_sandbox_gives_the_demo_organization_its_mbs_business(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let url = database_url_for(&conn);
    run_cli(&url, &["migrate"]);
    let out = run_cli(&url, &["demo", "--json"]);
    let demo: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = demo["apiKey"].as_str().unwrap().to_string();

    let mut command = Command::new(BIN);
    command
        .args(["serve", "--sandbox"])
        .env("DATABASE_URL", &url)
        .env_remove("MONO_SECRET_KEY")
        .env_remove("MBS_BASE_URL")
        .env_remove("DATA_ENCRYPTION_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut service = Service::start(command);
    service.wait_ready(Duration::from_secs(20)).await;
    let base = service.base.clone();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let key = key.clone();
        async move { call(Method::GET, &url, Some(&key), None).await }
    };
    let (status, profile) = get("/si/org/profile").await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["data"]["serviceId"], sandbox::mbs::state::DEMO_SERVICE_ID);
    assert_eq!(profile["data"]["tin"], sandbox::mbs::state::DEMO_TIN);
    let (status, keys) = get("/si/org/crypto-keys").await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["data"]["present"], true, "{keys}");
    assert!(keys["data"]["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    service.terminate();
    let status = service.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
}
