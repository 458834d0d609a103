//! Deciding one transaction of Mono's as the service stores it: the engine for one that
//! decodes, the DLQ for one that does not (`malformed_transaction`), a skip for a zero amount.
//! Every path that brings a transaction decides through here: sync pages, webhooks, replays.

use chrono::Utc;

use crate::db::ledger::DecidedRow;
use crate::domain::RecordReason;
use eligibility::{self, CompiledPolicy, Outcome, TxType};
use mono::{MonoTransaction, RawTransaction, TransactionType};

/// Decides one item of a page: the engine for a well-formed one, the DLQ for one that does not
/// decode but has an id; None (logged and counted) for one without even an id.
pub fn decide_item(
    policy: &CompiledPolicy,
    account_id: &str,
    account_currency: Option<&str>,
    item: RawTransaction,
) -> Option<DecidedRow> {
    let RawTransaction { raw, decoded } = item;
    let t = match decoded {
        Ok(t) => t,
        Err(malformed) => {
            metrics::counter!("sync_malformed_transactions_total").increment(1);
            tracing::warn!(account_id, field = %malformed.path, "Mono sent a transaction that does not decode");
            return Some(DecidedRow {
                transaction_id: malformed.id?,
                outcome: Outcome::Dlq,
                reason: RecordReason::MalformedTransaction,
                detail: None,
                kind: None,
                amount: 0,
                currency: account_currency.unwrap_or_default().to_owned(),
                narration: String::new(),
                description: None,
                reference: None,
                names: None,
                counterparty: None,
                counterparty_account: None,
                date: None,
                rule_id: None,
                keywords: Vec::new(),
                raw,
                credit: None,
            });
        }
    };
    let date = t.date;
    let counterparty_account = t.counterparty.as_ref().and_then(|c| c.account_number.clone());
    let tx = into_engine(account_id, account_currency, t);
    if tx.amount == 0 {
        return Some(DecidedRow {
            outcome: Outcome::Skipped,
            reason: RecordReason::ZeroAmount,
            detail: None,
            kind: None,
            rule_id: None,
            counterparty: None,
            ..row_of(tx, date, raw)
        });
    }
    let d = eligibility::decide(&tx, policy);
    let own = tx
        .reference
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    // The decision's evidence is borrowed from `tx`: stored, it is copied out here.
    let reference = d.reference.map(str::to_owned).or_else(|| tx.reference.clone());
    let names = own.or_else(|| reference.clone());
    let (rule_id, counterparty, keywords) = (
        d.rule_id.map(str::to_owned),
        d.counterparty.map(str::to_owned),
        d.keywords.to_vec(),
    );
    Some(DecidedRow {
        outcome: d.outcome,
        reason: d.reason.into(),
        detail: d.detail.map(|d| d.as_str().to_owned()),
        kind: d.kind,
        rule_id,
        counterparty,
        counterparty_account,
        keywords,
        reference,
        names,
        ..row_of(tx, date, raw)
    })
}

/// The transaction's own columns, moved out of it.
fn row_of(
    tx: eligibility::Transaction,
    date: chrono::DateTime<Utc>,
    raw: Box<serde_json::value::RawValue>,
) -> DecidedRow {
    let credit = tx.kind == TxType::Credit;
    DecidedRow {
        transaction_id: tx.id,
        outcome: Outcome::Skipped,
        reason: RecordReason::ZeroAmount,
        detail: None,
        kind: None,
        amount: tx.amount,
        currency: tx.currency,
        narration: tx.narration,
        description: tx.description,
        reference: tx.reference,
        names: None,
        counterparty: None,
        counterparty_account: None,
        date: Some(date),
        rule_id: None,
        keywords: Vec::new(),
        raw,
        credit: Some(credit),
    }
}

/// Mono's shape to the engine's, moving every field: the account's currency when the
/// transaction has none, and amounts as magnitudes (the type says the direction).
pub fn into_engine(
    account_id: &str,
    account_currency: Option<&str>,
    t: MonoTransaction,
) -> eligibility::Transaction {
    eligibility::Transaction {
        id: t.id,
        account_id: Some(account_id.to_owned()),
        kind: match t.kind {
            TransactionType::Credit => TxType::Credit,
            TransactionType::Debit => TxType::Debit,
        },
        amount: t.amount.saturating_abs(),
        currency: t
            .currency
            .or_else(|| account_currency.map(str::to_owned))
            .unwrap_or_default(),
        narration: t.narration,
        description: t.description,
        tags: Vec::new(),
        reference: t.reference,
        category: t.category,
        counterparty: t.counterparty.map(|c| eligibility::Counterparty {
            name: c.name,
            account_number: c.account_number,
            bank: c.bank,
        }),
        date: None,
    }
}
