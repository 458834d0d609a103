//! A SIGNED invoice is never deleted: not by the retention purge nor by an unlink's purge
//! racing the sign (each made deterministic with the signing transaction's row lock), not by
//! any other DELETE (the `invoices_signed_never_deleted` trigger, SQLSTATE 23001), and not by
//! deleting its organization.

use std::time::Duration;

use crate::helpers::*;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use taxpoynt_mono::db::invoices::{insert_draft, NewDraft};
use taxpoynt_mono::invoice::InvoiceKind;
use taxpoynt_mono::services::retention;
use taxpoynt_mono::tenancy::{EnvName, Tenant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The SQLSTATE the trigger raises (`restrict_violation`).
const REFUSED: &str = "23001";

/// A new organization's sandbox environment, as its tenant.
async fn sandbox_tenant(pool: &PgPool, name: &str) -> Tenant {
    let created = tenants::create_tenant(pool, name).await.expect("tenant created");
    let env = created
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .expect("a sandbox environment");
    Tenant::system(created.org_id, env.id, EnvName::Sandbox)
}

/// A Mono draft of `account` as a sync stores it; `days_old` sets its `created_at` back.
async fn draft(pool: &PgPool, tenant: &Tenant, account: &str, tx: &str, days_old: i32) -> Uuid {
    let invoice = insert_draft(
        pool,
        tenant,
        &NewDraft {
            source: "mono",
            kind: InvoiceKind::Invoice,
            account_id: Some(account.into()),
            transaction_id: Some(tx.into()),
            amount: 250_000,
            currency: "NGN".into(),
            reference: Some("PO-2291".into()),
            counterparty: Some("Bola Stores Ltd".into()),
            narration: Some("TRF FROM BOLA STORES LTD PO-2291".into()),
            description: None,
            transaction_date: None,
            reason: Some("business_keyword".into()),
            rule_id: None,
            keywords: vec!["ltd".into()],
        },
    )
    .await
    .expect("draft stored");
    sqlx::query("UPDATE invoices SET created_at = now() - make_interval(days => $2) WHERE id = $1")
        .bind(invoice.id)
        .bind(days_old)
        .execute(pool)
        .await
        .unwrap();
    invoice.id
}

/// Moves a draft to VALIDATED, the state `sign` starts from (the review's checks are tested
/// in `invoices`).
async fn validated(pool: &PgPool, id: Uuid) {
    let done = sqlx::query("UPDATE invoices SET status = 'VALIDATED' WHERE id = $1 AND status = 'DRAFT'")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

/// A bank transaction that pays `invoice`: a row that goes with its invoice (by the cascade).
async fn payment(pool: &PgPool, tenant: &Tenant, invoice: Uuid, tx: &str) {
    sqlx::query(
        "INSERT INTO invoice_payments (env_id, account_id, transaction_id, invoice_id, status, amount, currency)
         VALUES ($1, 'acc_payer', $2, $3, 'settled', 250000, 'NGN')",
    )
    .bind(tenant.env_id)
    .bind(tx)
    .bind(invoice)
    .execute(pool)
    .await
    .unwrap();
}

/// The service's own `sign` statement, run in a transaction left open: it holds the row lock
/// a concurrent sign holds until it commits. Answers the transaction and its backend's pid.
async fn sign_uncommitted(pool: &PgPool, tenant: &Tenant, id: Uuid) -> (Transaction<'static, Postgres>, i32) {
    let mut tx = pool.begin().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let irn = format!("INV-{}-20260309", id.simple());
    let signed = db::invoices::sign(
        &mut *tx,
        tenant,
        id,
        &irn,
        &json!({"irn": irn}),
        &json!({"alg": "Ed25519", "value": "test"}),
    )
    .await
    .unwrap();
    assert!(signed.is_some(), "the validated invoice is signed");
    (tx, pid)
}

/// Signs `id` for good (the service's statement, committed).
async fn sign(pool: &PgPool, tenant: &Tenant, id: Uuid) {
    let (tx, _) = sign_uncommitted(pool, tenant, id).await;
    tx.commit().await.unwrap();
}

/// Waits until a statement deleting invoices waits on a lock held by backend `holder`: the
/// purge has picked its rows and reached the row the signing transaction holds. Fails at
/// once when `task` ended first (it did not wait for the row).
async fn wait_blocked_by<T>(pool: &PgPool, holder: i32, task: &JoinHandle<T>) {
    // `wait_for` with an `Option<()>` probe: the one condition wait of the helpers.
    wait_for(
        "a DELETE of invoices waiting on the signing transaction's row lock",
        Duration::from_secs(30),
        || {
            assert!(
                !task.is_finished(),
                "the purge ended without waiting for the signing transaction"
            );
            let pool = pool.clone();
            async move {
                let blocked = sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (
                         SELECT 1 FROM pg_stat_activity
                         WHERE datname = current_database() AND $1 = ANY (pg_blocking_pids(pid))
                           AND query ILIKE '%DELETE FROM invoices%')",
                )
                .bind(holder)
                .fetch_one(&pool)
                .await
                .unwrap();
                blocked.then_some(())
            }
        },
    )
    .await
}

async fn statuses(pool: &PgPool, tenant: &Tenant) -> Vec<(Uuid, String)> {
    sqlx::query_as("SELECT id, status FROM invoices WHERE env_id = $1 ORDER BY id")
        .bind(tenant.env_id)
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn payments_of(pool: &PgPool, invoice: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM invoice_payments WHERE invoice_id = $1")
        .bind(invoice)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn sorted(mut ids: Vec<(Uuid, String)>) -> Vec<(Uuid, String)> {
    ids.sort();
    ids
}

/// The database error's SQLSTATE and message.
fn refusal(err: sqlx::Error) -> (String, String) {
    let db = err.as_database_error().expect("a database error");
    (
        db.code().unwrap_or_default().into_owned(),
        db.message().to_owned(),
    )
}

#[sqlx::test]
async fn a_retention_purge_racing_a_sign_keeps_the_signed_invoice(pool: PgPool) {
    let tenant = sandbox_tenant(&pool, "Retention Race Org").await;
    // Old enough for a 30-day retention: one being signed, two drafts. One draft is young.
    let signing = draft(&pool, &tenant, "acc_race", "tx_signing", 40).await;
    let old_a = draft(&pool, &tenant, "acc_race", "tx_old_a", 40).await;
    let _old_b = draft(&pool, &tenant, "acc_race", "tx_old_b", 40).await;
    let young = draft(&pool, &tenant, "acc_race", "tx_young", 1).await;
    validated(&pool, signing).await;
    payment(&pool, &tenant, signing, "tx_pays_signing").await;
    payment(&pool, &tenant, old_a, "tx_pays_old_a").await;

    // The sign has updated the row and not committed: the purge's sub-select (its snapshot)
    // still sees the invoice VALIDATED and picks it.
    let (signer, signer_pid) = sign_uncommitted(&pool, &tenant, signing).await;
    let purge = tokio::spawn({
        let pool = pool.clone();
        async move { retention::purge(&pool, Some(30), &CancellationToken::new(), false).await }
    });
    wait_blocked_by(&pool, signer_pid, &purge).await;
    signer.commit().await.unwrap();

    let report = purge.await.unwrap().expect("the purge ends without an error");
    let sandbox = report
        .iter()
        .find(|e| e.env_id == tenant.env_id)
        .expect("the sandbox environment was purged");
    assert_eq!(
        sandbox.rows["invoices"], 2,
        "the two old drafts, not the invoice signed meanwhile"
    );
    assert_eq!(
        statuses(&pool, &tenant).await,
        sorted(vec![(signing, "SIGNED".into()), (young, "DRAFT".into())])
    );
    assert_eq!(
        payments_of(&pool, signing).await,
        1,
        "the signed invoice keeps its payment"
    );
    assert_eq!(
        payments_of(&pool, old_a).await,
        0,
        "a purged draft's payment went with it"
    );
}

#[sqlx::test]
async fn a_purge_in_small_batches_walks_past_signed_invoices_and_equal_timestamps(pool: PgPool) {
    let tenant = sandbox_tenant(&pool, "Retention Batches Org").await;
    // Twelve old drafts on two days, four of them signed; one young draft.
    let mut old = Vec::new();
    for i in 0..12 {
        old.push(draft(&pool, &tenant, "acc_batches", &format!("tx_old_{i}"), 40 + i % 2).await);
    }
    let young = draft(&pool, &tenant, "acc_batches", "tx_young", 1).await;
    // Six rows share each timestamp, so batches of four end between rows of equal `created_at`
    // (set before the signing: a signed invoice is final).
    sqlx::query(
        "UPDATE invoices SET created_at = date_trunc('day', created_at) WHERE env_id = $1 AND id <> $2",
    )
    .bind(tenant.env_id)
    .bind(young)
    .execute(&pool)
    .await
    .unwrap();
    let signed: Vec<Uuid> = old.iter().copied().step_by(3).collect();
    for &id in &signed {
        validated(&pool, id).await;
        sign(&pool, &tenant, id).await;
    }

    let pace = retention::Pace { batch: 4, rest: 0.5 };
    let report = retention::purge_paced(&pool, Some(30), &CancellationToken::new(), false, pace)
        .await
        .unwrap();
    let env = report.iter().find(|e| e.env_id == tenant.env_id).unwrap();
    assert_eq!(env.rows["invoices"], 8, "every old draft, over several batches");
    let mut kept: Vec<(Uuid, String)> = signed.iter().map(|&id| (id, "SIGNED".to_string())).collect();
    kept.push((young, "DRAFT".into()));
    assert_eq!(statuses(&pool, &tenant).await, sorted(kept));
}

#[sqlx::test]
async fn an_unlink_purge_racing_a_sign_keeps_the_signed_invoice(pool: PgPool) {
    let tenant = sandbox_tenant(&pool, "Unlink Race Org").await;
    let signing = draft(&pool, &tenant, "acc_unlinked", "tx_signing", 0).await;
    let _other = draft(&pool, &tenant, "acc_unlinked", "tx_other", 0).await;
    let kept = draft(&pool, &tenant, "acc_kept", "tx_kept", 0).await;
    validated(&pool, signing).await;
    payment(&pool, &tenant, signing, "tx_pays_signing").await;

    let (signer, signer_pid) = sign_uncommitted(&pool, &tenant, signing).await;
    let purge = tokio::spawn({
        let pool = pool.clone();
        let tenant = tenant.clone();
        async move {
            // What `unlink` with `purge=true` runs, in a transaction of its own.
            let mut tx = pool.begin().await?;
            let purged = db::accounts::purge(&mut tx, &tenant, "acc_unlinked").await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(purged)
        }
    });
    wait_blocked_by(&pool, signer_pid, &purge).await;
    signer.commit().await.unwrap();

    let purged = purge.await.unwrap().expect("the purge ends without an error");
    assert_eq!(
        purged.invoices, 1,
        "the other draft, not the invoice signed meanwhile"
    );
    assert_eq!(
        statuses(&pool, &tenant).await,
        sorted(vec![(signing, "SIGNED".into()), (kept, "DRAFT".into())])
    );
    assert_eq!(
        payments_of(&pool, signing).await,
        1,
        "the signed invoice keeps its payment"
    );
}

#[sqlx::test]
async fn deleting_a_signed_invoice_is_refused_by_the_database(pool: PgPool) {
    let tenant = sandbox_tenant(&pool, "Signed Delete Org").await;
    let signed = draft(&pool, &tenant, "acc_a", "tx_signed", 0).await;
    let unsigned = draft(&pool, &tenant, "acc_a", "tx_draft", 0).await;
    validated(&pool, signed).await;
    sign(&pool, &tenant, signed).await;
    payment(&pool, &tenant, signed, "tx_pays_signed").await;
    let before = statuses(&pool, &tenant).await;

    let err = sqlx::query("DELETE FROM invoices WHERE id = $1")
        .bind(signed)
        .execute(&pool)
        .await
        .unwrap_err();
    let (code, message) = refusal(err);
    assert_eq!(code, REFUSED, "{message}");
    assert!(
        message.contains(&signed.to_string()) && message.contains("signed and is never deleted"),
        "{message}"
    );

    // A statement that would delete a signed invoice among others deletes none of them.
    let err = sqlx::query("DELETE FROM invoices WHERE id = ANY ($1)")
        .bind(vec![unsigned, signed])
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, REFUSED);
    let err = sqlx::query("TRUNCATE invoices CASCADE")
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, REFUSED);
    assert_eq!(statuses(&pool, &tenant).await, before, "nothing was deleted");
    assert_eq!(payments_of(&pool, signed).await, 1);

    // What the service's statements exclude is still deletable, one row at a time.
    sqlx::query("DELETE FROM invoices WHERE id = $1")
        .bind(unsigned)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        statuses(&pool, &tenant).await,
        vec![(signed, "SIGNED".to_string())]
    );
}

#[sqlx::test]
async fn an_organization_with_a_signed_invoice_is_not_deleted(pool: PgPool) {
    let signer = sandbox_tenant(&pool, "Has Signed Org").await;
    let signed = draft(&pool, &signer, "acc_s", "tx_signed", 0).await;
    let unsigned = draft(&pool, &signer, "acc_s", "tx_draft", 0).await;
    validated(&pool, signed).await;
    sign(&pool, &signer, signed).await;
    let drafts_only = sandbox_tenant(&pool, "Drafts Only Org").await;
    draft(&pool, &drafts_only, "acc_d", "tx_d", 0).await;
    let orgs = |pool: PgPool| async move {
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM organizations ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    let before = orgs(pool.clone()).await;

    // The cascade from the organization (and from its environment) reaches the signed
    // invoice, and the whole delete is refused.
    for sql in [
        "DELETE FROM organizations WHERE id = $1",
        "DELETE FROM environments WHERE org_id = $1",
    ] {
        let err = sqlx::query(sql)
            .bind(signer.org_id)
            .execute(&pool)
            .await
            .unwrap_err();
        assert_eq!(refusal(err).0, REFUSED, "{sql}");
    }
    assert_eq!(orgs(pool.clone()).await, before);
    assert_eq!(
        statuses(&pool, &signer).await,
        sorted(vec![(signed, "SIGNED".into()), (unsigned, "DRAFT".into())])
    );

    // An organization without signed invoices is deleted as before, invoices and all.
    sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(drafts_only.org_id)
        .execute(&pool)
        .await
        .unwrap();
    assert!(statuses(&pool, &drafts_only).await.is_empty());
    assert_eq!(orgs(pool.clone()).await.len(), before.len() - 1);
}
