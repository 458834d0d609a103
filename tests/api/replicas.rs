//! Two replicas on one database, each with its own pools, caches and job worker: syncs and
//! webhooks driven at both at once. No transaction is decided twice, none is lost.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

const ACCOUNTS: usize = 6;
const PER_ACCOUNT: usize = 300;
const EVENTS: usize = 100;

#[sqlx::test]
async fn two_replicas_share_syncs_and_webhooks_without_loss_or_duplicates(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let b = s.replica().start().await;
    let a = &s.app;
    let b = &b;
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(s.link_new_account(PER_ACCOUNT).await);
    }

    // Every account synced through both replicas at once, with different page sizes.
    let syncs = accounts.iter().map(|account| async move {
        let (x, y) = tokio::join!(
            sync_to_end(a, account, 40, WhenBusy::Wait),
            sync_to_end(b, account, 70, WhenBusy::Wait)
        );
        x + y
    });
    // Every event delivered to both replicas (Mono retrying at another one).
    let accounts = &accounts;
    let events = (0..EVENTS).map(|i| {
        json!({
            "event": if i % 2 == 0 { "transaction.updated" } else { "transaction.settled" },
            "event_id": format!("evt_replicas_{i}"),
            "data": {"account": accounts[i % ACCOUNTS], "transaction": {
                "id": format!("tx_replicas_{i}"), "type": "credit", "amount": 700_000 + i as i64,
                "currency": "NGN", "date": "2026-01-05T10:00:00.000Z",
                "narration": format!("NIP/ZENITH/ACME LTD/Payment for invoice REP-{i}")}}
        })
    });
    let events: Vec<Value> = events.collect();
    let deliveries = events.iter().map(|e| async move {
        let (x, y) = tokio::join!(a.deliver_webhook(e), b.deliver_webhook(e));
        assert_eq!(
            x.delivery_id, y.delivery_id,
            "one delivery, whichever replica took it"
        );
        assert_ne!(x.duplicate, y.duplicate, "{x:?} {y:?}");
    });
    let (fetched, ()) = tokio::join!(futures::future::join_all(syncs), async {
        futures::future::join_all(deliveries).await;
    });
    let fetched: u64 = fetched.iter().sum();
    // A sync after the other replica's re-reads the last day of its window (the ledger
    // skips those as duplicates), so fetched can exceed the history; decided cannot (below).
    assert!(fetched as usize >= ACCOUNTS * PER_ACCOUNT, "{fetched}");

    wait_for(
        "both workers to process every delivery",
        Duration::from_secs(60),
        || async { count(&pool, "webhook_deliveries WHERE status = 'queued'").await == 0 },
    )
    .await;
    assert_eq!(count(&pool, "webhook_deliveries").await, EVENTS as i64);
    assert_eq!(
        count(&pool, "webhook_deliveries WHERE status = 'processed'").await,
        EVENTS as i64
    );
    assert_eq!(
        count(&pool, "mono_transactions").await,
        (ACCOUNTS * PER_ACCOUNT + EVENTS) as i64,
        "every transaction decided exactly once"
    );
    assert_eq!(duplicate_drafts(&pool).await, 0, "no transaction drafted twice");
    assert_eq!(
        count(&pool, "invoices WHERE transaction_id LIKE 'tx_replicas_%'").await,
        EVENTS as i64
    );
    eprintln!(
        "replicas: {} transactions synced through two replicas, {EVENTS} events delivered to both; none lost, none twice",
        ACCOUNTS * PER_ACCOUNT
    );
}
