//! One path for money (ELIGIBILITY.md, "Reconciliation: every transaction, whatever brought
//! it"). Every decided transaction, whether a sync page, a webhook or a replay brought it, is
//! reconciled and written here, inside the caller's database transaction:
//!
//! 1. A draft-worthy transaction whose reference names an invoice of the environment (its own
//!    `reference` field, else the engine's; never a DISCARDED invoice, never the one drafted
//!    from this same transaction) is that invoice's payment, not a new sale: amount and
//!    currency must agree (else the DLQ, `amount_mismatch` / `currency_mismatch`), and then it
//!    is `skipped`/`reconciled` and the invoice's payment status moves.
//! 2. The lock of every reference a batch names is taken before it looks (`db::locks::
//!    xact_locks`), so of two transactions naming one reference at once the second sees
//!    the first one's invoice: one reference is never invoiced twice in an environment.
//! 3. A transaction the ledger holds already creates nothing, but still moves its invoice's
//!    payment forward (`none -> pending -> settled`, never back), whichever path brings it.
//! 4. Before any of that, a leg of a transfer between the organization's own accounts goes to
//!    the DLQ with its other leg (`services::transfers`).

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::ledger::{self, DecidedRow, PageContext, PageRows};
use crate::db::locks::{self, LockClass};
use crate::db::payments::{self, NamedInvoice};
use crate::domain::RecordReason;
use crate::error::ApiError;
use crate::services::transfers;
use crate::tenancy::Tenant;
use eligibility::{normalize_currency, Outcome, Reason};

/// What a draft-worthy transaction was matched with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An invoice already stored.
    Invoice(Uuid),
    /// The draft an earlier transaction of the same batch makes (its transaction id).
    Drafted(String),
}

/// A batch as written.
pub struct Written {
    /// The rows as decided and reconciled, in their order.
    pub rows: PageRows,
    /// The transactions the ledger did not hold before: the ones this batch wrote.
    pub fresh: HashSet<String>,
    /// Per row, the invoice it was matched with (paid, or refused against), if any.
    pub matched: Vec<Option<Uuid>>,
    /// Transactions held before whose payment of an invoice moved again, with that invoice.
    pub repeated: HashMap<String, Uuid>,
}

/// Reconciles `rows` (one account's, in the order they arrived) and writes them with
/// `ledger::write_page`, then records the payments: `settled` says whether the channel that
/// brought them reports the money settled (`transaction.settled`, a posted transaction from a
/// sync) or pending (`transaction.updated`).
pub async fn write(
    conn: &mut PgConnection,
    tenant: &Tenant,
    ctx: &PageContext<'_>,
    mut rows: Vec<DecidedRow>,
    settled: bool,
) -> Result<Written, ApiError> {
    // Legs of a transfer between the organization's own accounts first: neither is a sale,
    // whatever it names.
    transfers::pair_legs(conn, tenant, ctx, &mut rows, false).await?;
    let targets = match_rows(conn, tenant, ctx.account_id, &mut rows, true).await?;
    let facts: Vec<(String, RecordReason, i64, String)> = rows
        .iter()
        .map(|r| (r.transaction_id.clone(), r.reason, r.amount, r.currency.clone()))
        .collect();
    // The counterparties of the drafts, for the buyer directory's match once they are stored.
    let buyers: Vec<(String, Option<String>, Option<String>)> = rows
        .iter()
        .filter(|r| r.outcome == eligibility::Outcome::Draft)
        .filter(|r| r.counterparty.is_some() || r.counterparty_account.is_some())
        .map(|r| {
            (
                r.transaction_id.clone(),
                r.counterparty_account
                    .as_deref()
                    .and_then(crate::services::buyers::normalise_account),
                r.counterparty
                    .as_deref()
                    .map(crate::services::buyers::normalise_name),
            )
        })
        .collect();
    let mut page = PageRows::with_capacity(rows.len());
    for row in rows {
        page.push(row);
    }
    let fresh: HashSet<String> = ledger::write_page(conn, ctx, &page).await?.into_iter().collect();
    let buyers: Vec<_> = buyers.into_iter().filter(|b| fresh.contains(&b.0)).collect();
    if !buyers.is_empty() {
        crate::db::buyers::prefill_drafts(&mut *conn, tenant, ctx.account_id, &buyers).await?;
    }

    let in_batch: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Some(Target::Drafted(id)) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let drafted: HashMap<String, Uuid> = if in_batch.is_empty() {
        HashMap::new()
    } else {
        payments::drafted_from(&mut *conn, tenant, ctx.account_id, &in_batch)
            .await?
            .into_iter()
            .collect()
    };
    let matched: Vec<Option<Uuid>> = targets
        .iter()
        .map(|t| match t {
            None => None,
            Some(Target::Invoice(id)) => Some(*id),
            Some(Target::Drafted(tx)) => drafted.get(tx).copied(),
        })
        .collect();

    for ((transaction_id, reason, amount, currency), invoice) in facts.iter().zip(&matched) {
        if *reason != RecordReason::Reconciled || !fresh.contains(transaction_id) {
            continue;
        }
        if let Some(invoice_id) = invoice {
            let payment = Payment {
                account_id: ctx.account_id,
                transaction_id,
                settled,
                trace_id: ctx.trace_id,
            };
            record_payment(conn, tenant, &payment, *invoice_id, *amount, currency).await?;
        }
    }

    let held: Vec<String> = facts
        .iter()
        .map(|f| &f.0)
        .filter(|id| !fresh.contains(*id))
        .cloned()
        .collect();
    let mut repeated = HashMap::new();
    if !held.is_empty() {
        for (transaction_id, invoice_id, amount, currency) in
            payments::payments_of(&mut *conn, tenant, ctx.account_id, &held).await?
        {
            let payment = Payment {
                account_id: ctx.account_id,
                transaction_id: &transaction_id,
                settled,
                trace_id: ctx.trace_id,
            };
            record_payment(conn, tenant, &payment, invoice_id, amount, &currency).await?;
            repeated.insert(transaction_id, invoice_id);
        }
    }
    Ok(Written {
        rows: page,
        fresh,
        matched,
        repeated,
    })
}

/// Matches the draft-worthy rows against the invoices their references name, with the locks of
/// those references taken for the rest of the caller's transaction, and re-labels each matched
/// row: `skipped`/`reconciled` when amount and currency agree, else the DLQ with the mismatch.
/// A reference no invoice carries yet is claimed by the first row naming it; later rows of the
/// batch are matched with that row's draft. With `skip_held`, rows whose transaction the
/// ledger holds already are left as they are (writing them creates nothing). Answers each
/// row's target.
pub async fn match_rows(
    conn: &mut PgConnection,
    tenant: &Tenant,
    account_id: &str,
    rows: &mut [DecidedRow],
    skip_held: bool,
) -> Result<Vec<Option<Target>>, ApiError> {
    let mut targets: Vec<Option<Target>> = rows.iter().map(|_| None).collect();
    let candidates: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].outcome == Outcome::Draft && rows[i].names.is_some())
        .collect();
    if candidates.is_empty() {
        return Ok(targets);
    }
    let names: Vec<String> = candidates
        .iter()
        .map(|&i| rows[i].names.clone().unwrap_or_default())
        .collect();
    let folded = payments::fold_references(&mut *conn, &names).await?;
    let mut keys: Vec<String> = folded.clone();
    keys.sort_unstable();
    keys.dedup();
    // Whoever decides whether a reference names an invoice holds its lock: the second of two
    // transactions naming one reference sees the first one's invoice.
    locks::xact_locks(&mut *conn, LockClass::Reference, tenant, &keys).await?;
    let held: HashSet<String> = if skip_held {
        let ids: Vec<String> = candidates
            .iter()
            .map(|&i| rows[i].transaction_id.clone())
            .collect();
        ledger::held(&mut *conn, tenant.env_id, account_id, &ids)
            .await?
            .into_iter()
            .collect()
    } else {
        HashSet::new()
    };
    let invoices = payments::invoices_named(&mut *conn, tenant, &keys).await?;

    // References claimed by a draft of this batch: the drafting transaction, amount, currency.
    let mut claimed: HashMap<&str, (String, i64, String)> = HashMap::new();
    for (&i, key) in candidates.iter().zip(&folded) {
        let row = &mut rows[i];
        if held.contains(&row.transaction_id) {
            continue;
        }
        let stored = newest_named(&invoices, key, account_id, &row.transaction_id);
        let (target, amount, currency) = match (stored, claimed.get(key.as_str())) {
            (Some(inv), _) => (Target::Invoice(inv.id), inv.amount, inv.currency.clone()),
            (None, Some((tx, amount, currency))) => (Target::Drafted(tx.clone()), *amount, currency.clone()),
            (None, None) => {
                claimed.insert(
                    key,
                    (row.transaction_id.clone(), row.amount, row.currency.clone()),
                );
                continue;
            }
        };
        relabel(row, amount, &currency);
        targets[i] = Some(target);
    }
    Ok(targets)
}

/// The newest invoice named by `key` that was not drafted from this same transaction.
fn newest_named<'a>(
    invoices: &'a [NamedInvoice],
    key: &str,
    account_id: &str,
    transaction_id: &str,
) -> Option<&'a NamedInvoice> {
    invoices.iter().find(|inv| {
        let names = inv.reference_key.as_deref() == Some(key) || inv.number_key.as_deref() == Some(key);
        let same = inv.account_id.as_deref() == Some(account_id)
            && inv.transaction_id.as_deref() == Some(transaction_id);
        names && !same
    })
}

/// A draft-worthy row matched with an invoice of `amount` in `currency`: its payment when both
/// agree, else a DLQ record naming the mismatch.
fn relabel(row: &mut DecidedRow, amount: i64, currency: &str) {
    let mismatch = if normalize_currency(&row.currency) != normalize_currency(currency) {
        Some(RecordReason::Engine(Reason::CurrencyMismatch))
    } else if row.amount != amount {
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
}

/// One bank transaction as a payment: which account and transaction, whether it is settled.
pub struct Payment<'a> {
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    /// Settled (else pending).
    pub settled: bool,
    pub trace_id: &'a str,
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
    if payments::record_payment(&mut *conn, tenant, &row).await? {
        // A SIGNED invoice is paid: MBS is told (`update/{irn}` PAID) by a job, committed with
        // the payment.
        let job = crate::services::submission::PaymentUpdateJob {
            invoice_id,
            env: tenant.env.as_str().to_owned(),
        };
        crate::jobs::enqueue(&mut *conn, tenant, &job).await?;
    }
    Ok(())
}
