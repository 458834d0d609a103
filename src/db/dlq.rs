//! DLQ records: review (list, one by id), replay and resolution.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tenancy::Tenant;

#[derive(Debug, Clone)]
pub struct DlqRow {
    pub id: Uuid,
    pub seq: i64,
    pub account_id: String,
    pub transaction_id: String,
    pub reason: String,
    pub detail: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub narration: Option<String>,
    pub reference: Option<String>,
    /// As Mono sent it, as stored: read as text, never parsed into a tree (a page of the
    /// review writes it out as is; a replay decodes it into the transaction).
    pub transaction: Json<Box<RawValue>>,
    pub source: String,
    pub rule_id: Option<String>,
    pub keywords: Vec<String>,
    pub policy_version: Option<String>,
    pub trace_id: Option<String>,
    pub status: String,
    pub resolution: Option<String>,
    pub note: Option<String>,
    pub invoice_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Clone)]
pub struct DlqFilter {
    pub resolved: bool,
    pub reason: Option<String>,
    pub account_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// Up to `limit + 1` records, newest first, so the caller knows whether there is a next page.
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    f: &DlqFilter,
) -> Result<Vec<DlqRow>, sqlx::Error> {
    sqlx::query_as!(
        DlqRow,
        r#"
        SELECT id, seq, account_id, transaction_id, reason, detail, amount, currency, narration, reference,
               transaction AS "transaction: Json<Box<RawValue>>", source, rule_id, keywords, policy_version, trace_id, status, resolution, note,
               invoice_id, created_at, resolved_at
        FROM dlq_records
        WHERE env_id = $1 AND org_id = $2 AND status = $3
          AND ($4::text IS NULL OR reason = $4)
          AND ($5::text IS NULL OR account_id = $5)
          AND ($6::timestamptz IS NULL OR created_at >= $6)
          AND ($7::timestamptz IS NULL OR created_at < $7)
          AND ($8::int8 IS NULL OR seq < $8)
        ORDER BY seq DESC
        LIMIT $9
        "#,
        tenant.env_id,
        tenant.org_id,
        if f.resolved { "resolved" } else { "open" },
        f.reason,
        f.account_id,
        f.from,
        f.to,
        f.before,
        f.limit + 1
    )
    .fetch_all(db)
    .await
}

/// One record, locked for the caller's transaction (replay and resolve decide on it).
pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
) -> Result<Option<DlqRow>, sqlx::Error> {
    sqlx::query_as!(
        DlqRow,
        r#"
        SELECT id, seq, account_id, transaction_id, reason, detail, amount, currency, narration, reference,
               transaction AS "transaction: Json<Box<RawValue>>", source, rule_id, keywords, policy_version, trace_id, status, resolution, note,
               invoice_id, created_at, resolved_at
        FROM dlq_records WHERE id = $1 AND env_id = $2 AND org_id = $3
        FOR UPDATE
        "#,
        id,
        tenant.env_id,
        tenant.org_id
    )
    .fetch_optional(db)
    .await
}

/// Closes an open record; false when it was not open.
pub async fn resolve(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    resolution: &str,
    note: Option<&str>,
    invoice_id: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE dlq_records
        SET status = 'resolved', resolution = $4, note = $5, invoice_id = $6, resolved_at = now()
        WHERE id = $1 AND env_id = $2 AND org_id = $3 AND status = 'open'
        "#,
        id,
        tenant.env_id,
        tenant.org_id,
        resolution,
        note,
        invoice_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The decision a replay reached for a record that stays open.
pub struct Redecided<'a> {
    pub reason: &'a str,
    pub detail: Option<&'a str>,
    pub rule_id: Option<&'a str>,
    pub keywords: &'a [String],
    pub policy_version: &'a str,
}

pub async fn record_redecision(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    d: &Redecided<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        UPDATE dlq_records
        SET reason = $4, detail = $5, rule_id = $6, keywords = $7, policy_version = $8
        WHERE id = $1 AND env_id = $2 AND org_id = $3
        "#,
        id,
        tenant.env_id,
        tenant.org_id,
        d.reason,
        d.detail,
        d.rule_id,
        d.keywords,
        d.policy_version
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Open records matching a bulk-replay filter, in `seq` order after `after` (a batch).
pub async fn open_ids(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    f: &DlqFilter,
    after: i64,
    batch: i64,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT id, seq FROM dlq_records
        WHERE env_id = $1 AND org_id = $2 AND status = 'open' AND seq > $3
          AND ($4::text IS NULL OR reason = $4)
          AND ($5::text IS NULL OR account_id = $5)
          AND ($6::timestamptz IS NULL OR created_at >= $6)
          AND ($7::timestamptz IS NULL OR created_at < $7)
        ORDER BY seq
        LIMIT $8
        "#,
        tenant.env_id,
        tenant.org_id,
        after,
        f.reason,
        f.account_id,
        f.from,
        f.to,
        batch
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.seq)).collect())
}

/// Open records matching a filter.
pub async fn count_open(db: impl PgExecutor<'_>, tenant: &Tenant, f: &DlqFilter) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        SELECT count(*) AS "n!" FROM dlq_records
        WHERE env_id = $1 AND org_id = $2 AND status = 'open'
          AND ($3::text IS NULL OR reason = $3)
          AND ($4::text IS NULL OR account_id = $4)
          AND ($5::timestamptz IS NULL OR created_at >= $5)
          AND ($6::timestamptz IS NULL OR created_at < $6)
        "#,
        tenant.env_id,
        tenant.org_id,
        f.reason,
        f.account_id,
        f.from,
        f.to
    )
    .fetch_one(db)
    .await
}
