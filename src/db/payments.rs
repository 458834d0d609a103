//! Reconciliation storage: finding the invoice a bank transaction's reference names, and the
//! payment that ties the transaction to it (its status only moves forward).

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tenancy::Tenant;

/// Each reference folded as the lookups fold them (`lower`), in the order given.
pub async fn fold_references(
    db: impl PgExecutor<'_>,
    references: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT lower(r) AS "key!" FROM unnest($1::text[]) WITH ORDINALITY AS u(r, n) ORDER BY n"#,
        references
    )
    .fetch_all(db)
    .await
}

/// An invoice a folded reference names.
#[derive(Debug, Clone)]
pub struct NamedInvoice {
    pub id: Uuid,
    pub reference_key: Option<String>,
    pub number_key: Option<String>,
    pub account_id: Option<String>,
    pub transaction_id: Option<String>,
    pub amount: i64,
    pub currency: String,
}

/// The environment's invoices, DISCARDED ones aside, whose reference or invoice number equals
/// one of `keys` once folded, newest first.
pub async fn invoices_named(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    keys: &[String],
) -> Result<Vec<NamedInvoice>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as!(
        NamedInvoice,
        r#"SELECT id AS "id!", lower(reference) AS reference_key, lower(invoice_number) AS number_key,
                  account_id, transaction_id, amount AS "amount!", currency AS "currency!"
           FROM invoice_lookup
           WHERE env_id = $1 AND status <> 'DISCARDED'
             AND (lower(reference) = ANY($2) OR lower(invoice_number) = ANY($2))
           ORDER BY created_at DESC, id DESC"#,
        tenant.env_id,
        keys
    )
    .fetch_all(db)
    .await
}

/// The invoices drafted from these transactions of the account, by transaction id.
pub async fn drafted_from(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    transaction_ids: &[String],
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT transaction_id AS "transaction_id!", id FROM invoices
           WHERE env_id = $1 AND account_id = $2 AND transaction_id = ANY($3)"#,
        tenant.env_id,
        account_id,
        transaction_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.transaction_id, r.id)).collect())
}

/// The payments these transactions of the account already made: transaction id, invoice,
/// amount and currency.
pub async fn payments_of(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    transaction_ids: &[String],
) -> Result<Vec<(String, Uuid, i64, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT transaction_id, invoice_id, amount, currency FROM invoice_payments
         WHERE env_id = $1 AND account_id = $2 AND transaction_id = ANY($3)",
        tenant.env_id,
        account_id,
        transaction_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.transaction_id, r.invoice_id, r.amount, r.currency))
        .collect())
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
/// Answers true when this settled a SIGNED invoice (MBS is to be told).
pub async fn record_payment(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    p: &Payment<'_>,
) -> Result<bool, sqlx::Error> {
    let status = if p.settled { "settled" } else { "pending" };
    let settled_signed = sqlx::query_scalar!(
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
        RETURNING status = 'SIGNED' AND payment_status = 'settled' AS "settled_signed!"
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
    .fetch_optional(db)
    .await?;
    Ok(settled_signed.unwrap_or(false))
}
