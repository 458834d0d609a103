//! Reconciliation (ELIGIBILITY.md): a draft-worthy transaction whose reference names an
//! invoice of the environment is that invoice's payment, not a new sale. Its amount and
//! currency must match (else the DLQ, `amount_mismatch` / `currency_mismatch`); a match moves
//! the invoice's payment status forward, and a transaction already matched moves it again
//! whichever event brings it back. Everything here runs inside the caller's transaction.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::ledger::DecidedRow;
use crate::db::payments;
use crate::domain::RecordReason;
use crate::error::ApiError;
use crate::tenancy::Tenant;
use eligibility::{normalize_currency, Outcome, Reason};

/// One bank transaction as a payment: which account and transaction, whether it is settled.
pub struct Payment<'a> {
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    /// `transaction.settled` (else `pending`).
    pub settled: bool,
    pub trace_id: &'a str,
}

/// A transaction already matched to an invoice: its payment moves forward (never back); the
/// invoice's id, or None when the transaction paid no invoice yet.
pub async fn repeat_payment(
    conn: &mut PgConnection,
    tenant: &Tenant,
    payment: &Payment<'_>,
) -> Result<Option<Uuid>, ApiError> {
    let Some((invoice_id, amount, currency)) =
        payments::payment_of(&mut *conn, tenant, payment.account_id, payment.transaction_id).await?
    else {
        return Ok(None);
    };
    record_payment(conn, tenant, payment, invoice_id, amount, &currency).await?;
    Ok(Some(invoice_id))
}

/// Matches a decided row against the invoice its reference names (`reference`, else the
/// engine's): a draft that names one becomes `reconciled` (skipped) when amount and currency
/// agree, else a DLQ record with the mismatch. Answers the matched invoice, or None when the
/// row is not a draft or names no invoice (it stays as decided).
pub async fn match_invoice(
    conn: &mut PgConnection,
    tenant: &Tenant,
    account_id: &str,
    row: &mut DecidedRow,
    reference: Option<String>,
) -> Result<Option<Uuid>, ApiError> {
    if row.outcome != Outcome::Draft {
        return Ok(None);
    }
    let Some(reference) = reference.or_else(|| row.reference.clone()) else {
        return Ok(None);
    };
    let Some(invoice) =
        payments::invoice_named(&mut *conn, tenant, &reference, account_id, &row.transaction_id).await?
    else {
        return Ok(None);
    };
    let mismatch = if normalize_currency(&row.currency) != normalize_currency(&invoice.currency) {
        Some(RecordReason::Engine(Reason::CurrencyMismatch))
    } else if row.amount != invoice.amount {
        Some(RecordReason::AmountMismatch)
    } else {
        None
    };
    row.kind = None;
    row.detail = None;
    match mismatch {
        Some(reason) => {
            row.outcome = Outcome::Dlq;
            row.reason = reason;
        }
        None => {
            row.outcome = Outcome::Skipped;
            row.reason = RecordReason::Reconciled;
        }
    }
    Ok(Some(invoice.id))
}

/// Records the transaction as the invoice's payment and moves its payment status forward.
pub async fn record_payment(
    conn: &mut PgConnection,
    tenant: &Tenant,
    payment: &Payment<'_>,
    invoice_id: Uuid,
    amount: i64,
    currency: &str,
) -> Result<(), ApiError> {
    let row = payments::Payment {
        account_id: payment.account_id,
        transaction_id: payment.transaction_id,
        invoice_id,
        settled: payment.settled,
        amount,
        currency,
        trace_id: payment.trace_id,
    };
    payments::record_payment(&mut *conn, tenant, &row).await?;
    Ok(())
}
