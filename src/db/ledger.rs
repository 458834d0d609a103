//! The write path of a sync page: the exactly-once ledger, eligibility events, DRAFT invoices,
//! DLQ records and `invoice_failed` monitoring events, in ONE statement per page (UNNEST).

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::domain::RecordReason;
use eligibility::{DraftKind, Outcome};

pub mod engine_rows;

/// A page of decided transactions in column form, as the statement binds them: each
/// transaction is moved into these columns once, straight from its decision.
#[derive(Debug, Default)]
pub struct PageRows {
    pub transaction_id: Vec<String>,
    pub outcome: Vec<Outcome>,
    pub reason: Vec<RecordReason>,
    pub detail: Vec<Option<String>>,
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
    /// The keywords that fired, joined by [`KEYWORD_SEPARATOR`] (one text per row binds as a
    /// plain array, where an array of arrays could not be ragged).
    pub keywords: Vec<String>,
    /// The transaction as Mono sent it: kept in the ledger (rule preview, replay) and on DLQ
    /// records.
    pub raw: Vec<Box<RawValue>>,
    /// Whether the transaction is a credit; None for one that did not decode. With it the
    /// ledger keeps the fields the engine reads beside the JSON, for the rule preview.
    pub credit: Vec<Option<bool>>,
}

/// Joins a row's keywords for [`PageRows::keywords`]; a keyword never holds this character
/// (the unit separator) in practice, and a split one would only read oddly.
pub const KEYWORD_SEPARATOR: char = '\u{1f}';

/// One decided transaction, handed to [`PageRows::push`].
pub struct DecidedRow {
    pub transaction_id: String,
    pub outcome: Outcome,
    pub reason: RecordReason,
    /// The engine's detail, or the pipeline's (an own-account transfer names its other leg).
    pub detail: Option<String>,
    pub kind: Option<DraftKind>,
    pub amount: i64,
    pub currency: String,
    pub narration: String,
    pub description: Option<String>,
    pub reference: Option<String>,
    /// The reference by which the transaction may name an invoice (ELIGIBILITY.md,
    /// reconciliation): its own `reference` field, else the one the engine matched. Not stored.
    pub names: Option<String>,
    pub counterparty: Option<String>,
    /// The counterparty's account number as Mono sent it, for the buyer directory's match.
    /// Not stored.
    pub counterparty_account: Option<String>,
    pub date: Option<DateTime<Utc>>,
    pub rule_id: Option<String>,
    pub keywords: Vec<String>,
    pub raw: Box<RawValue>,
    /// A credit (else a debit); None for an item that does not decode. Not stored.
    pub credit: Option<bool>,
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
            keywords: Vec::with_capacity(n),
            raw: Vec::with_capacity(n),
            credit: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.transaction_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transaction_id.is_empty()
    }

    pub fn push(&mut self, row: DecidedRow) {
        self.raw.push(row.raw);
        self.credit.push(row.credit);
        let mut joined = String::new();
        for (i, k) in row.keywords.iter().enumerate() {
            if i > 0 {
                joined.push(KEYWORD_SEPARATOR);
            }
            joined.push_str(k);
        }
        self.keywords.push(joined);
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
    /// The version of the policy that decided the page (`services::settings::policy_version`).
    pub policy_version: &'a str,
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
    let details: Vec<Option<&str>> = rows.detail.iter().map(|d| d.as_deref()).collect();
    let kinds: Vec<Option<&str>> = rows.kind.iter().map(|k| k.map(|k| k.as_str())).collect();
    let raws: Vec<&str> = rows.raw.iter().map(|r| r.get()).collect();
    let new_ids = sqlx::query_scalar!(
        r#"
        WITH input AS (
            SELECT * FROM UNNEST(
                $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[],
                $13::text[], $14::text[], $15::text[], $16::text[], $17::timestamptz[], $18::text[], $19::text[],
                $20::text[], $22::bool[]
            ) AS t(transaction_id, outcome, reason, detail, kind, amount, currency,
                   narration, description, reference, counterparty, tx_date, rule_id, raw, keywords, credit)
        ),
        fresh AS (
            -- What the engine reads, taken from the JSON as stored, for a transaction that
            -- decoded (the rule preview reads these instead of the JSON).
            INSERT INTO mono_transactions (env_id, account_id, transaction_id, outcome, reason, transaction, tx_date,
                                           credit, amount, currency, narration, description, reference,
                                           counterparty_name, counterparty_account, counterparty_bank)
            SELECT $2, $3, transaction_id, outcome, reason, j, tx_date, input.credit,
                   CASE WHEN input.credit IS NOT NULL THEN (j->>'amount')::int8 END,
                   CASE WHEN input.credit IS NOT NULL THEN j->>'currency' END,
                   CASE WHEN input.credit IS NOT NULL THEN j->>'narration' END,
                   CASE WHEN input.credit IS NOT NULL THEN j->>'description' END,
                   CASE WHEN input.credit IS NOT NULL THEN j->>'reference' END,
                   CASE WHEN input.credit IS NOT NULL THEN j->'counterparty'->>'name' END,
                   CASE WHEN input.credit IS NOT NULL
                        THEN coalesce(j->'counterparty'->>'accountNumber', j->'counterparty'->>'account_number') END,
                   CASE WHEN input.credit IS NOT NULL THEN j->'counterparty'->>'bank' END
            FROM input, LATERAL (SELECT input.raw::jsonb AS j) AS parsed
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
                                  rule_id, trace_id, keywords)
            SELECT gen_random_uuid(), $1, $2, 'mono', kind, $3, transaction_id, amount, currency, reference,
                   counterparty, narration, description, tx_date, reason, rule_id, $5,
                   string_to_array(keywords, chr(31))
            FROM fresh_input WHERE outcome = 'draft'
            ON CONFLICT ON CONSTRAINT invoices_mono_transaction_key DO NOTHING
        ),
        dead AS (
            INSERT INTO dlq_records (id, org_id, env_id, account_id, transaction_id, reason, detail, transaction,
                                     source, trace_id, amount, currency, narration, reference, rule_id,
                                     keywords, policy_version)
            SELECT gen_random_uuid(), $1, $2, $3, transaction_id, reason, detail, raw::jsonb, $4, $5, amount,
                   currency, narration, reference, rule_id, string_to_array(keywords, chr(31)), $21
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
        &raws as &[&str],
        &rows.keywords,
        ctx.policy_version,
        &rows.credit as &[Option<bool>]
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(new_ids)
}

/// Which of these transactions of the account the ledger holds already.
pub async fn held(
    db: impl sqlx::PgExecutor<'_>,
    env_id: Uuid,
    account_id: &str,
    transaction_ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT transaction_id FROM mono_transactions
         WHERE env_id = $1 AND account_id = $2 AND transaction_id = ANY($3)",
        env_id,
        account_id,
        transaction_ids
    )
    .fetch_all(db)
    .await
}

/// Which of these transactions of the account a write of them as settled (a sync page) would
/// leave as they are: the ledger holds each already with the same JSON (compared as `jsonb`)
/// and the same direction, and no payment it made is short of `settled`, on its record or on
/// its invoice. Such a transaction needs no write at all: the ledger keeps its first decision
/// and its payment has nowhere further to move (ELIGIBILITY.md: a transaction held already
/// creates nothing new and only moves its payment forward). `raws` and `credits` run beside
/// `transaction_ids`. A read only: it takes no lock.
pub async fn unchanged_settled(
    db: impl sqlx::PgExecutor<'_>,
    env_id: Uuid,
    account_id: &str,
    transaction_ids: &[String],
    raws: &[&str],
    credits: &[Option<bool>],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT m.transaction_id
           FROM UNNEST($3::text[], $4::text[], $5::bool[]) AS u(transaction_id, raw, credit)
           JOIN mono_transactions m
             ON m.env_id = $1 AND m.account_id = $2 AND m.transaction_id = u.transaction_id
           WHERE m.transaction = u.raw::jsonb
             AND m.credit IS NOT DISTINCT FROM u.credit
             AND NOT EXISTS (
                 SELECT 1 FROM invoice_payments p
                 LEFT JOIN invoices i ON i.id = p.invoice_id
                 WHERE p.env_id = $1 AND p.account_id = $2 AND p.transaction_id = u.transaction_id
                   AND (p.status <> 'settled' OR i.payment_status IS DISTINCT FROM 'settled'))"#,
        env_id,
        account_id,
        transaction_ids,
        raws as &[&str],
        credits as &[Option<bool>]
    )
    .fetch_all(db)
    .await
}

/// A transaction decided again (DLQ replay): the ledger row takes the new decision, an
/// eligibility event records it, and a draft is created when it now passes (idempotent on the
/// transaction). Answers the draft's id (new or existing) when the outcome is `draft`.
pub async fn record_redecision(
    tx: &mut sqlx::PgConnection,
    ctx: &PageContext<'_>,
    row: &DecidedRow,
) -> Result<Option<Uuid>, sqlx::Error> {
    let invoice_id = sqlx::query_scalar!(
        r#"
        WITH ledger AS (
            UPDATE mono_transactions SET outcome = $7, reason = $8
            WHERE env_id = $2 AND account_id = $3 AND transaction_id = $6
        ),
        event AS (
            INSERT INTO eligibility_events (org_id, env_id, account_id, transaction_id, outcome, reason, detail,
                                            amount, currency, narration, reference, source, trace_id)
            VALUES ($1, $2, $3, $6, $7, $8, $9, $11, $12, $13, $15, $4, $5)
        ),
        draft AS (
            INSERT INTO invoices (id, org_id, env_id, source, kind, account_id, transaction_id, amount, currency,
                                  reference, counterparty, narration, description, transaction_date, reason,
                                  rule_id, trace_id, keywords)
            SELECT gen_random_uuid(), $1, $2, 'mono', $10, $3, $6, $11, $12, $15, $16, $13, $14, $17, $8, $18, $5, $19
            WHERE $7 = 'draft'
            ON CONFLICT ON CONSTRAINT invoices_mono_transaction_key DO NOTHING
            RETURNING id
        )
        SELECT CASE WHEN $7 = 'draft' THEN COALESCE(
            (SELECT id FROM draft),
            (SELECT id FROM invoices WHERE env_id = $2 AND account_id = $3 AND transaction_id = $6)
        ) END AS "invoice_id?"
        "#,
        ctx.org_id,
        ctx.env_id,
        ctx.account_id,
        ctx.source,
        ctx.trace_id,
        row.transaction_id,
        row.outcome.as_str(),
        row.reason.as_str(),
        row.detail.as_deref(),
        row.kind.map(|k| k.as_str()),
        row.amount,
        row.currency,
        row.narration,
        row.description,
        row.reference,
        row.counterparty,
        row.date,
        row.rule_id,
        &row.keywords
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(invoice_id)
}

/// Cuts every later statement of the caller's transaction that runs longer than `timeout`
/// (`statement_timeout`, for this transaction only); a statement cut so fails with SQLSTATE
/// 57014 ([`is_statement_timeout`]).
pub async fn set_local_statement_timeout(
    conn: &mut sqlx::PgConnection,
    timeout: std::time::Duration,
) -> Result<(), sqlx::Error> {
    let ms = format!("{}ms", timeout.as_millis().max(1));
    sqlx::query!("SELECT set_config('statement_timeout', $1, true)", ms)
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// Whether `err` is a statement cut by `statement_timeout` (or a cancel).
pub fn is_statement_timeout(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("57014"))
}

/// Opens the preview's view of the ledger on `conn`, a transaction begun `REPEATABLE READ`
/// ([`REPEATABLE_READ`]) with its statement timeout set: exports its snapshot, which every
/// connection that imports it ([`import_snapshot`]) sees exactly, for as long as this
/// transaction stays open.
pub async fn export_snapshot(conn: &mut sqlx::PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT pg_export_snapshot() AS "id!""#)
        .fetch_one(conn)
        .await
}

/// How a transaction that exports or imports a snapshot begins.
pub const REPEATABLE_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ";

/// Makes `conn`, a transaction just begun with [`REPEATABLE_READ`] that has run nothing yet,
/// see the snapshot `id` exported by [`export_snapshot`].
pub async fn import_snapshot(conn: &mut sqlx::PgConnection, id: &str) -> Result<(), sqlx::Error> {
    // SET takes no parameters: the id goes into the statement, so only what PostgreSQL's ids
    // are made of (hex digits and dashes) is let in.
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(sqlx::Error::Protocol(format!("not a snapshot id: {id:?}")));
    }
    let statement = format!("SET TRANSACTION SNAPSHOT '{id}'");
    // A statement without arguments goes as a simple query (SET takes no parameters).
    sqlx::Executor::execute(conn, statement.as_str()).await?;
    Ok(())
}

/// The ledger table's size in pages now: every row a snapshot taken before sees lies below it.
/// (Waits, like a scan, while the table is locked against readers.)
pub async fn ledger_pages(conn: &mut sqlx::PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT pg_relation_size('mono_transactions') / current_setting('block_size')::int8 AS "pages!""#
    )
    .fetch_one(conn)
    .await
}

/// A pooled connection holding one of the preview's scans, in a transaction of its own begun
/// with [`REPEATABLE_READ`]. Dropped before [`ScanConnection::finish`] (a scan stopped midway,
/// its COPY perhaps still streaming rows), the connection is closed rather than given back:
/// the pool could not tell it is still inside a COPY.
pub struct ScanConnection {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl ScanConnection {
    /// A connection of `pool`, its transaction begun and nothing else run yet (so it may still
    /// import a snapshot).
    pub async fn begin(pool: &sqlx::PgPool) -> Result<ScanConnection, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        sqlx::Executor::execute(&mut *conn, REPEATABLE_READ).await?;
        Ok(ScanConnection { conn: Some(conn) })
    }

    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        self.conn
            .as_mut()
            .expect("a scan's connection is held until it finishes")
    }

    /// Ends the transaction (it wrote nothing) and gives the connection back to the pool.
    pub async fn finish(mut self) -> Result<(), sqlx::Error> {
        let mut conn = self
            .conn
            .take()
            .expect("a scan's connection is held until it finishes");
        match sqlx::Executor::execute(&mut *conn, "ROLLBACK").await {
            Ok(_) => Ok(()),
            Err(e) => {
                drop(conn.detach());
                Err(e)
            }
        }
    }
}

impl Drop for ScanConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Closed: the server ends the transaction and any COPY with the session.
            drop(conn.detach());
        }
    }
}

/// Streams the rows of `scan` on `conn` as binary COPY data, in the chunks PostgreSQL sends
/// (read them with [`engine_rows::Framer`]); under `conn`'s transaction and statement timeout.
pub async fn copy_engine_rows<'c>(
    conn: &'c mut sqlx::PgConnection,
    scan: &engine_rows::Scan<'_>,
) -> Result<futures::stream::BoxStream<'c, Result<bytes::Bytes, sqlx::Error>>, sqlx::Error> {
    let statement = scan
        .copy_statement()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    conn.copy_out_raw(&statement).await
}
