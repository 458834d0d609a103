//! Retention: what is older than an environment's cutoff (or, for what no environment owns,
//! the platform's), counted or deleted in small batches (each batch its own short statement,
//! so no long lock is held). Signed invoices are kept, even one signed while a batch runs
//! (the DELETE re-checks its predicate on the row it deletes), and ledger rows are kept (they
//! are the exactly-once key): only their stored bodies go.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// An environment and the retention that applies to it.
pub struct EnvRetention {
    pub env_id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// The environment's own `retentionDays`, if set.
    pub retention_days: Option<i32>,
}

pub async fn environments(db: &PgPool) -> Result<Vec<EnvRetention>, sqlx::Error> {
    sqlx::query_as!(
        EnvRetention,
        "SELECT id AS env_id, org_id, name, retention_days FROM environments ORDER BY org_id, name"
    )
    .fetch_all(db)
    .await
}

/// What retention removes, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Mono-derived invoices never signed.
    Invoices,
    DlqRecords,
    EligibilityEvents,
    MonitoringEvents,
    /// Transactions as Mono sent them, kept in the ledger.
    TransactionBodies,
    /// Bodies of webhook deliveries done with (the delivery row stays: its dedupe key still
    /// stops a late copy).
    WebhookBodies,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Invoices,
        Kind::DlqRecords,
        Kind::EligibilityEvents,
        Kind::MonitoringEvents,
        Kind::TransactionBodies,
        Kind::WebhookBodies,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoices => "invoices",
            Kind::DlqRecords => "dlqRecords",
            Kind::EligibilityEvents => "eligibilityEvents",
            Kind::MonitoringEvents => "monitoringEvents",
            Kind::TransactionBodies => "transactionBodies",
            Kind::WebhookBodies => "webhookBodies",
        }
    }
}

/// How many rows of `kind` are older than `cutoff` in the environment.
pub async fn count(db: &PgPool, kind: Kind, env_id: Uuid, cutoff: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    let n = match kind {
        Kind::Invoices => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM invoices WHERE env_id = $1 AND source = 'mono' AND status <> 'SIGNED' AND created_at < $2",
                env_id,
                cutoff
            )
            .fetch_one(db)
            .await?
        }
        Kind::DlqRecords => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM dlq_records WHERE env_id = $1 AND created_at < $2",
                env_id,
                cutoff
            )
            .fetch_one(db)
            .await?
        }
        Kind::EligibilityEvents => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM eligibility_events WHERE env_id = $1 AND created_at < $2",
                env_id,
                cutoff
            )
            .fetch_one(db)
            .await?
        }
        Kind::MonitoringEvents => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM monitoring_events WHERE env_id = $1 AND created_at < $2",
                env_id,
                cutoff
            )
            .fetch_one(db)
            .await?
        }
        Kind::TransactionBodies => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM mono_transactions WHERE env_id = $1 AND created_at < $2 AND transaction IS NOT NULL",
                env_id,
                cutoff
            )
            .fetch_one(db)
            .await?
        }
        Kind::WebhookBodies => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM webhook_deliveries
                 WHERE env_id = $1 AND received_at < $2 AND body <> '' AND status <> 'queued'",
                env_id,
                cutoff
            )
            .fetch_one(db)
            .await?
        }
    };
    Ok(n.unwrap_or(0))
}

/// What one batch did: the rows it deleted (or cleared), and the newest `created_at` among
/// them (`received_at` for webhook bodies), where the next batch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub rows: u64,
    pub last: Option<DateTime<Utc>>,
}

/// Deletes (or, for bodies, clears) at most `batch` rows of `kind` older than `cutoff` and not
/// older than `from` (the previous batch's `last`; None: from the oldest), oldest first; says
/// how many and where the next batch starts. Callers repeat until a batch comes back short.
///
/// Each batch is a range read of the kind's retention index (`migrations/20261210200000_retention_indexes.sql`)
/// from `from`: the rows earlier batches deleted are not walked again (until VACUUM takes
/// them out of the index, a scan from the environment's start would pass over every one,
/// a cost growing with each batch). `from` is inclusive: rows sharing the previous batch's
/// last timestamp are still found, and the ones already done no longer match.
pub async fn delete_batch(
    db: &PgPool,
    kind: Kind,
    env_id: Uuid,
    cutoff: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    batch: i64,
) -> Result<Batch, sqlx::Error> {
    let (rows, last) = match kind {
        Kind::Invoices => {
            // The predicate is said twice: in the sub-select, which picks the batch from the
            // statement's snapshot, and on `i`, the row deleted. Under READ COMMITTED a row
            // updated since the snapshot (an invoice signed by a transaction this DELETE waited
            // for) is re-read and only the conditions on `i` are checked again: the sub-select's
            // answer is kept, so without the second `status <> 'SIGNED'` a batch picked before a
            // sign would delete the invoice just signed. (The `invoices_signed_never_deleted`
            // trigger would then fail the whole batch.)
            let r = sqlx::query!(
                r#"WITH gone AS (
                     DELETE FROM invoices i
                     WHERE i.id IN (
                         SELECT id FROM invoices
                         WHERE env_id = $1 AND source = 'mono' AND status <> 'SIGNED' AND created_at < $2
                           AND created_at >= coalesce($3::timestamptz, '-infinity')
                         ORDER BY created_at LIMIT $4)
                       AND i.env_id = $1 AND i.source = 'mono' AND i.status <> 'SIGNED' AND i.created_at < $2
                     RETURNING i.created_at)
                   SELECT count(*) AS "rows!", max(created_at) AS last FROM gone"#,
                env_id,
                cutoff,
                from,
                batch
            )
            .fetch_one(db)
            .await?;
            (r.rows, r.last)
        }
        Kind::DlqRecords => {
            let r = sqlx::query!(
                r#"WITH gone AS (
                     DELETE FROM dlq_records WHERE id IN (
                         SELECT id FROM dlq_records
                         WHERE env_id = $1 AND created_at < $2 AND created_at >= coalesce($3::timestamptz, '-infinity')
                         ORDER BY created_at LIMIT $4)
                     RETURNING created_at)
                   SELECT count(*) AS "rows!", max(created_at) AS last FROM gone"#,
                env_id,
                cutoff,
                from,
                batch
            )
            .fetch_one(db)
            .await?;
            (r.rows, r.last)
        }
        Kind::EligibilityEvents => {
            let r = sqlx::query!(
                r#"WITH gone AS (
                     DELETE FROM eligibility_events WHERE id IN (
                         SELECT id FROM eligibility_events
                         WHERE env_id = $1 AND created_at < $2 AND created_at >= coalesce($3::timestamptz, '-infinity')
                         ORDER BY created_at LIMIT $4)
                     RETURNING created_at)
                   SELECT count(*) AS "rows!", max(created_at) AS last FROM gone"#,
                env_id,
                cutoff,
                from,
                batch
            )
            .fetch_one(db)
            .await?;
            (r.rows, r.last)
        }
        Kind::MonitoringEvents => {
            let r = sqlx::query!(
                r#"WITH gone AS (
                     DELETE FROM monitoring_events WHERE id IN (
                         SELECT id FROM monitoring_events
                         WHERE env_id = $1 AND created_at < $2 AND created_at >= coalesce($3::timestamptz, '-infinity')
                         ORDER BY created_at LIMIT $4)
                     RETURNING created_at)
                   SELECT count(*) AS "rows!", max(created_at) AS last FROM gone"#,
                env_id,
                cutoff,
                from,
                batch
            )
            .fetch_one(db)
            .await?;
            (r.rows, r.last)
        }
        Kind::TransactionBodies => {
            let r = sqlx::query!(
                r#"WITH cleared AS (
                     UPDATE mono_transactions SET transaction = NULL, credit = NULL, amount = NULL, currency = NULL,
                            narration = NULL, description = NULL, reference = NULL, counterparty_name = NULL,
                            counterparty_account = NULL, counterparty_bank = NULL
                     WHERE (env_id, account_id, transaction_id) IN (
                         SELECT env_id, account_id, transaction_id FROM mono_transactions
                         WHERE env_id = $1 AND created_at < $2 AND created_at >= coalesce($3::timestamptz, '-infinity')
                           AND transaction IS NOT NULL
                         ORDER BY created_at LIMIT $4)
                     RETURNING created_at)
                   SELECT count(*) AS "rows!", max(created_at) AS last FROM cleared"#,
                env_id,
                cutoff,
                from,
                batch
            )
            .fetch_one(db)
            .await?;
            (r.rows, r.last)
        }
        Kind::WebhookBodies => {
            let r = sqlx::query!(
                r#"WITH cleared AS (
                     UPDATE webhook_deliveries SET body = ''
                     WHERE id IN (
                         SELECT id FROM webhook_deliveries
                         WHERE env_id = $1 AND received_at < $2 AND received_at >= coalesce($3::timestamptz, '-infinity')
                           AND body <> '' AND status <> 'queued'
                         ORDER BY received_at LIMIT $4)
                     RETURNING received_at)
                   SELECT count(*) AS "rows!", max(received_at) AS last FROM cleared"#,
                env_id,
                cutoff,
                from,
                batch
            )
            .fetch_one(db)
            .await?;
            (r.rows, r.last)
        }
    };
    Ok(Batch {
        rows: rows as u64,
        last,
    })
}

/// What retention removes that no environment owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnattributedKind {
    /// Receipts of refusals and duplicates (`webhook_receipts`).
    WebhookReceipts,
    /// Deliveries no environment claims (unknown account or ref), with their bodies.
    UnclaimedDeliveries,
}

impl UnattributedKind {
    pub const ALL: [UnattributedKind; 2] = [
        UnattributedKind::WebhookReceipts,
        UnattributedKind::UnclaimedDeliveries,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnattributedKind::WebhookReceipts => "webhookReceipts",
            UnattributedKind::UnclaimedDeliveries => "unclaimedDeliveries",
        }
    }
}

/// How many rows of `kind` are older than `cutoff`.
pub async fn count_unattributed(
    db: &PgPool,
    kind: UnattributedKind,
    cutoff: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let n = match kind {
        UnattributedKind::WebhookReceipts => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM webhook_receipts WHERE received_at < $1",
                cutoff
            )
            .fetch_one(db)
            .await?
        }
        UnattributedKind::UnclaimedDeliveries => {
            sqlx::query_scalar!(
                "SELECT count(*) FROM webhook_deliveries
                 WHERE env_id IS NULL AND received_at < $1 AND status <> 'queued'",
                cutoff
            )
            .fetch_one(db)
            .await?
        }
    };
    Ok(n.unwrap_or(0))
}

/// Deletes at most `batch` rows of `kind` older than `cutoff`; answers how many.
pub async fn delete_unattributed_batch(
    db: &PgPool,
    kind: UnattributedKind,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = match kind {
        UnattributedKind::WebhookReceipts => {
            sqlx::query!(
                "DELETE FROM webhook_receipts WHERE id IN (
                     SELECT id FROM webhook_receipts WHERE received_at < $1 LIMIT $2)",
                cutoff,
                batch
            )
            .execute(db)
            .await?
        }
        UnattributedKind::UnclaimedDeliveries => {
            // A delivery is attributed when it is stored and never after, so the batch's
            // predicate holds for every row it picked.
            sqlx::query!(
                "DELETE FROM webhook_deliveries WHERE id IN (
                     SELECT id FROM webhook_deliveries
                     WHERE env_id IS NULL AND received_at < $1 AND status <> 'queued' LIMIT $2)",
                cutoff,
                batch
            )
            .execute(db)
            .await?
        }
    };
    Ok(done.rows_affected())
}
