//! The logs of a full run at debug level, in both formats, carry no secret: not the Mono secret
//! key, the webhook secret, an API key, an exchange code, a full BVN, an account number, MBS's
//! API key and secret, `DATA_ENCRYPTION_KEY` or an organization's MBS crypto keys.

use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{
    call, database_url_for, free_port, open_widget, query_value, raw, run_cli, wait_for, Service, BIN,
};
use mono::signature;

const MONO_SECRET: &str = "live_sk_S3CR3T_monokey_8c1f2e";
const WEBHOOK_SECRET: &str = "whsec_S3CR3T_hook_0d9a7b";
const BVN: &str = "22298765431";
/// `DATA_ENCRYPTION_KEY` of the run: base64 of the 32 bytes "S3CR3T data key, 32 bytes long!!".
const DATA_KEY: &str = "UzNDUjNUIGRhdGEga2V5LCAzMiBieXRlcyBsb25nISE=";

async fn full_run(url: &str, format: &str) -> (String, Vec<String>) {
    let sandbox_port = free_port();
    let log = std::env::temp_dir().join(format!("tpm-secrets-{}-{format}.log", std::process::id()));
    let file = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--sandbox", "--sandbox-port", &sandbox_port.to_string()])
        .env("DATABASE_URL", url)
        .env("MONO_SECRET_KEY", MONO_SECRET)
        .env("MONO_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("DATA_ENCRYPTION_KEY", DATA_KEY)
        .env_remove("MBS_BASE_URL")
        .env("LOG_FORMAT", format)
        .env("RUST_LOG", "debug")
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let mut service = Service::start(command);
    service.wait_ready(Duration::from_secs(30)).await;
    let base = service.base.clone();
    let out = run_cli(url, &["tenant", "create", "--name", "Secrets", "--json"]);
    let tenant: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = tenant["apiKey"].as_str().unwrap().to_string();
    let mut secrets = vec![
        MONO_SECRET.to_owned(),
        WEBHOOK_SECRET.to_owned(),
        key.clone(),
        BVN.to_owned(),
        DATA_KEY.to_owned(),
        sandbox::mbs::state::DEMO_API_KEY.to_owned(),
        sandbox::mbs::state::DEMO_API_SECRET.to_owned(),
    ];

    // MBS: a code list through the built-in MBS sandbox, and the organization's crypto keys.
    let (status, list) = call(
        Method::GET,
        &format!("{base}/si/mbs/resources/currencies"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let keys_file = crate::helpers::crypto_keys_file();
    let keys: Value = serde_json::from_slice(&keys_file).unwrap();
    for field in ["public_key", "certificate"] {
        secrets.push(keys[field].as_str().unwrap().to_owned());
    }
    let uploaded = raw(
        Method::PUT,
        &format!("{base}/si/org/crypto-keys"),
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        keys_file,
    )
    .await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.text());

    let (status, link) = call(
        Method::POST,
        &format!("{base}/si/mono/widget-link"),
        Some(&key),
        Some(&json!({
            "customer": {"name": "Ada Obi", "email": "ada@acme.ng", "identity": {"type": "bvn", "number": BVN}},
            "redirectUrl": "https://dash.example/cb"
        })),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let location = open_widget(link["data"]["monoUrl"].as_str().unwrap()).await;
    let code = query_value(&location, "code").unwrap();
    secrets.push(code.clone());
    let (status, account) = call(
        Method::POST,
        &format!("{base}/si/mono/exchange"),
        Some(&key),
        Some(&json!({"code": code})),
    )
    .await;
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
    // The link queued a first sync in the background (its logs are scanned too); the API
    // sync waits its turn behind it.
    let (status, sync) = wait_for("the API sync to run", Duration::from_secs(30), || async {
        let (status, sync) = call(
            Method::POST,
            &format!("{base}/si/mono/sync"),
            Some(&key),
            Some(&json!({"accountId": id, "pageSize": 100})),
        )
        .await;
        (status != 409 || sync["error"]["code"] != "sync_in_progress").then_some((status, sync))
    })
    .await;
    assert_eq!(status, 200, "{sync}");
    // A wrong key, a webhook in each authentication form, and one refused.
    let (status, _) = call(
        Method::GET,
        &format!("{base}/si/mono/settings"),
        Some("tpm_wrong_key_value"),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let body = serde_json::to_vec(&json!({
        "event": "mono.events.account_updated", "event_id": "evt_secrets_1",
        "data": {"account": {"_id": id, "accountNumber": "0123456789", "bvn": BVN}, "meta": {"data_status": "AVAILABLE"}}
    }))
    .unwrap();
    let ts = Utc::now().timestamp();
    let sig = signature::sign(WEBHOOK_SECRET.as_bytes(), ts, &body);
    let hook = format!("{base}/si/mono/webhook");
    let signed = raw(
        Method::POST,
        &hook,
        &[
            ("content-type", "application/json"),
            (signature::HEADER_TIMESTAMP, ts.to_string().as_str()),
            (signature::HEADER_SIGNATURE, sig.as_str()),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(signed.status, 200);
    let by_header = raw(
        Method::POST,
        &hook,
        &[
            ("content-type", "application/json"),
            (signature::HEADER_WEBHOOK_SECRET, WEBHOOK_SECRET),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(by_header.status, 200);
    let refused = raw(
        Method::POST,
        &hook,
        &[
            ("content-type", "application/json"),
            (signature::HEADER_WEBHOOK_SECRET, "whsec_guess_S3CR3T"),
        ],
        body,
    )
    .await;
    assert_eq!(refused.status, 401);
    secrets.push("whsec_guess_S3CR3T".to_owned());
    // Every account number the sandbox holds.
    let (_, customers) = call(
        Method::GET,
        &format!("http://127.0.0.1:{sandbox_port}/_sandbox/customers"),
        None,
        None,
    )
    .await;
    for c in customers["data"].as_array().unwrap() {
        for a in c["bank_accounts"].as_array().unwrap() {
            secrets.push(a["account_number"].as_str().unwrap().to_owned());
        }
    }
    secrets.push("0123456789".to_owned());

    service.terminate();
    service.wait_exit(Duration::from_secs(30)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    (text, secrets)
}

#[sqlx::test]
async fn no_secret_reaches_the_logs_in_either_format(_opts: PgPoolOptions, conn: PgConnectOptions) {
    let url = database_url_for(&conn);
    for format in ["text", "json"] {
        let (log, secrets) = full_run(&url, format).await;
        assert!(
            log.lines().count() > 50,
            "a debug-level run logs plenty: {} lines",
            log.lines().count()
        );
        eprintln!(
            "{format}: {} log lines, {} secrets checked",
            log.lines().count(),
            secrets.len()
        );
        for secret in &secrets {
            if let Some(line) = log.lines().find(|l| l.contains(secret.as_str())) {
                panic!("{format} log carries a secret ({}…): {line}", &secret[..4]);
            }
        }
    }
}
