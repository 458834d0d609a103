//! Webhook deliveries (stored before they are acknowledged), the receipts that store no body
//! (refusals, a row per reason and flush; duplicates) and the figures of `webhook-status`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::queue::JobSpec;

use crate::tenancy::{EnvName, Tenant};

/// What intake found: the delivery (new or the earlier copy) and its state.
#[derive(Debug, Clone)]
pub struct Intake {
    pub id: Uuid,
    pub event: String,
    pub status: String,
    /// False when a delivery with the same dedupe key was already stored.
    pub inserted: bool,
}

/// A delivery as batched intake stores it (owned: it crosses to the batching task).
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub dedupe_key: String,
    pub event: String,
    pub event_id: Option<String>,
    pub account_id: Option<String>,
    pub link_ref: Option<String>,
    pub body: String,
    pub trace_id: String,
    pub known_event: bool,
}

/// What batched intake found for one dedupe key.
#[derive(Debug, Clone)]
pub struct BatchIntake {
    pub dedupe_key: String,
    pub intake: Intake,
}

/// Stores deliveries, and the jobs of those to be processed, in ONE statement (one commit for
/// all). Each is attributed to the environment of its account (else of its widget-link ref); a
/// known event so attributed is `queued`, anything else `ignored`. The queued deliveries of one
/// environment get ONE `webhook` job (`payload.deliveryIds`, in arrival order): a job row per
/// batch rather than per delivery, so a busy intake writes one row per delivery plus a few. A
/// delivery whose dedupe key is stored already is not stored again: the statement answers the
/// earlier one (waiting for it to commit when both arrive at once). `deliveries` must have
/// distinct dedupe keys; `repeats` are further copies of keys in `deliveries` (dedupe key,
/// trace id). Rows are inserted in dedupe-key order, so two batches that share keys wait on
/// each other in one order and cannot deadlock.
///
/// Duplicates (copies of a stored delivery, and the repeats) are then counted in
/// `webhook_receipts` by a second statement, only when there are any; like the count of
/// refusals, that count is best effort: a failure to record it is logged and the answers stand.
pub async fn intake_batch(
    db: &PgPool,
    deliveries: &[PendingDelivery],
    repeats: &[(String, String)],
    job: JobSpec,
) -> Result<Vec<BatchIntake>, sqlx::Error> {
    let n = deliveries.len();
    let mut ids = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut account_ids = Vec::with_capacity(n);
    let mut link_refs = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    let mut trace_ids = Vec::with_capacity(n);
    let mut known = Vec::with_capacity(n);
    let mut job_ids = Vec::with_capacity(n);
    for d in deliveries {
        ids.push(Uuid::now_v7());
        keys.push(d.dedupe_key.as_str());
        events.push(d.event.as_str());
        event_ids.push(d.event_id.as_deref());
        account_ids.push(d.account_id.as_deref());
        link_refs.push(d.link_ref.as_deref());
        bodies.push(d.body.as_str());
        trace_ids.push(d.trace_id.as_str());
        known.push(d.known_event);
        job_ids.push(Uuid::now_v7());
    }
    // The plan is kept small on purpose: this statement runs once per batch on the hot path,
    // and PostgreSQL initialises every node of it each time.
    let rows = sqlx::query!(
        r#"
        WITH input AS (
            SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                 $7::text[], $8::text[], $9::bool[], $10::uuid[])
                AS t(id, dedupe_key, event, event_id, account_id, link_ref, body, trace_id, known, job_id)
        ),
        delivery AS (
            INSERT INTO webhook_deliveries AS d (id, dedupe_key, event, event_id, account_id, link_ref, org_id,
                                                 env_id, body, trace_id, status, result)
            SELECT i.id, i.dedupe_key, i.event, i.event_id, i.account_id, i.link_ref,
                   COALESCE(a.org_id, r.org_id), COALESCE(a.env_id, r.env_id), i.body, i.trace_id,
                   CASE WHEN i.known AND COALESCE(a.env_id, r.env_id) IS NOT NULL THEN 'queued' ELSE 'ignored' END,
                   CASE WHEN NOT i.known THEN jsonb_build_object('ignored', 'unknown_event')
                        WHEN COALESCE(a.env_id, r.env_id) IS NULL THEN jsonb_build_object('ignored', 'unknown_account')
                   END
            FROM input i
            -- One primary-key probe per delivery, whatever the tables' sizes: OFFSET 0 keeps
            -- each lookup a parameterized subquery (never pulled up into a join the planner
            -- could make a hash of the whole table), and the ref is looked up only for a
            -- delivery whose account is not known.
            LEFT JOIN LATERAL (
                SELECT org_id, env_id FROM mono_accounts WHERE id = i.account_id OFFSET 0
            ) a ON true
            LEFT JOIN LATERAL (
                SELECT org_id, env_id FROM mono_link_refs WHERE a.env_id IS NULL AND ref = i.link_ref OFFSET 0
            ) r ON true
            ORDER BY i.dedupe_key
            ON CONFLICT ON CONSTRAINT webhook_deliveries_dedupe_key
            DO UPDATE SET dedupe_key = EXCLUDED.dedupe_key
            RETURNING d.id, d.dedupe_key, d.event, d.status, d.org_id, d.env_id, (d.xmax = 0) AS inserted
        ),
        job AS (
            INSERT INTO jobs (id, kind, lane, payload, org_id, env_id, max_attempts)
            SELECT (array_agg(i.job_id ORDER BY d.id))[1], $11, $12,
                   jsonb_build_object('deliveryIds', jsonb_agg(d.id ORDER BY d.id)), d.org_id, d.env_id, $13
            FROM delivery d JOIN input i USING (dedupe_key)
            WHERE d.inserted AND d.status = 'queued'
            GROUP BY d.org_id, d.env_id
        )
        SELECT id AS "id!", dedupe_key AS "dedupe_key!", event AS "event!", status AS "status!",
               env_id, inserted AS "inserted!"
        FROM delivery
        "#,
        &ids,
        &keys as &[&str],
        &events as &[&str],
        &event_ids as &[Option<&str>],
        &account_ids as &[Option<&str>],
        &link_refs as &[Option<&str>],
        &bodies as &[&str],
        &trace_ids as &[&str],
        &known,
        &job_ids,
        job.kind,
        job.lane.as_str(),
        job.max_attempts,
    )
    .fetch_all(db)
    .await?;

    // Copies of a delivery stored before, then the repeats of this batch.
    let by_key: std::collections::HashMap<&str, (Uuid, Option<Uuid>, bool)> = rows
        .iter()
        .map(|r| (r.dedupe_key.as_str(), (r.id, r.env_id, r.inserted)))
        .collect();
    let duplicates: Vec<(Uuid, Option<Uuid>, &str)> = deliveries
        .iter()
        .map(|d| (d.dedupe_key.as_str(), d.trace_id.as_str()))
        .filter(|(key, _)| by_key.get(key).is_some_and(|(_, _, inserted)| !inserted))
        .chain(repeats.iter().map(|(k, t)| (k.as_str(), t.as_str())))
        .filter_map(|(key, trace)| by_key.get(key).map(|(id, env, _)| (*id, *env, trace)))
        .collect();
    if !duplicates.is_empty() {
        if let Err(e) = record_duplicates(db, &duplicates).await {
            tracing::warn!(error = %e, count = duplicates.len(), "could not count duplicate webhooks");
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| BatchIntake {
            dedupe_key: r.dedupe_key,
            intake: Intake {
                id: r.id,
                event: r.event,
                status: r.status,
                inserted: r.inserted,
            },
        })
        .collect())
}

/// Counts copies of stored deliveries: (delivery, its environment, the copy's trace id).
async fn record_duplicates(
    db: &PgPool,
    duplicates: &[(Uuid, Option<Uuid>, &str)],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = duplicates.iter().map(|d| d.0).collect();
    let envs: Vec<Option<Uuid>> = duplicates.iter().map(|d| d.1).collect();
    let traces: Vec<&str> = duplicates.iter().map(|d| d.2).collect();
    sqlx::query!(
        "INSERT INTO webhook_receipts (kind, reason, delivery_id, env_id, trace_id)
         SELECT 'duplicate', 'duplicate', id, env_id, trace_id
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS t(id, env_id, trace_id)",
        &ids,
        &envs as &[Option<Uuid>],
        &traces as &[&str]
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The refusals of one reason over a flush period: never a body or a credential.
#[derive(Debug, Clone)]
pub struct RefusalTally {
    pub reason: String,
    pub count: i32,
    pub last_at: DateTime<Utc>,
    /// The latest refusal's trace id.
    pub trace_id: Option<String>,
    /// The latest refusals: `[{at, source, traceId, throttled}]`.
    pub sample: Value,
}

/// Writes a flush period's refusals, a receipt per reason, in one statement.
pub async fn record_refusals(db: impl PgExecutor<'_>, tallies: &[RefusalTally]) -> Result<(), sqlx::Error> {
    let reasons: Vec<&str> = tallies.iter().map(|t| t.reason.as_str()).collect();
    let counts: Vec<i32> = tallies.iter().map(|t| t.count).collect();
    let times: Vec<DateTime<Utc>> = tallies.iter().map(|t| t.last_at).collect();
    let traces: Vec<Option<&str>> = tallies.iter().map(|t| t.trace_id.as_deref()).collect();
    let samples: Vec<Value> = tallies.iter().map(|t| t.sample.clone()).collect();
    sqlx::query!(
        "INSERT INTO webhook_receipts (kind, reason, count, received_at, trace_id, sample)
         SELECT 'rejected', reason, count, received_at, trace_id, sample
         FROM UNNEST($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::jsonb[])
             AS t(reason, count, received_at, trace_id, sample)",
        &reasons as &[&str],
        &counts,
        &times,
        &traces as &[Option<&str>],
        &samples
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

/// Keeps why a queued delivery failed this attempt (it stays queued for the next); false when
/// it was not queued any more.
pub async fn note_error(db: impl PgExecutor<'_>, id: Uuid, error: &str) -> Result<bool, sqlx::Error> {
    let noted = sqlx::query!(
        "UPDATE webhook_deliveries SET error = $2 WHERE id = $1 AND status = 'queued'",
        id,
        error
    )
    .execute(db)
    .await?;
    Ok(noted.rows_affected() == 1)
}

/// Ends the queued deliveries of a job out of attempts as `failed`, each with the error its
/// last attempt noted, else `error` (the job's). Those finished already keep their outcome.
pub async fn fail_queued(db: impl PgExecutor<'_>, ids: &[Uuid], error: &str) -> Result<u64, sqlx::Error> {
    let failed = sqlx::query!(
        "UPDATE webhook_deliveries SET status = 'failed', result = '{}', error = COALESCE(error, $2)
         WHERE id = ANY($1) AND status = 'queued'",
        ids,
        error
    )
    .execute(db)
    .await?;
    Ok(failed.rows_affected())
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
            SELECT kind, count FROM webhook_receipts
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
            (SELECT COALESCE(sum(count), 0) FROM receipts WHERE kind = 'duplicate')::bigint AS "duplicate!",
            (SELECT COALESCE(sum(count), 0) FROM receipts WHERE kind = 'rejected')::bigint AS "rejected!"
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
