//! Session-level advisory locks on connections of their own. A lock lives as long as its
//! connection, and the connection is not pooled: dropping it (the sync finished, failed,
//! panicked, or its request was dropped) closes the session, and PostgreSQL releases the lock.
//! No lock can outlive its holder or be handed to another request with a pooled connection.

use sha2::{Digest, Sha256};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

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
