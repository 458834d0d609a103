//! Storage for transfers between an organization's own linked accounts: the other accounts,
//! the stored transactions that could be a transfer's other leg, and settling a stored leg
//! once its pair arrives (ELIGIBILITY.md, "Transfers between the organization's own
//! accounts").

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::tenancy::Tenant;

/// One of the organization's linked accounts in the environment.
#[derive(Debug, Clone)]
pub struct OwnAccount {
    pub id: String,
    pub account_number: Option<String>,
    pub name: Option<String>,
    pub currency: Option<String>,
}

/// The organization's accounts linked in the environment, `account_id` among them.
pub async fn linked_accounts(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
) -> Result<Vec<OwnAccount>, sqlx::Error> {
    sqlx::query_as!(
        OwnAccount,
        "SELECT id, account_number, name, currency FROM mono_accounts
         WHERE env_id = $1 AND org_id = $2 AND unlinked_at IS NULL
         ORDER BY id",
        tenant.env_id,
        tenant.org_id
    )
    .fetch_all(db)
    .await
}

/// A stored transaction that may be the other leg of a transfer.
#[derive(Debug, Clone)]
pub struct StoredLeg {
    pub account_id: String,
    pub transaction_id: String,
    pub outcome: String,
    pub reason: String,
    pub tx_date: Option<DateTime<Utc>>,
    /// Mono's JSON as stored.
    pub transaction: Option<Value>,
    /// The leg its open DLQ record already names as its pair, if any.
    pub paired_with: Option<String>,
}

/// The stored transactions of `accounts` dated within `[from, to]` whose amount's magnitude is
/// one of `amounts` (minor units).
pub async fn stored_legs(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    accounts: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    amounts: &[i64],
) -> Result<Vec<StoredLeg>, sqlx::Error> {
    sqlx::query_as!(
        StoredLeg,
        r#"SELECT m.account_id, m.transaction_id, m.outcome, m.reason, m.tx_date, m.transaction,
                  d.detail AS paired_with
           FROM mono_transactions m
           LEFT JOIN dlq_records d
                  ON d.env_id = m.env_id AND d.account_id = m.account_id AND d.transaction_id = m.transaction_id
                 AND d.status = 'open' AND d.reason = 'own_account_transfer'
           WHERE m.env_id = $1 AND m.account_id = ANY($2) AND m.tx_date BETWEEN $3 AND $4
             AND abs((m.transaction->>'amount')::numeric) = ANY($5::int8[])"#,
        tenant.env_id,
        accounts,
        from,
        to,
        amounts
    )
    .fetch_all(db)
    .await
}

/// What settling a stored leg did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegSettled {
    /// Its ledger row and DLQ record now say `own_account_transfer`.
    ToDlq,
    /// Its draft was DISCARDED too.
    DraftDiscarded,
    /// Its invoice had moved on (validated, signed): left alone, flagged.
    Flagged,
}

/// Settles a stored leg as `own_account_transfer` naming its pair (`detail`): the ledger row
/// and an open DLQ record (made from the stored transaction when there is none, with an
/// `invoice_failed` event), and its draft DISCARDED when still DRAFT or CONFIRMED; an invoice
/// in a later state is left alone and flagged with an `invoice_failed` event.
pub async fn settle_leg(
    conn: &mut PgConnection,
    tenant: &Tenant,
    leg: &StoredLeg,
    detail: &str,
    trace_id: &str,
    policy_version: &str,
) -> Result<LegSettled, sqlx::Error> {
    let invoice = sqlx::query!(
        "SELECT id, status FROM invoices WHERE env_id = $1 AND account_id = $2 AND transaction_id = $3 FOR UPDATE",
        tenant.env_id,
        leg.account_id,
        leg.transaction_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(inv) = &invoice {
        if inv.status != "DRAFT" && inv.status != "CONFIRMED" && inv.status != "DISCARDED" {
            sqlx::query!(
                "INSERT INTO monitoring_events (org_id, env_id, kind, account_id, transaction_id, reason, detail, trace_id)
                 VALUES ($1, $2, 'invoice_failed', $3, $4, 'own_account_transfer', $5, $6)",
                tenant.org_id,
                tenant.env_id,
                leg.account_id,
                leg.transaction_id,
                detail,
                trace_id
            )
            .execute(&mut *conn)
            .await?;
            return Ok(LegSettled::Flagged);
        }
        sqlx::query!(
            "UPDATE invoices SET status = 'DISCARDED', reason = 'own_account_transfer', updated_at = now()
             WHERE id = $1 AND status IN ('DRAFT', 'CONFIRMED')",
            inv.id
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!(
        "UPDATE mono_transactions SET outcome = 'dlq', reason = 'own_account_transfer'
         WHERE env_id = $1 AND account_id = $2 AND transaction_id = $3",
        tenant.env_id,
        leg.account_id,
        leg.transaction_id
    )
    .execute(&mut *conn)
    .await?;
    let moved = sqlx::query!(
        "UPDATE dlq_records SET reason = 'own_account_transfer', detail = $4
         WHERE env_id = $1 AND account_id = $2 AND transaction_id = $3 AND status = 'open'",
        tenant.env_id,
        leg.account_id,
        leg.transaction_id,
        detail
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 0 {
        let raw = leg.transaction.clone().unwrap_or(Value::Null);
        let amount = raw
            .get("amount")
            .and_then(Value::as_i64)
            .map(i64::abs)
            .unwrap_or_default();
        let currency = raw.get("currency").and_then(Value::as_str).unwrap_or("NGN");
        let narration = raw.get("narration").and_then(Value::as_str).unwrap_or_default();
        let reference = raw.get("reference").and_then(Value::as_str);
        sqlx::query!(
            "WITH record AS (
                 INSERT INTO dlq_records (id, org_id, env_id, account_id, transaction_id, reason, detail, transaction,
                                          source, trace_id, amount, currency, narration, reference, keywords,
                                          policy_version)
                 VALUES ($1, $2, $3, $4, $5, 'own_account_transfer', $6, $7, 'sync', $8, $9, $10, $11, $12, '{}', $13)
                 ON CONFLICT ON CONSTRAINT dlq_records_transaction_key DO UPDATE
                     SET reason = 'own_account_transfer', detail = EXCLUDED.detail, status = 'open',
                         resolution = NULL, resolved_at = NULL
             )
             INSERT INTO monitoring_events (org_id, env_id, kind, account_id, transaction_id, reason, detail, trace_id)
             VALUES ($2, $3, 'invoice_failed', $4, $5, 'own_account_transfer', $6, $8)",
            Uuid::new_v4(),
            tenant.org_id,
            tenant.env_id,
            leg.account_id,
            leg.transaction_id,
            detail,
            raw,
            trace_id,
            amount,
            currency,
            narration,
            reference,
            policy_version
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(if invoice.is_some() {
        LegSettled::DraftDiscarded
    } else {
        LegSettled::ToDlq
    })
}
