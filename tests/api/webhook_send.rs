//! `taxpoynt-mono webhook send`: every event of MONO.md, signed, posted by the binary to a
//! running service, is verified, stored and processed; a wrong secret is refused and the
//! command says so.

use std::time::Duration;

use sandbox::trigger::EVENTS;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

async fn send(args: Vec<String>) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args(&args)
        .output()
        .await
        .expect("the binary runs")
}

/// The service's answer: the line after the `event id -> status` line.
fn answer(stdout: &str) -> (String, Value) {
    let mut lines = stdout.lines();
    let head = lines.next().expect("a summary line").to_string();
    let body: Value = serde_json::from_str(lines.next().expect("the answer")).expect("JSON answer");
    (head, body)
}

#[sqlx::test]
async fn every_event_is_sent_signed_and_processed(pool: PgPool) {
    let sa = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let account = sa.link_new_account(20).await;
    let to = sa.app.url("/si/mono/webhook");
    // account_unlinked goes last: after it, the account's events are ignored.
    let mut events: Vec<&str> = EVENTS
        .iter()
        .copied()
        .filter(|e| *e != "mono.events.account_unlinked")
        .collect();
    events.push("mono.events.account_unlinked");
    for event in events {
        let out = send(vec![
            "webhook".into(),
            "send".into(),
            event.into(),
            "--to".into(),
            to.clone(),
            "--account".into(),
            account.clone(),
            "--secret".into(),
            "test-webhook-secret".into(),
        ])
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{event}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (head, body) = answer(&stdout);
        assert!(head.starts_with(event) && head.ends_with("-> 200"), "{head}");
        assert_eq!(body["status"], "successful", "{event}: {body}");
        assert_eq!(body["data"]["event"], event);
        assert_eq!(body["data"]["duplicate"], false);
        let id = Uuid::parse_str(body["data"]["deliveryId"].as_str().unwrap()).unwrap();
        let pool = &pool;
        let (status, result) = wait_for(
            &format!("{event} processed"),
            Duration::from_secs(30),
            || async move {
                let row: (String, Option<Value>) =
                    sqlx::query_as("SELECT status, result FROM webhook_deliveries WHERE id = $1")
                        .bind(id)
                        .fetch_one(pool)
                        .await
                        .unwrap();
                (row.0 != "queued").then_some(row)
            },
        )
        .await;
        // All about an account the service knows: each one processed, none ignored.
        assert_eq!(status, "processed", "{event}: {result:?}");
    }
    let (_, view) = sa.app.get_raw(&format!("/si/mono/accounts/{account}")).await;
    assert!(view["data"]["unlinkedAt"].is_string(), "{view}");
    let decided: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM eligibility_events WHERE account_id = $1 AND source = 'webhook'",
    )
    .bind(&account)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(decided >= 1, "the transaction.* events reached the engine");
}

#[sqlx::test]
async fn a_wrong_secret_is_refused_and_the_command_fails(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let out = send(vec![
        "webhook".into(),
        "send".into(),
        "account_updated".into(),
        "--to".into(),
        app.url("/si/mono/webhook"),
        "--secret".into(),
        "not-the-secret".into(),
    ])
    .await;
    assert!(!out.status.success());
    let (head, body) = answer(&String::from_utf8_lossy(&out.stdout));
    assert!(head.ends_with("-> 401"), "{head}");
    assert_eq!(body["status"], "failed");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    let out = send(vec![
        "webhook".into(),
        "send".into(),
        "account_exploded".into(),
        "--to".into(),
        app.url("/si/mono/webhook"),
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown event"));
}
