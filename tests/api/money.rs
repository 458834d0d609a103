//! One path for money (ELIGIBILITY.md, reconciliation on every path): whichever channel brings
//! a transaction, and in whatever order, one sale is invoiced once and a payment status only
//! moves forward. Each test is one of the ways this once went wrong.

use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;
use crate::webhooks::{
    deliver_processed, manual_invoice, org_with_account, payment_status, transaction, tx_event,
};
use mono::signature::PresentedAuth;
use taxpoynt_mono::services::webhooks::{intake, job};

/// Invoices of the environment carrying `reference` (case-insensitively), DISCARDED ones aside.
async fn invoices_for(pool: &PgPool, reference: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM invoices WHERE lower(reference) = lower($1) AND status <> 'DISCARDED'",
    )
    .bind(reference)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn open_dlq(pool: &PgPool, transaction_id: &str) -> (Uuid, String) {
    sqlx::query_as("SELECT id, reason FROM dlq_records WHERE transaction_id = $1 AND status = 'open'")
        .bind(transaction_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn replaying_an_amount_mismatch_never_drafts_a_second_invoice(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    let first = transaction("tx_21001_a", 700_000, "NGN", Some("INV-21001"));
    let result = deliver_processed(app, &tx_event("transaction.settled", &account, first)).await;
    assert_eq!(result["outcome"], "draft", "{result}");
    let second = transaction("tx_21001_b", 1_000_000, "NGN", Some("INV-21001"));
    let result = deliver_processed(app, &tx_event("transaction.settled", &account, second)).await;
    assert_eq!(result["reason"], "amount_mismatch", "{result}");

    let (record, _) = open_dlq(&pool, "tx_21001_b").await;
    let (status, body) = app
        .post_raw(&format!("/si/mono/dlq/{record}/replay"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["outcome"], "dlq", "{body}");
    assert_eq!(body["data"]["reason"], "amount_mismatch", "{body}");
    assert_eq!(invoices_for(&pool, "INV-21001").await, 1);
    assert_eq!(open_dlq(&pool, "tx_21001_b").await.1, "amount_mismatch");
}

#[sqlx::test]
async fn a_replay_that_now_names_an_invoice_pays_it(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    // Denied at first; the rule goes, and the replay finds the invoice its reference names.
    let (status, rule) = app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": "ACME", "field": "narration", "match": "contains"}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let tx = transaction("tx_replay_pay", 500_000, "NGN", Some("INV-3131"));
    let result = deliver_processed(app, &tx_event("transaction.settled", &account, tx)).await;
    assert_eq!(result["reason"], "denylisted", "{result}");
    let invoice = manual_invoice(app, "INV-3131", 500_000, "NGN").await;
    let (status, _) = app
        .delete_raw(&format!(
            "/si/mono/allow-deny/{}",
            rule["data"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);

    let (record, _) = open_dlq(&pool, "tx_replay_pay").await;
    let (status, body) = app
        .post_raw(&format!("/si/mono/dlq/{record}/replay"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["reason"], "reconciled", "{body}");
    assert_eq!(body["data"]["invoiceId"], invoice.to_string(), "{body}");
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    assert_eq!(invoices_for(&pool, "INV-3131").await, 1);
    let resolution: String = sqlx::query_scalar("SELECT resolution FROM dlq_records WHERE id = $1")
        .bind(record)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(resolution, "replayed");
}

/// Adds transactions to a sandbox account; answers their ids in order.
async fn sandbox_transactions(s: &SandboxApp, account: &str, txs: Value) -> Vec<String> {
    let made = s
        .control_post(
            &format!("/_sandbox/accounts/{account}/transactions"),
            json!({"transactions": txs}),
        )
        .await;
    let items = made["data"]["added"]
        .as_array()
        .unwrap_or_else(|| panic!("the sandbox names what it added: {made}"));
    items
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test]
async fn a_sync_page_reconciles_a_payment_of_an_existing_invoice(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    let invoice = manual_invoice(app, "INV-5151", 500_000, "NGN").await;
    sandbox_transactions(
        &s,
        &account,
        json!([
            {"amount": 500_000, "type": "credit", "narration": "NIP/GTB/ACME LTD/Payment INV-5151", "reference": "INV-5151"},
            {"amount": 400_000, "type": "credit", "narration": "NIP/GTB/ACME LTD/Payment INV-5151", "reference": "inv-5151"},
            {"amount": 900_000, "type": "credit", "narration": "NIP/GTB/ACME LTD/Payment INV-6161", "reference": "INV-6161"},
            {"amount": 900_000, "type": "credit", "narration": "NIP/GTB/ACME LTD/Payment INV-6161", "reference": "INV-6161"},
        ]),
    )
    .await;
    sync_to_end(app, &account, 100, WhenBusy::Fail).await;

    // The payment of INV-5151 settles it; the other amount waits in the DLQ.
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    assert_eq!(invoices_for(&pool, "INV-5151").await, 1);
    assert_eq!(
        count(&pool, "dlq_records WHERE reason = 'amount_mismatch'").await,
        1
    );
    // Two payments naming one new reference in one page: one draft, the other its payment.
    assert_eq!(invoices_for(&pool, "INV-6161").await, 1);
    let drafted: Uuid = sqlx::query_scalar("SELECT id FROM invoices WHERE reference = 'INV-6161'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(payment_status(&pool, drafted).await, "settled");
    assert_eq!(
        count(&pool, "mono_transactions WHERE reason = 'reconciled'").await,
        2
    );
}

#[sqlx::test]
async fn a_transaction_held_already_still_moves_its_payment_forward(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    let invoice = manual_invoice(app, "INV-7171", 250_000, "NGN").await;
    let ids = sandbox_transactions(
        &s,
        &account,
        json!([{"amount": 250_000, "type": "credit", "narration": "NIP/GTB/ACME LTD/INV-7171", "reference": "INV-7171"}]),
    )
    .await;
    // Mono says "updated" first: pending.
    let tx = transaction(&ids[0], 250_000, "NGN", Some("INV-7171"));
    let result = deliver_processed(app, &tx_event("transaction.updated", &account, tx.clone())).await;
    assert_eq!(result["outcome"], "reconciled", "{result}");
    assert_eq!(payment_status(&pool, invoice).await, "pending");
    // The sync brings the same transaction, posted: settled, nothing new written.
    sync_to_end(app, &account, 100, WhenBusy::Fail).await;
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    assert_eq!(ledger_rows(&pool, &account).await, 1);
    // A late "updated" copy never moves it back, and says it was a repeat.
    let result = deliver_processed(app, &tx_event("transaction.updated", &account, tx)).await;
    assert_eq!(result["repeat"], true, "{result}");
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    assert_eq!(invoices_for(&pool, "INV-7171").await, 1);
}

/// A sync skips the transactions the ledger holds with the same JSON, but not one whose
/// payment is still pending: the sync is the word that it settled.
#[sqlx::test]
async fn a_held_transaction_whose_payment_is_pending_is_settled_by_a_sync(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    let invoice = manual_invoice(app, "INV-8181", 320_000, "NGN").await;
    let made = s
        .control_post(
            &format!("/_sandbox/accounts/{account}/transactions"),
            json!({"transactions": [{"amount": 320_000, "type": "credit",
                "narration": "NIP/GTB/ACME LTD/Payment for invoice INV-8181", "reference": "INV-8181"}]}),
        )
        .await;
    // Mono says "updated" first, with the transaction exactly as its listing carries it.
    let tx = made["data"]["added"][0].clone();
    let result = deliver_processed(app, &tx_event("transaction.updated", &account, tx)).await;
    assert_eq!(result["outcome"], "reconciled", "{result}");
    assert_eq!(payment_status(&pool, invoice).await, "pending");
    let pages = || async {
        (
            metric_of(app, "sync_pages_total", &[r#"outcome="written""#]).await,
            metric_of(app, "sync_pages_total", &[r#"outcome="held""#]).await,
        )
    };

    sync_to_end(app, &account, 100, WhenBusy::Fail).await;
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    assert_eq!(
        pages().await,
        (1.0, 0.0),
        "the page with a pending payment is written"
    );
    // Settled, the same transaction needs nothing more: the next pass only reads it (so the
    // ledger held it with the JSON Mono lists, and only its payment made the page a write).
    let again: SyncOutcome = app
        .post(
            "/si/mono/sync",
            json!({"accountId": account, "cursor": "v2.-.0.-"}),
        )
        .await;
    assert_eq!((again.fetched, again.drafted), (1, 0), "{again:?}");
    assert_eq!(pages().await, (1.0, 1.0));
    assert_eq!(payment_status(&pool, invoice).await, "settled");
    assert_eq!(ledger_rows(&pool, &account).await, 1);
    assert_eq!(invoices_for(&pool, "INV-8181").await, 1);
}

#[sqlx::test]
async fn a_discarded_invoice_is_never_matched(pool: PgPool) {
    let s = TestApp::builder(pool.clone()).with_sandbox().start().await;
    let app = &s.app;
    let account = s.link_new_account(0).await;
    let discarded = manual_invoice(app, "INV-8181", 300_000, "NGN").await;
    sqlx::query("UPDATE invoices SET status = 'DISCARDED' WHERE id = $1")
        .bind(discarded)
        .execute(&pool)
        .await
        .unwrap();
    let tx = transaction("tx_after_discard", 999_000, "NGN", Some("INV-8181"));
    let result = deliver_processed(app, &tx_event("transaction.settled", &account, tx)).await;
    // Not an amount mismatch against the discarded invoice: a sale of its own.
    assert_eq!(result["outcome"], "draft", "{result}");
    assert_eq!(payment_status(&pool, discarded).await, "none");
    assert_eq!(invoices_for(&pool, "INV-8181").await, 1);
}

/// An application whose deliveries are stored but processed only when the test says: its
/// state, for calling intake and processing directly.
async fn unstarted(pool: &PgPool) -> taxpoynt_mono::state::AppState {
    let application = TestApp::builder(pool.clone()).application().await;
    application.state().clone()
}

async fn take_in(state: &taxpoynt_mono::state::AppState, body: &Value) -> Uuid {
    let auth = PresentedAuth {
        webhook_secret: Some(WEBHOOK_SECRET),
        ..Default::default()
    };
    let receipt = intake::receive(state, auth, &serde_json::to_vec(body).unwrap())
        .await
        .unwrap();
    assert_eq!(receipt.outcome, "queued");
    receipt.delivery_id
}

#[sqlx::test]
async fn updated_and_settled_of_one_transaction_at_once_end_settled(pool: PgPool) {
    let state = unstarted(&pool).await;
    let env = org_with_account(&pool, "Race Org", "acc_race").await;
    let invoice = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO invoices (id, org_id, env_id, source, kind, amount, currency, reference)
         SELECT $1, org_id, id, 'manual', 'invoice', 600000, 'NGN', 'INV-9191' FROM environments WHERE id = $2",
    )
    .bind(invoice)
    .bind(env)
    .execute(&pool)
    .await
    .unwrap();
    for round in 0..8 {
        let tx = transaction(&format!("tx_race_{round}"), 600_000, "NGN", Some("INV-9191"));
        let updated = take_in(&state, &tx_event("transaction.updated", "acc_race", tx.clone())).await;
        let settled = take_in(&state, &tx_event("transaction.settled", "acc_race", tx)).await;
        // Either may win the write: the later state is what stays.
        let (a, b) = if round % 2 == 0 {
            tokio::join!(
                job::process_delivery(&state, updated),
                job::process_delivery(&state, settled)
            )
        } else {
            let (b, a) = tokio::join!(
                job::process_delivery(&state, settled),
                job::process_delivery(&state, updated)
            );
            (a, b)
        };
        a.unwrap();
        b.unwrap();
        assert_eq!(payment_status(&pool, invoice).await, "settled", "round {round}");
        let payment: String =
            sqlx::query_scalar("SELECT status FROM invoice_payments WHERE transaction_id = $1")
                .bind(format!("tx_race_{round}"))
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(payment, "settled", "round {round}");
        sqlx::query("UPDATE invoices SET payment_status = 'none' WHERE id = $1")
            .bind(invoice)
            .execute(&pool)
            .await
            .unwrap();
    }
}

#[sqlx::test]
async fn two_sales_naming_one_new_reference_at_once_make_one_invoice(pool: PgPool) {
    let state = unstarted(&pool).await;
    org_with_account(&pool, "Twice Org", "acc_twice").await;
    for round in 0..8 {
        let reference = format!("INV-55{round:02}");
        let a = transaction(&format!("tx_a_{round}"), 800_000, "NGN", Some(&reference));
        let b = transaction(&format!("tx_b_{round}"), 800_000, "NGN", Some(&reference));
        let a = take_in(&state, &tx_event("transaction.settled", "acc_twice", a)).await;
        let b = take_in(&state, &tx_event("transaction.settled", "acc_twice", b)).await;
        let (ra, rb) = tokio::join!(job::process_delivery(&state, a), job::process_delivery(&state, b));
        let outcomes = [ra.unwrap()["outcome"].clone(), rb.unwrap()["outcome"].clone()];
        assert!(
            outcomes.contains(&json!("draft")) && outcomes.contains(&json!("reconciled")),
            "round {round}: {outcomes:?}"
        );
        assert_eq!(invoices_for(&pool, &reference).await, 1, "round {round}");
        let drafted: Uuid = sqlx::query_scalar("SELECT id FROM invoices WHERE reference = $1")
            .bind(&reference)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(payment_status(&pool, drafted).await, "settled");
    }
}

// ----- transfers between the organization's own accounts --------------------------------------

/// Two linked accounts of one organization, with numbers and holder names, and the state of
/// an application that processes deliveries only when told.
async fn own_accounts(pool: &PgPool) -> taxpoynt_mono::state::AppState {
    let state = unstarted(pool).await;
    let env = org_with_account(pool, "Own Org", "acc_own_a").await;
    sqlx::query(
        "UPDATE mono_accounts SET account_number = '0123456781', name = 'ADA OKAFOR' WHERE id = 'acc_own_a'",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO mono_accounts (id, org_id, env_id, currency, data_status, account_number, name)
         SELECT 'acc_own_b', org_id, id, 'NGN', 'AVAILABLE', '0987654322', 'ADA OKAFOR VENTURES'
         FROM environments WHERE id = $1",
    )
    .bind(env)
    .execute(pool)
    .await
    .unwrap();
    state
}

fn leg(id: &str, kind: &str, amount: i64, narration: &str) -> Value {
    json!({"id": id, "type": kind, "amount": amount, "currency": "NGN", "narration": narration,
           "date": "2026-01-05T10:00:00.000Z"})
}

async fn deliver_now(state: &taxpoynt_mono::state::AppState, account: &str, tx: Value) -> Value {
    let id = take_in(state, &tx_event("transaction.settled", account, tx)).await;
    job::process_delivery(state, id).await.unwrap()
}

async fn dlq_of(pool: &PgPool, transaction_id: &str) -> Option<(String, Option<String>)> {
    sqlx::query_as("SELECT reason, detail FROM dlq_records WHERE transaction_id = $1 AND status = 'open'")
        .bind(transaction_id)
        .fetch_optional(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn both_legs_of_an_own_account_transfer_go_to_the_dlq_whichever_comes_first(pool: PgPool) {
    let state = own_accounts(&pool).await;
    // The debit first: skipped as not income, until its credit names its account.
    let debit = leg("tx_out_1", "debit", 300_000, "TRF TO 0987654322 OWN ACCOUNT");
    let result = deliver_now(&state, "acc_own_a", debit).await;
    assert_eq!(result["reason"], "not_income", "{result}");
    let credit = leg(
        "tx_in_1",
        "credit",
        300_000,
        "NIP/GTB/ADA OKAFOR/TRF FROM SAVINGS",
    );
    let result = deliver_now(&state, "acc_own_b", credit).await;
    assert_eq!(result["reason"], "own_account_transfer", "{result}");
    assert_eq!(
        dlq_of(&pool, "tx_in_1").await,
        Some(("own_account_transfer".into(), Some("acc_own_a/tx_out_1".into())))
    );
    assert_eq!(
        dlq_of(&pool, "tx_out_1").await,
        Some(("own_account_transfer".into(), Some("acc_own_b/tx_in_1".into())))
    );
    assert_eq!(count(&pool, "invoices").await, 0);

    // The credit first: drafted (an allow rule would not help either), then DISCARDED when
    // its debit arrives.
    let credit = leg(
        "tx_in_2",
        "credit",
        450_000,
        "NIP/GTB/ACME LTD/Payment for services",
    );
    let result = deliver_now(&state, "acc_own_b", credit).await;
    assert_eq!(result["outcome"], "draft", "{result}");
    let debit = leg("tx_out_2", "debit", 450_000, "TRANSFER TO ADA OKAFOR VENTURES");
    let result = deliver_now(&state, "acc_own_a", debit).await;
    assert_eq!(result["reason"], "own_account_transfer", "{result}");
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, reason FROM invoices WHERE transaction_id = 'tx_in_2'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("DISCARDED", Some("own_account_transfer"))
    );
    assert_eq!(dlq_of(&pool, "tx_in_2").await.unwrap().0, "own_account_transfer");
    assert!(
        count(
            &pool,
            "monitoring_events WHERE kind = 'invoice_failed' AND reason = 'own_account_transfer'"
        )
        .await
            >= 3
    );
}

#[sqlx::test]
async fn equal_amounts_alone_are_not_a_transfer_and_a_validated_invoice_is_only_flagged(pool: PgPool) {
    let state = own_accounts(&pool).await;
    // Nothing names the other account: a sale and a purchase that happen to be equal.
    let credit = leg(
        "tx_sale",
        "credit",
        300_000,
        "NIP/GTB/GAMMA LTD/Payment for services",
    );
    assert_eq!(deliver_now(&state, "acc_own_b", credit).await["outcome"], "draft");
    let debit = leg("tx_pos", "debit", 300_000, "POS PURCHASE SHOPRITE IKEJA");
    assert_eq!(
        deliver_now(&state, "acc_own_a", debit).await["reason"],
        "not_income"
    );
    assert_eq!(count(&pool, "invoices WHERE status = 'DRAFT'").await, 1);
    assert_eq!(count(&pool, "dlq_records").await, 0);

    // A credit whose invoice moved on before its debit arrived: left alone, flagged.
    let credit = leg(
        "tx_in_v",
        "credit",
        800_000,
        "NIP/GTB/ACME LTD/Payment for services",
    );
    assert_eq!(deliver_now(&state, "acc_own_b", credit).await["outcome"], "draft");
    sqlx::query("UPDATE invoices SET status = 'VALIDATED' WHERE transaction_id = 'tx_in_v'")
        .execute(&pool)
        .await
        .unwrap();
    let debit = leg("tx_out_v", "debit", 800_000, "TRF TO 0987654322");
    assert_eq!(
        deliver_now(&state, "acc_own_a", debit).await["reason"],
        "own_account_transfer"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM invoices WHERE transaction_id = 'tx_in_v'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "VALIDATED");
    assert_eq!(
        count(
            &pool,
            "monitoring_events WHERE kind = 'invoice_failed' AND transaction_id = 'tx_in_v'"
        )
        .await,
        1
    );
}
