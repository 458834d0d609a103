//! Webhook deliveries (stored before they are acknowledged), the receipts that store no body
//! (rejections, duplicates) and the figures of `webhook-status`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tenancy::{EnvName, Tenant};

/// A delivery as intake stores it.
pub struct NewDelivery<'a> {
    pub dedupe_key: &'a str,
    pub event: &'a str,
    pub event_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub link_ref: Option<&'a str>,
    pub body: &'a str,
    pub trace_id: &'a str,
    /// An event this service acts on; others are stored as ignored.
    pub known_event: bool,
    pub max_attempts: i32,
}

/// What intake found: the delivery (new or the earlier copy) and its state.
#[derive(Debug, Clone)]
pub struct Intake {
    pub id: Uuid,
    pub event: String,
    pub status: String,
    /// False when a delivery with the same dedupe key was already stored.
    pub inserted: bool,
}

/// Stores a delivery and, when it is to be processed, its job, in ONE statement: the
/// delivery is attributed to the environment of its account (else of its widget-link ref);
/// a known event so attributed is `queued` with a `webhook` job, anything else `ignored`. A
/// delivery whose dedupe key is stored already is not stored again: the statement answers the
/// earlier one (waiting for it to commit when both arrive at once) and records a duplicate.
pub async fn intake(db: impl PgExecutor<'_>, d: &NewDelivery<'_>) -> Result<Intake, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        WITH owner AS (
            SELECT org_id, env_id FROM (
                SELECT org_id, env_id, 1 AS pref FROM mono_accounts WHERE id = $5
                UNION ALL
                SELECT org_id, env_id, 2 AS pref FROM mono_link_refs WHERE ref = $6
            ) o ORDER BY pref LIMIT 1
        ),
        delivery AS (
            INSERT INTO webhook_deliveries AS d (id, dedupe_key, event, event_id, account_id, link_ref, org_id,
                                                 env_id, body, trace_id, status, result)
            SELECT $1, $2, $3, $4, $5, $6, o.org_id, o.env_id, $7, $8,
                   CASE WHEN $9 AND o.env_id IS NOT NULL THEN 'queued' ELSE 'ignored' END,
                   CASE WHEN NOT $9 THEN jsonb_build_object('ignored', 'unknown_event')
                        WHEN o.env_id IS NULL THEN jsonb_build_object('ignored', 'unknown_account')
                   END
            FROM (SELECT 1) one LEFT JOIN owner o ON true
            ON CONFLICT ON CONSTRAINT webhook_deliveries_dedupe_key
            DO UPDATE SET dedupe_key = EXCLUDED.dedupe_key
            RETURNING d.id, d.event, d.status, d.org_id, d.env_id, (d.xmax = 0) AS inserted
        ),
        job AS (
            INSERT INTO jobs (id, kind, payload, org_id, env_id, max_attempts)
            SELECT $10, 'webhook', jsonb_build_object('deliveryId', id), org_id, env_id, $11
            FROM delivery WHERE inserted AND status = 'queued'
        ),
        duplicate AS (
            INSERT INTO webhook_receipts (kind, reason, delivery_id, env_id, trace_id)
            SELECT 'duplicate', 'duplicate', id, env_id, $8 FROM delivery WHERE NOT inserted
        )
        SELECT id AS "id!", event AS "event!", status AS "status!", inserted AS "inserted!" FROM delivery
        "#,
        Uuid::now_v7(),
        d.dedupe_key,
        d.event,
        d.event_id,
        d.account_id,
        d.link_ref,
        d.body,
        d.trace_id,
        d.known_event,
        Uuid::now_v7(),
        d.max_attempts
    )
    .fetch_one(db)
    .await?;
    Ok(Intake {
        id: row.id,
        event: row.event,
        status: row.status,
        inserted: row.inserted,
    })
}

/// A refused delivery: its reason and time, never its body.
pub async fn record_rejection(
    db: impl PgExecutor<'_>,
    reason: &str,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO webhook_receipts (kind, reason, trace_id) VALUES ('rejected', $1, $2)",
        reason,
        trace_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A stored delivery, with the tenant it was attributed to.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub event: String,
    pub account_id: Option<String>,
    pub link_ref: Option<String>,
    pub body: String,
    pub trace_id: String,
    pub status: String,
    pub tenant: Option<Tenant>,
}

/// Reads a delivery; with `lock`, takes its row lock (inside the caller's transaction) so
/// no one else processes it meanwhile.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid, lock: bool) -> Result<Option<DeliveryRow>, sqlx::Error> {
    // Two statements rather than a dynamic one, so both stay checked at compile time.
    let row = if lock {
        sqlx::query!(
            r#"SELECT d.id, d.event, d.account_id, d.link_ref, d.body, d.trace_id, d.status, d.org_id, d.env_id,
                      e.name AS "env_name?"
               FROM webhook_deliveries d LEFT JOIN environments e ON e.id = d.env_id
               WHERE d.id = $1 FOR UPDATE OF d"#,
            id
        )
        .fetch_optional(db)
        .await?
        .map(|r| (r.id, r.event, r.account_id, r.link_ref, r.body, r.trace_id, r.status, r.org_id, r.env_id, r.env_name))
    } else {
        sqlx::query!(
            r#"SELECT d.id, d.event, d.account_id, d.link_ref, d.body, d.trace_id, d.status, d.org_id, d.env_id,
                      e.name AS "env_name?"
               FROM webhook_deliveries d LEFT JOIN environments e ON e.id = d.env_id
               WHERE d.id = $1"#,
            id
        )
        .fetch_optional(db)
        .await?
        .map(|r| (r.id, r.event, r.account_id, r.link_ref, r.body, r.trace_id, r.status, r.org_id, r.env_id, r.env_name))
    };
    let Some((id, event, account_id, link_ref, body, trace_id, status, org_id, env_id, env_name)) = row
    else {
        return Ok(None);
    };
    let tenant = match (org_id, env_id, env_name) {
        (Some(org), Some(env), Some(name)) => {
            let name =
                EnvName::parse(&name).ok_or_else(|| super::unknown_value("environments.name", &name))?;
            Some(Tenant::system(org, env, name))
        }
        _ => None,
    };
    Ok(Some(DeliveryRow {
        id,
        event,
        account_id,
        link_ref,
        body,
        trace_id,
        status,
        tenant,
    }))
}

/// Ends a queued delivery as `processed`, `ignored` or `failed` with what happened; false when
/// it was not queued any more.
pub async fn finish(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: &str,
    result: &Value,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE webhook_deliveries SET status = $2, result = $3, error = $4,
                processed_at = CASE WHEN $2 = 'processed' THEN now() END
         WHERE id = $1 AND status = 'queued'",
        id,
        status,
        result,
        error
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The figures of `GET /si/mono/webhook-status`; `env_id` None: every environment and the
/// deliveries no environment claims.
#[derive(Debug, Clone)]
pub struct StatusFigures {
    pub last_received_at: Option<DateTime<Utc>>,
    pub last_processed_at: Option<DateTime<Utc>>,
    pub last_failure: Option<(DateTime<Utc>, String)>,
    pub pending: i64,
    pub received: i64,
    pub processed: i64,
    pub duplicate: i64,
    pub rejected: i64,
    pub ignored: i64,
    pub failed: i64,
}

pub async fn status(db: impl PgExecutor<'_>, env_id: Option<Uuid>) -> Result<StatusFigures, sqlx::Error> {
    let r = sqlx::query!(
        r#"
        WITH recent AS (
            SELECT status FROM webhook_deliveries
            WHERE ($1::uuid IS NULL OR env_id = $1) AND received_at > now() - interval '24 hours'
        ),
        receipts AS (
            SELECT kind FROM webhook_receipts
            WHERE ($1::uuid IS NULL OR env_id = $1) AND received_at > now() - interval '24 hours'
        ),
        failure AS (
            SELECT at, reason FROM (
                (SELECT received_at AS at, reason FROM webhook_receipts
                 WHERE kind = 'rejected' AND $1::uuid IS NULL ORDER BY received_at DESC LIMIT 1)
                UNION ALL
                (SELECT COALESCE(processed_at, received_at) AS at, COALESCE(error, 'failed') AS reason
                 FROM webhook_deliveries WHERE status = 'failed' AND ($1::uuid IS NULL OR env_id = $1)
                 ORDER BY received_at DESC LIMIT 1)
            ) f ORDER BY at DESC LIMIT 1
        )
        SELECT
            (SELECT max(received_at) FROM webhook_deliveries WHERE $1::uuid IS NULL OR env_id = $1)
                AS last_received_at,
            (SELECT max(processed_at) FROM webhook_deliveries WHERE $1::uuid IS NULL OR env_id = $1)
                AS last_processed_at,
            (SELECT at FROM failure) AS failure_at,
            (SELECT reason FROM failure) AS failure_reason,
            (SELECT count(*) FROM webhook_deliveries WHERE status = 'queued' AND ($1::uuid IS NULL OR env_id = $1))
                AS "pending!",
            (SELECT count(*) FROM recent) AS "received!",
            (SELECT count(*) FROM recent WHERE status = 'processed') AS "processed!",
            (SELECT count(*) FROM recent WHERE status = 'ignored') AS "ignored!",
            (SELECT count(*) FROM recent WHERE status = 'failed') AS "failed!",
            (SELECT count(*) FROM receipts WHERE kind = 'duplicate') AS "duplicate!",
            (SELECT count(*) FROM receipts WHERE kind = 'rejected') AS "rejected!"
        "#,
        env_id
    )
    .fetch_one(db)
    .await?;
    Ok(StatusFigures {
        last_received_at: r.last_received_at,
        last_processed_at: r.last_processed_at,
        last_failure: r.failure_at.zip(r.failure_reason),
        pending: r.pending,
        received: r.received,
        processed: r.processed,
        duplicate: r.duplicate,
        rejected: r.rejected,
        ignored: r.ignored,
        failed: r.failed,
    })
}
