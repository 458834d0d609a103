//! The write path of a sync page: the exactly-once ledger, eligibility events, DRAFT invoices,
//! DLQ records and `invoice_failed` monitoring events, in ONE statement per page (UNNEST).

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::domain::RecordReason;
use crate::eligibility::{Detail, DraftKind, Outcome};

/// A page of decided transactions in column form, as the statement binds them: each
/// transaction is moved into these columns once, straight from its decision.
#[derive(Debug, Default)]
pub struct PageRows {
    pub transaction_id: Vec<String>,
    pub outcome: Vec<Outcome>,
    pub reason: Vec<RecordReason>,
    pub detail: Vec<Option<Detail>>,
    /// `invoice` or `credit_note` for drafts.
    pub kind: Vec<Option<DraftKind>>,
    pub amount: Vec<i64>,
    pub currency: Vec<String>,
    pub narration: Vec<String>,
    pub description: Vec<Option<String>>,
    pub reference: Vec<Option<String>>,
    pub counterparty: Vec<Option<String>>,
    pub date: Vec<Option<DateTime<Utc>>>,
    pub rule_id: Vec<Option<String>>,
    /// The transaction as Mono sent it; kept for DLQ rows only.
    pub raw: Vec<Option<Box<RawValue>>>,
}

/// One decided transaction, handed to [`PageRows::push`].
pub struct DecidedRow {
    pub transaction_id: String,
    pub outcome: Outcome,
    pub reason: RecordReason,
    pub detail: Option<Detail>,
    pub kind: Option<DraftKind>,
    pub amount: i64,
    pub currency: String,
    pub narration: String,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub counterparty: Option<String>,
    pub date: Option<DateTime<Utc>>,
    pub rule_id: Option<String>,
    pub raw: Box<RawValue>,
}

impl PageRows {
    pub fn with_capacity(n: usize) -> Self {
        PageRows {
            transaction_id: Vec::with_capacity(n),
            outcome: Vec::with_capacity(n),
            reason: Vec::with_capacity(n),
            detail: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            amount: Vec::with_capacity(n),
            currency: Vec::with_capacity(n),
            narration: Vec::with_capacity(n),
            description: Vec::with_capacity(n),
            reference: Vec::with_capacity(n),
            counterparty: Vec::with_capacity(n),
            date: Vec::with_capacity(n),
            rule_id: Vec::with_capacity(n),
            raw: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.transaction_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transaction_id.is_empty()
    }

    pub fn push(&mut self, row: DecidedRow) {
        self.raw.push((row.outcome == Outcome::Dlq).then_some(row.raw));
        self.transaction_id.push(row.transaction_id);
        self.outcome.push(row.outcome);
        self.reason.push(row.reason);
        self.detail.push(row.detail);
        self.kind.push(row.kind);
        self.amount.push(row.amount);
        self.currency.push(row.currency);
        self.narration.push(row.narration);
        self.description.push(row.description);
        self.reference.push(row.reference);
        self.counterparty.push(row.counterparty);
        self.date.push(row.date);
        self.rule_id.push(row.rule_id);
    }
}

pub struct PageContext<'a> {
    pub org_id: Uuid,
    pub env_id: Uuid,
    pub account_id: &'a str,
    pub source: &'a str,
    pub trace_id: &'a str,
}

/// Stores the rows whose transaction id the ledger has not seen; returns the ids that were new.
/// `rows` must not repeat a transaction id.
pub async fn write_page(
    tx: &mut sqlx::PgConnection,
    ctx: &PageContext<'_>,
    rows: &PageRows,
) -> Result<Vec<String>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let outcomes: Vec<&str> = rows.outcome.iter().map(|o| o.as_str()).collect();
    let reasons: Vec<&str> = rows.reason.iter().map(|r| r.as_str()).collect();
    let details: Vec<Option<&str>> = rows.detail.iter().map(|d| d.map(|d| d.as_str())).collect();
    let kinds: Vec<Option<&str>> = rows.kind.iter().map(|k| k.map(|k| k.as_str())).collect();
    let raws: Vec<Option<&str>> = rows.raw.iter().map(|r| r.as_deref().map(RawValue::get)).collect();
    let new_ids = sqlx::query_scalar!(
        r#"
        WITH input AS (
            SELECT * FROM UNNEST(
                $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[],
                $13::text[], $14::text[], $15::text[], $16::text[], $17::timestamptz[], $18::text[], $19::text[]
            ) AS t(transaction_id, outcome, reason, detail, kind, amount, currency,
                   narration, description, reference, counterparty, tx_date, rule_id, raw)
        ),
        fresh AS (
            INSERT INTO mono_transactions (env_id, account_id, transaction_id, outcome, reason)
            SELECT $2, $3, transaction_id, outcome, reason FROM input
            ON CONFLICT ON CONSTRAINT mono_transactions_pkey DO NOTHING
            RETURNING transaction_id
        ),
        fresh_input AS (
            SELECT input.* FROM input JOIN fresh USING (transaction_id)
        ),
        events AS (
            INSERT INTO eligibility_events (org_id, env_id, account_id, transaction_id, outcome, reason, detail,
                                            amount, currency, narration, reference, source, trace_id)
            SELECT $1, $2, $3, transaction_id, outcome, reason, detail, amount, currency, narration, reference, $4, $5
            FROM fresh_input
        ),
        drafts AS (
            INSERT INTO invoices (id, org_id, env_id, source, kind, account_id, transaction_id, amount, currency,
                                  reference, counterparty, narration, description, transaction_date, reason,
                                  rule_id, trace_id)
            SELECT gen_random_uuid(), $1, $2, 'mono', kind, $3, transaction_id, amount, currency, reference,
                   counterparty, narration, description, tx_date, reason, rule_id, $5
            FROM fresh_input WHERE outcome = 'draft'
            ON CONFLICT ON CONSTRAINT invoices_mono_transaction_key DO NOTHING
        ),
        dead AS (
            INSERT INTO dlq_records (id, org_id, env_id, account_id, transaction_id, reason, detail, transaction,
                                     source, trace_id)
            SELECT gen_random_uuid(), $1, $2, $3, transaction_id, reason, detail, raw::jsonb, $4, $5
            FROM fresh_input WHERE outcome = 'dlq'
            ON CONFLICT ON CONSTRAINT dlq_records_transaction_key DO NOTHING
        ),
        failed AS (
            INSERT INTO monitoring_events (org_id, env_id, kind, account_id, transaction_id, reason, detail, trace_id)
            SELECT $1, $2, 'invoice_failed', $3, transaction_id, reason, detail, $5
            FROM fresh_input WHERE outcome = 'dlq'
        )
        SELECT transaction_id AS "transaction_id!" FROM fresh
        "#,
        ctx.org_id,
        ctx.env_id,
        ctx.account_id,
        ctx.source,
        ctx.trace_id,
        &rows.transaction_id,
        &outcomes as &[&str],
        &reasons as &[&str],
        &details as &[Option<&str>],
        &kinds as &[Option<&str>],
        &rows.amount,
        &rows.currency,
        &rows.narration,
        &rows.description as &[Option<String>],
        &rows.reference as &[Option<String>],
        &rows.counterparty as &[Option<String>],
        &rows.date as &[Option<DateTime<Utc>>],
        &rows.rule_id as &[Option<String>],
        &raws as &[Option<&str>]
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(new_ids)
}
