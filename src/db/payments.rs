//! Reconciliation storage: finding the invoice a bank transaction's reference names, and the
//! payment that ties the transaction to it (its status only moves forward).

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tenancy::Tenant;

/// An invoice a reference names.
#[derive(Debug, Clone)]
pub struct InvoiceMatch {
    pub id: Uuid,
    pub amount: i64,
    pub currency: String,
}

/// The newest invoice of the environment whose reference or invoice number equals `reference`
/// (case-insensitively), other than the one drafted from this same transaction.
pub async fn invoice_named(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    reference: &str,
    account_id: &str,
    transaction_id: &str,
) -> Result<Option<InvoiceMatch>, sqlx::Error> {
    sqlx::query_as!(
        InvoiceMatch,
        r#"SELECT id AS "id!", amount AS "amount!", currency AS "currency!"
           FROM invoice_lookup
           WHERE env_id = $1
             AND (lower(reference) = lower($2) OR lower(invoice_number) = lower($2))
             AND (account_id IS DISTINCT FROM $3 OR transaction_id IS DISTINCT FROM $4)
           ORDER BY created_at DESC, id DESC
           LIMIT 1"#,
        tenant.env_id,
        reference,
        account_id,
        transaction_id
    )
    .fetch_optional(db)
    .await
}

/// A bank transaction paying an invoice.
pub struct Payment<'a> {
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    pub invoice_id: Uuid,
    /// `transaction.settled` (else `transaction.updated`: pending).
    pub settled: bool,
    pub amount: i64,
    pub currency: &'a str,
    pub trace_id: &'a str,
}

/// Records that the transaction pays the invoice (or moves an earlier record forward) and
/// sets the invoice's payment status: `pending` only from `none`, `settled` from anything.
pub async fn record_payment(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    p: &Payment<'_>,
) -> Result<(), sqlx::Error> {
    let status = if p.settled { "settled" } else { "pending" };
    sqlx::query!(
        r#"
        WITH payment AS (
            INSERT INTO invoice_payments AS p (env_id, account_id, transaction_id, invoice_id, status, amount,
                                               currency, trace_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT ON CONSTRAINT invoice_payments_pkey DO UPDATE SET
                status = CASE WHEN p.status = 'settled' THEN 'settled' ELSE EXCLUDED.status END,
                updated_at = now()
        )
        UPDATE invoices SET
            payment_status = CASE WHEN payment_status = 'settled' OR $5 = 'settled' THEN 'settled' ELSE 'pending' END,
            updated_at = now()
        WHERE id = $4 AND env_id = $1 AND org_id = $9
          AND payment_status <> CASE WHEN payment_status = 'settled' OR $5 = 'settled' THEN 'settled' ELSE 'pending' END
        "#,
        tenant.env_id,
        p.account_id,
        p.transaction_id,
        p.invoice_id,
        status,
        p.amount,
        p.currency,
        p.trace_id,
        tenant.org_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The invoice an earlier event of this transaction was reconciled with, if any.
pub async fn payment_of(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    transaction_id: &str,
) -> Result<Option<(Uuid, i64, String)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT invoice_id, amount, currency FROM invoice_payments
         WHERE env_id = $1 AND account_id = $2 AND transaction_id = $3",
        tenant.env_id,
        account_id,
        transaction_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.invoice_id, r.amount, r.currency)))
}
