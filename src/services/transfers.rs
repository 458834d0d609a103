//! Transfers between an organization's own linked accounts (ELIGIBILITY.md): a credit on one
//! and a debit of the same amount and currency on another, dated within 24 hours of each
//! other, where either leg's narration or counterparty names the other account (its number,
//! or its holder's name with case, spaces and punctuation folded away), are one transfer, not
//! income or a refund. Both legs go to the DLQ `own_account_transfer`, each naming the other
//! (`detail`: `<account>/<transaction>`), whichever arrives first: the leg arriving second
//! finds the first in the ledger and settles it (`db::transfers::settle_leg`: a draft made
//! from the credit is DISCARDED while still DRAFT or CONFIRMED, a later state flagged).
//! Equal amounts alone are not enough. No rule lifts it.
//!
//! The lock of every amount a batch carries is taken before it looks, so of two legs written
//! at once (two accounts' syncs) the second sees the first.

use std::collections::HashSet;

use chrono::Duration;
use serde_json::Value;
use sqlx::PgConnection;

use crate::db::ledger::{self, DecidedRow, PageContext};
use crate::db::locks::{self, LockClass};
use crate::db::transfers::{self, OwnAccount, StoredLeg};
use crate::domain::RecordReason;
use crate::error::ApiError;
use crate::tenancy::Tenant;
use eligibility::{normalize_currency, Outcome};

/// How far apart the two legs' dates may be.
const WINDOW_HOURS: i64 = 24;

/// Finds the rows of `ctx.account_id` (in `rows`) that are a leg of a transfer whose other leg
/// is stored, re-labels them, and settles the stored legs, in the caller's transaction. With
/// `include_held`, rows the ledger holds already are looked at too (a replay); otherwise they
/// are left alone (their first write settled them).
pub async fn pair_legs(
    conn: &mut PgConnection,
    tenant: &Tenant,
    ctx: &PageContext<'_>,
    rows: &mut [DecidedRow],
    include_held: bool,
) -> Result<(), ApiError> {
    let candidates: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].credit.is_some() && rows[i].amount > 0 && rows[i].date.is_some())
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let accounts = transfers::linked_accounts(&mut *conn, tenant).await?;
    let Some(this) = accounts.iter().find(|a| a.id == ctx.account_id).cloned() else {
        return Ok(());
    };
    let others: Vec<&OwnAccount> = accounts.iter().filter(|a| a.id != ctx.account_id).collect();
    if others.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<String> = candidates
        .iter()
        .map(|&i| amount_key(&rows[i].currency, rows[i].amount))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    locks::xact_locks(&mut *conn, LockClass::Amount, tenant, &keys).await?;

    let held: HashSet<String> = if include_held {
        HashSet::new()
    } else {
        let ids: Vec<String> = candidates
            .iter()
            .map(|&i| rows[i].transaction_id.clone())
            .collect();
        ledger::held(&mut *conn, tenant.env_id, ctx.account_id, &ids)
            .await?
            .into_iter()
            .collect()
    };
    let dates = candidates.iter().filter_map(|&i| rows[i].date);
    let (Some(from), Some(to)) = (dates.clone().min(), dates.max()) else {
        return Ok(());
    };
    let window = Duration::hours(WINDOW_HOURS);
    let mut amounts: Vec<i64> = candidates.iter().map(|&i| rows[i].amount).collect();
    amounts.sort_unstable();
    amounts.dedup();
    let other_ids: Vec<String> = others.iter().map(|a| a.id.clone()).collect();
    let stored = transfers::stored_legs(
        &mut *conn,
        tenant,
        &other_ids,
        from - window,
        to + window,
        &amounts,
    )
    .await?;
    if stored.is_empty() {
        return Ok(());
    }

    let mut taken: HashSet<(String, String)> = HashSet::new();
    for &i in &candidates {
        let row = &rows[i];
        if held.contains(&row.transaction_id) {
            continue;
        }
        let me = format!("{}/{}", ctx.account_id, row.transaction_id);
        let pair = stored.iter().find(|leg| {
            let key = (leg.account_id.clone(), leg.transaction_id.clone());
            let Some(account) = others.iter().find(|a| a.id == leg.account_id) else {
                return false;
            };
            !taken.contains(&key)
                && leg.paired_with.as_deref().is_none_or(|p| p == me)
                && is_other_leg(row, &this, leg, account, window)
        });
        let Some(leg) = pair else { continue };
        taken.insert((leg.account_id.clone(), leg.transaction_id.clone()));
        transfers::settle_leg(&mut *conn, tenant, leg, &me, ctx.trace_id, ctx.policy_version).await?;
        let row = &mut rows[i];
        row.outcome = Outcome::Dlq;
        row.reason = RecordReason::OwnAccountTransfer;
        row.detail = Some(format!("{}/{}", leg.account_id, leg.transaction_id));
        row.kind = None;
    }
    Ok(())
}

fn amount_key(currency: &str, amount: i64) -> String {
    format!("{}:{amount}", normalize_currency(currency))
}

/// Whether `leg` (stored on `account`) is the other leg of `row` (on `this`): the opposite
/// direction, the same amount and currency, within the window, and one names the other.
fn is_other_leg(
    row: &DecidedRow,
    this: &OwnAccount,
    leg: &StoredLeg,
    account: &OwnAccount,
    window: Duration,
) -> bool {
    let Some(raw) = &leg.transaction else { return false };
    let credit = raw
        .get("type")
        .and_then(Value::as_str)
        .map(|t| t.eq_ignore_ascii_case("credit"));
    let amount = raw.get("amount").and_then(Value::as_i64).map(i64::abs);
    let currency = raw
        .get("currency")
        .and_then(Value::as_str)
        .or(account.currency.as_deref())
        .unwrap_or_default();
    let close = match (row.date, leg.tx_date) {
        (Some(a), Some(b)) => (a - b).abs() <= window,
        _ => false,
    };
    if credit.is_none()
        || credit == row.credit
        || amount != Some(row.amount)
        || normalize_currency(currency) != normalize_currency(&row.currency)
        || !close
    {
        return false;
    }
    let row_texts = [Some(row.narration.as_str()), row.counterparty.as_deref()];
    let leg_counterparty = raw.get("counterparty").map(counterparty_text);
    let leg_texts = [
        raw.get("narration").and_then(Value::as_str).map(str::to_owned),
        leg_counterparty,
    ];
    let row_names_leg = row_texts.iter().flatten().any(|t| names(t, account));
    let leg_names_row = leg_texts.iter().flatten().any(|t| names(t, this));
    row_names_leg || leg_names_row
}

/// Mono's counterparty as text: its name and account number, whatever shape it came in.
fn counterparty_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.values().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

/// Case, spaces and punctuation folded away.
fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `text` names `account`: its number, or its holder's name, once folded.
fn names(text: &str, account: &OwnAccount) -> bool {
    let text = fold(text);
    let by_number = account
        .account_number
        .as_deref()
        .map(fold)
        .is_some_and(|n| n.len() >= 6 && text.contains(&n));
    let by_name = account
        .name
        .as_deref()
        .map(fold)
        .is_some_and(|n| n.len() >= 3 && text.contains(&n));
    by_number || by_name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(number: &str, name: &str) -> OwnAccount {
        OwnAccount {
            id: "acc".into(),
            account_number: Some(number.into()),
            name: Some(name.into()),
            currency: Some("NGN".into()),
        }
    }

    #[test]
    fn an_account_is_named_by_its_number_or_its_folded_holder_name() {
        let a = account("0123456781", "Ada-Okafor Ltd.");
        assert!(names("TRF FROM 0123456781 OWN", &a));
        assert!(names("NIP/GTB/ADA OKAFOR LTD/savings", &a));
        assert!(names("ada okafor, ltd", &a));
        assert!(!names("TRF FROM 0123456789", &a));
        assert!(!names("ACME LTD payment", &a));
    }
}
