//! Advisory locks. Session-level ones (account syncs) on connections of their own: a lock lives
//! as long as its connection, and the connection is not pooled: dropping it (the sync
//! finished, failed, panicked, or its request was dropped) closes the session, and PostgreSQL
//! releases the lock. No lock can outlive its holder or be handed to another request with a
//! pooled connection. Transaction-level ones (`xact_locks`: references, amounts) end with the
//! transaction that takes them.

use sha2::{Digest, Sha256};
use sqlx::{ConnectOptions, Connection, PgConnection, PgExecutor, PgPool};

use crate::tenancy::Tenant;

/// Classes of transaction-level locks (the first key of the two-key form, whose space never
/// meets the one-key locks of account syncs).
#[derive(Debug, Clone, Copy)]
pub enum LockClass {
    /// A folded reference an environment's transactions name.
    Reference = 0x7265_6621,
    /// A currency and amount an environment's transactions carry.
    Amount = 0x7472_6621,
}

/// Takes, until the transaction ends, the lock of each key of `class` in the tenant's
/// environment, in the order given: callers sort the keys, so two transactions taking
/// overlapping sets never deadlock.
pub async fn xact_locks(
    db: impl PgExecutor<'_>,
    class: LockClass,
    tenant: &Tenant,
    keys: &[String],
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "locked!" FROM (
               SELECT pg_advisory_xact_lock($1, hashtext($2::text || ':' || k))
               FROM unnest($3::text[]) WITH ORDINALITY AS u(k, n)
               ORDER BY n
           ) locks"#,
        class as i32,
        tenant.env_id.to_string(),
        keys
    )
    .fetch_one(db)
    .await?;
    Ok(())
}

/// A connection outside the pool, with the pool's connect options.
pub async fn dedicated_connection(pool: &PgPool) -> Result<PgConnection, sqlx::Error> {
    pool.connect_options().as_ref().clone().connect().await
}

/// Takes the sync lock of an account on `conn` without waiting; false when another session
/// holds it.
pub async fn try_lock_account(conn: &mut PgConnection, account_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT pg_try_advisory_lock($1) AS \"locked!\"",
        account_key(account_id)
    )
    .fetch_one(conn)
    .await
}

/// Ends the session that held the lock, releasing it.
pub async fn release(conn: PgConnection) {
    let _ = conn.close().await;
}

/// A 64-bit advisory-lock key per account, in a namespace of its own.
fn account_key(account_id: &str) -> i64 {
    let digest = Sha256::digest(format!("taxpoynt-mono/sync/{account_id}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}
