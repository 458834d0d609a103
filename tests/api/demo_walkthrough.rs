//! The walk-through `taxpoynt-mono demo` prints, run as printed: every `curl` line goes
//! through bash against a running service wired to the sandbox (Mono and MBS), with the
//! variables the text tells the user to export, and each answer is checked, from the widget
//! link to a signed e-invoice, its QR code and its printable page. A step that rots fails here.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::PgPool;
use taxpoynt_mono::services::demo::{attach_sandbox_business, ensure_demo, render, steps, SandboxBusiness};

use crate::helpers::TestApp;

/// Runs one shell line with `env`; answers its stdout (the command must succeed).
async fn sh(line: &str, env: &HashMap<String, String>) -> String {
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(line)
        .envs(env)
        .output()
        .await
        .expect("bash runs");
    assert!(
        out.status.success(),
        "`{line}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn success(step: &str, stdout: &str) -> Value {
    let body: Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{step}: not JSON ({e}): {stdout}"));
    assert_eq!(body["status"], "successful", "{step}: {body}");
    body
}

/// The code the `/demo/callback` page shows.
fn code_on_page(html: &str) -> String {
    let start = html.find("<pre id=\"code\">").expect("the page shows a code") + "<pre id=\"code\">".len();
    let end = start + html[start..].find("</pre>").expect("the code ends");
    html[start..end].to_string()
}

#[sqlx::test]
async fn the_printed_walk_through_runs_against_a_service(pool: PgPool) {
    let sa = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let base = sa.app.url("");
    let base = base.trim_end_matches('/');
    let demo = ensure_demo(&pool).await.expect("demo organization");
    assert!(!demo.reused, "the first run creates the organization");
    // What `serve --sandbox` does at start: the demo organization gets the MBS sandbox's demo
    // business (its crypto keys, for the QR code).
    let business = sa.mbs_business().await;
    let application = sa.replica().application().await;
    let attached = attach_sandbox_business(
        application.state(),
        &SandboxBusiness {
            business_id: business.business_id.clone(),
            service_id: business.service_id.clone(),
            tin: business.tin.clone(),
            crypto_keys_txt: business.crypto_keys_txt(),
        },
    )
    .await
    .expect("the business attached");
    assert!(attached);
    let text = render(base, &demo);

    let mut env: HashMap<String, String> = HashMap::new();
    for line in text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("export "))
    {
        let (name, value) = line.split_once('=').expect("export NAME=value");
        env.insert(name.to_string(), value.to_string());
    }
    assert_eq!(env.get("TPM").map(String::as_str), Some(base));
    assert_eq!(env.get("KEY"), Some(&demo.api_key));

    let commands: Vec<&str> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert_eq!(commands.len(), steps(base).len(), "one command per step:\n{text}");

    for (i, command) in commands.iter().enumerate() {
        let out = sh(command, &env).await;
        match i {
            9 => {
                assert!(
                    out.starts_with("<svg") || out.starts_with("<?xml"),
                    "the QR code: {out}"
                );
                continue;
            }
            10 => {
                assert!(out.starts_with("<!doctype html>"), "the page: {out}");
                assert!(
                    out.contains(&env["IRN"]) && out.contains("<svg"),
                    "IRN and QR on the page"
                );
                continue;
            }
            _ => {}
        }
        let body = success(command, &out);
        let data = &body["data"];
        match i {
            0 => {
                // "Open data.monoUrl in a browser": follow the sandbox's widget to the page.
                let mono_url = data["monoUrl"].as_str().expect("monoUrl");
                env.insert("MONO_URL".into(), mono_url.into());
                let page = sh("curl -s -L \"$MONO_URL\"", &env).await;
                let code = code_on_page(&page);
                assert!(!code.is_empty(), "{page}");
                env.insert("CODE".into(), code);
            }
            1 => {
                let id = data["id"].as_str().expect("data.id of the exchange");
                env.insert("ACCOUNT".into(), id.into());
            }
            2 => {
                assert!(
                    data["fetched"].as_u64().unwrap() > 0,
                    "the sync fetched nothing: {body}"
                );
                let drafted = data["drafted"].as_u64().unwrap();
                let dlq = data["dlq"].as_u64().unwrap();
                assert!(drafted > 0 && dlq > 0, "sandbox data has both kinds: {body}");
            }
            6 => assert_eq!(data["status"], "CONFIRMED", "{body}"),
            7 => {
                assert_eq!(data["status"], "VALIDATED", "{body}");
                env.insert("IRN".into(), data["irn"].as_str().expect("the IRN").into());
            }
            8 => {
                assert_eq!(data["status"], "SIGNED", "{body}");
                assert_eq!(data["submission"]["status"], "accepted", "{body}");
            }
            _ => {
                let items = data
                    .as_array()
                    .unwrap_or_else(|| panic!("step {}: a list: {body}", i + 1));
                assert!(!items.is_empty(), "step {}: an empty list: {body}", i + 1);
                let account = env["ACCOUNT"].as_str();
                assert!(
                    items.iter().all(|item| item["accountId"] == account),
                    "step {}: another account's items: {body}",
                    i + 1
                );
                if i == 4 {
                    assert!(
                        items
                            .iter()
                            .all(|item| item["kind"] == "invoice" && item["totals"].is_object()),
                        "{body}"
                    );
                    env.insert("INVOICE".into(), items[0]["id"].as_str().unwrap().into());
                }
            }
        }
    }

    let again = ensure_demo(&pool).await.expect("demo again");
    assert!(again.reused);
    assert_eq!(again.org_id, demo.org_id);
    assert_ne!(again.api_key, demo.api_key, "each run prints a new key");
}
