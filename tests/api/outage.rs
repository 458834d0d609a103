//! A database outage while webhooks arrive: every delivery answered 2xx is stored and
//! processed exactly once; those answered 5xx meanwhile are sent again (as Mono does) and
//! end stored once too; the service recovers by itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::helpers::*;
use mono::signature;

const DELIVERIES: usize = 240;
const SENDERS: usize = 8;

#[sqlx::test]
async fn a_database_outage_under_webhook_load_loses_and_doubles_nothing(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let direct = PgPool::connect_with(conn.clone()).await.unwrap();
    let target = format!("{}:{}", conn.get_host(), conn.get_port());
    let proxy = TcpProxy::start(target).await;
    let proxied = conn.clone().host("127.0.0.1").port(proxy.port);
    let app = TestApp::builder(db::pool_with(proxied, 8)).start().await;
    let env_id = app.env_id("sandbox");
    sqlx::query(
        "INSERT INTO mono_accounts (id, org_id, env_id, currency, data_status) VALUES ('acc_outage', $1, $2::uuid, 'NGN', 'AVAILABLE')",
    )
    .bind(app.tenant.org_id)
    .bind(&env_id)
    .execute(&direct)
    .await
    .unwrap();

    let next = Arc::new(AtomicUsize::new(0));
    let (ok_first, failed_answers) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let send_all = (0..SENDERS).map(|_| {
        let (next, ok_first, failed_answers) = (next.clone(), ok_first.clone(), failed_answers.clone());
        let app = &app;
        async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= DELIVERIES {
                    break;
                }
                let body = serde_json::to_vec(&json!({
                    "event": "transaction.updated",
                    "event_id": format!("evt_outage_{i}"),
                    "data": {"account": "acc_outage", "transaction": {
                        "id": format!("tx_outage_{i}"), "type": "credit", "amount": 500_000 + i as i64,
                        "currency": "NGN", "date": "2026-01-05T10:00:00.000Z",
                        "narration": format!("NIP/GTB/ACME LTD/Payment for invoice OUT-{i}")}}
                }))
                .unwrap();
                // Mono's behaviour: anything but a 2xx is sent again, a little later.
                for attempt in 0.. {
                    assert!(attempt < 600, "delivery {i} never accepted");
                    let ts = Utc::now().timestamp().to_string();
                    let sig = signature::sign(WEBHOOK_SECRET.as_bytes(), ts.parse().unwrap(), &body);
                    let answer = app
                        .http()
                        .post(app.url("/si/mono/webhook"))
                        .header("content-type", "application/json")
                        .header(signature::HEADER_TIMESTAMP, ts)
                        .header(signature::HEADER_SIGNATURE, sig)
                        .body(body.clone())
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status().is_success() => {
                            if attempt == 0 {
                                ok_first.fetch_add(1, Ordering::SeqCst);
                            }
                            break;
                        }
                        Ok(r) => {
                            assert!(r.status().is_server_error(), "{}", r.status());
                            failed_answers.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            failed_answers.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    });
    let outage = async {
        wait_for(
            "a third of the deliveries to be sent",
            Duration::from_secs(60),
            || async { next.load(Ordering::SeqCst) > DELIVERIES / 3 },
        )
        .await;
        proxy.cut();
        wait_for(
            "deliveries to be refused during the outage",
            Duration::from_secs(60),
            || async { failed_answers.load(Ordering::SeqCst) >= SENDERS },
        )
        .await;
        proxy.restore();
    };
    tokio::join!(futures::future::join_all(send_all), outage);

    // Everything ends processed once: one delivery, one ledger row and one draft per event.
    wait_for(
        "the worker to process every delivery",
        Duration::from_secs(120),
        || async {
            count(&direct, "webhook_deliveries WHERE status = 'processed'").await == DELIVERIES as i64
        },
    )
    .await;
    assert_eq!(count(&direct, "webhook_deliveries").await, DELIVERIES as i64);
    assert_eq!(
        count(&direct, "mono_transactions WHERE account_id = 'acc_outage'").await,
        DELIVERIES as i64
    );
    assert_eq!(
        count(&direct, "invoices WHERE account_id = 'acc_outage'").await,
        DELIVERIES as i64,
        "one draft per transaction, none twice"
    );
    assert_eq!(
        count(&direct, "jobs WHERE kind = 'webhook' AND status <> 'done'").await,
        0
    );
    let refused = failed_answers.load(Ordering::SeqCst);
    assert!(refused > 0, "the outage refused some deliveries");
    eprintln!(
        "outage: {DELIVERIES} deliveries, {} accepted at once, {refused} refused answers during the outage, all stored and processed once",
        ok_first.load(Ordering::SeqCst)
    );
}
