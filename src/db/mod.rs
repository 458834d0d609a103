//! Storage: sqlx queries, one file per table group. Every query on tenant data takes the
//! `Tenant` it runs for, so no caller can forget the organization and environment.

pub mod accounts;
pub mod budget;
pub mod buyers;
pub mod dlq;
pub mod environments;
pub mod events;
pub mod invoices;
pub mod ledger;
pub mod locks;
pub mod mbs;
pub mod payments;
pub mod queue;
pub mod retention;
pub mod rules;
pub mod signing_keys;
pub mod stats;
pub mod submissions;
pub mod tenancy;
pub mod transfers;
pub mod webhooks;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A pool that connects lazily, so the service starts (and `/readyz` answers 503) even while
/// the database is down, and recovers by itself when it returns.
///
/// Its sessions plan every execution of a prepared statement with its values
/// (`plan_cache_mode=force_custom_plan`). The lists' filters are written `($n IS NULL OR
/// column = $n)`; a generic plan, which PostgreSQL may switch to after five executions,
/// cannot tell a filter given from one left out, so it would walk the environment's whole
/// index for a filter on a rare value, and which plan a connection kept would depend on the
/// first requests it served. Planning costs a fraction of a millisecond.
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("taxpoynt-mono")
        .options([("plan_cache_mode", "force_custom_plan")]);
    Ok(pool_with(options, max_connections))
}

///
/// A connection that sat idle for [`PING_IDLE_AFTER`] or longer is pinged before it is handed
/// out, so one that died meanwhile (a database restart, a dropped socket) is replaced rather
/// than failing a request. One back in the pool for less than that is handed out as it is:
/// sqlx pings every connection as it returns to the pool, so it was alive a moment ago, and a
/// ping per query would be a round trip (and a wakeup of the server's backend) per statement.
pub fn pool_with(options: PgConnectOptions, max_connections: u32) -> PgPool {
    pool_pinging_after(options, max_connections, PING_IDLE_AFTER)
}

/// [`pool_with`] with connections idle for `ping_after` or longer pinged before use.
pub fn pool_pinging_after(options: PgConnectOptions, max_connections: u32, ping_after: Duration) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Duration::from_secs(300))
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= ping_after {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options)
}

/// How long a pooled connection may sit idle before it is pinged on its way out (see
/// [`pool_with`]).
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A small pool of its own for one hot statement run over and over with new values (webhook
/// intake): its sessions use generic plans (`plan_cache_mode`, set after the base pool's, so
/// it wins), so the prepared statement is planned once per connection instead of at every
/// execution, and connections are not pinged
/// before use (the caller retries once when a connection turns out dead).
pub fn hot_statement_pool(base: &PgPool, connections: u32) -> PgPool {
    let options = (*base.connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    PgPoolOptions::new()
        .max_connections(connections.max(1))
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Duration::from_secs(300))
        .test_before_acquire(false)
        .connect_lazy_with(options)
}

/// A stored value outside its column's vocabulary: the schema's CHECK constraints make this
/// a bug or a hand edit, never client input, so it fails loudly as a decode error.
pub(crate) fn unknown_value(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column}: unknown value `{value}`").into())
}

/// Number of migrations embedded in this binary that the database has applied.
pub async fn applied_migrations(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let row = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    Ok(row)
}
