//! What the service keeps of MBS: its code lists (`mbs_resources`, not tenant data: every
//! organization sees the same lists) and each organization's sealed crypto keys
//! (`org_crypto_keys`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

use crate::tenancy::Tenant;

/// A code list as MBS last sent it.
#[derive(Debug, Clone)]
pub struct StoredList {
    pub items: Value,
    pub fetched_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

pub async fn list(db: impl PgExecutor<'_>, name: &str) -> Result<Option<StoredList>, sqlx::Error> {
    sqlx::query_as!(
        StoredList,
        "SELECT items, fetched_at, last_error FROM mbs_resources WHERE name = $1",
        name
    )
    .fetch_optional(db)
    .await
}

/// Stores `items` as list `name`, fetched now; answers that time.
pub async fn store_list(
    db: impl PgExecutor<'_>,
    name: &str,
    items: &Value,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        INSERT INTO mbs_resources (name, items, fetched_at, attempted_at, last_error)
        VALUES ($1, $2, now(), now(), NULL)
        ON CONFLICT (name) DO UPDATE
            SET items = EXCLUDED.items, fetched_at = now(), last_error = NULL
        RETURNING fetched_at
        "#,
        name,
        items
    )
    .fetch_one(db)
    .await
}

/// Records why the last refresh of a list kept here failed (a list never fetched has no row).
pub async fn refresh_failed(db: impl PgExecutor<'_>, name: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE mbs_resources SET last_error = $2 WHERE name = $1",
        name,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Of `names`, those due a refresh (never fetched, or fetched more than `max_age_secs` ago)
/// that no replica began refreshing within `retry_secs`; marks them begun, so one replica
/// refreshes a list at a time. A list never fetched has no row to mark: every replica may
/// fetch it, and the first to store it wins.
pub async fn claim_due(
    db: impl PgExecutor<'_>,
    names: &[String],
    max_age_secs: i64,
    retry_secs: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        WITH wanted AS (SELECT unnest($1::text[]) AS name),
        claimed AS (
            UPDATE mbs_resources r SET attempted_at = now()
            FROM wanted w
            WHERE r.name = w.name
              AND r.fetched_at < now() - make_interval(secs => $2)
              AND r.attempted_at < now() - make_interval(secs => $3)
            RETURNING r.name
        )
        SELECT name AS "name!" FROM claimed
        UNION ALL
        SELECT w.name AS "name!" FROM wanted w
        WHERE NOT EXISTS (SELECT 1 FROM mbs_resources r WHERE r.name = w.name)
        "#,
        names,
        max_age_secs as f64,
        retry_secs as f64
    )
    .fetch_all(db)
    .await
}

/// An organization's crypto keys as stored: sealed, with what the API may show.
#[derive(Debug, Clone)]
pub struct StoredKeys {
    pub fingerprint: String,
    pub sealed_with: String,
    pub nonce: Vec<u8>,
    pub sealed: Vec<u8>,
    pub uploaded_at: DateTime<Utc>,
}

/// The tenant's organization's keys, replacing what was there.
pub async fn put_keys(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    fingerprint: &str,
    sealed_with: &str,
    nonce: &[u8],
    sealed: &[u8],
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        INSERT INTO org_crypto_keys (org_id, fingerprint, sealed_with, nonce, sealed, uploaded_at)
        VALUES ($1, $2, $3, $4, $5, now())
        ON CONFLICT (org_id) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, sealed_with = EXCLUDED.sealed_with,
                nonce = EXCLUDED.nonce, sealed = EXCLUDED.sealed, uploaded_at = now()
        RETURNING uploaded_at
        "#,
        tenant.org_id,
        fingerprint,
        sealed_with,
        nonce,
        sealed
    )
    .fetch_one(db)
    .await
}

pub async fn keys(db: impl PgExecutor<'_>, tenant: &Tenant) -> Result<Option<StoredKeys>, sqlx::Error> {
    sqlx::query_as!(
        StoredKeys,
        "SELECT fingerprint, sealed_with, nonce, sealed, uploaded_at FROM org_crypto_keys WHERE org_id = $1",
        tenant.org_id
    )
    .fetch_optional(db)
    .await
}
