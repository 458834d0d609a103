//! The write path of a sync page: the exactly-once ledger, eligibility events, DRAFT invoices,
//! DLQ records and `invoice_failed` monitoring events, in ONE statement per page (UNNEST).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One decided transaction, ready to store.
#[derive(Debug, Clone)]
pub struct DecidedRow {
    pub transaction_id: String,
    pub outcome: &'static str,
    pub reason: &'static str,
    pub detail: Option<&'static str>,
    /// `invoice` or `credit_note` for drafts.
    pub kind: Option<&'static str>,
    pub amount: i64,
    pub currency: String,
    pub narration: String,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub counterparty: Option<String>,
    pub date: Option<DateTime<Utc>>,
    pub rule_id: Option<String>,
    /// The transaction as received, kept on DLQ records.
    pub raw: serde_json::Value,
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
    rows: &[DecidedRow],
) -> Result<Vec<String>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut outcomes = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut details: Vec<Option<String>> = Vec::with_capacity(n);
    let mut kinds: Vec<Option<String>> = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut narrations = Vec::with_capacity(n);
    let mut descriptions = Vec::with_capacity(n);
    let mut references = Vec::with_capacity(n);
    let mut counterparties = Vec::with_capacity(n);
    let mut dates: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut rule_ids = Vec::with_capacity(n);
    let mut raws = Vec::with_capacity(n);
    for r in rows {
        ids.push(r.transaction_id.clone());
        outcomes.push(r.outcome.to_string());
        reasons.push(r.reason.to_string());
        details.push(r.detail.map(str::to_string));
        kinds.push(r.kind.map(str::to_string));
        amounts.push(r.amount);
        currencies.push(r.currency.clone());
        narrations.push(r.narration.clone());
        descriptions.push(r.description.clone());
        references.push(r.reference.clone());
        counterparties.push(r.counterparty.clone());
        dates.push(r.date);
        rule_ids.push(r.rule_id.clone());
        raws.push(r.raw.clone());
    }
    let new_ids = sqlx::query_scalar!(
        r#"
        WITH input AS (
            SELECT * FROM UNNEST(
                $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[],
                $13::text[], $14::text[], $15::text[], $16::text[], $17::timestamptz[], $18::text[], $19::jsonb[]
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
            SELECT gen_random_uuid(), $1, $2, $3, transaction_id, reason, detail, raw, $4, $5
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
        &ids,
        &outcomes,
        &reasons,
        &details as &[Option<String>],
        &kinds as &[Option<String>],
        &amounts,
        &currencies,
        &narrations,
        &descriptions as &[Option<String>],
        &references as &[Option<String>],
        &counterparties as &[Option<String>],
        &dates as &[Option<DateTime<Utc>>],
        &rule_ids as &[Option<String>],
        &raws
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(new_ids)
}
