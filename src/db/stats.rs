//! The planner's statistics of the tables a sync writes. Autovacuum analyzes a table once a
//! tenth of it changed and its next round comes (a minute later at best), so right after a
//! bulk write (a first sync of a long history, a seed) the statistics describe a table a
//! fraction of its size: the lists then plan on a guess. These run ANALYZE at once instead.

use sqlx::PgExecutor;

/// The tables every sync page writes.
pub const WRITTEN_BY_SYNC: &[&str] = &[
    "mono_transactions",
    "eligibility_events",
    "invoices",
    "dlq_records",
    "monitoring_events",
];

/// ANALYZE of every table a sync writes (and `jobs`).
pub async fn analyze_written(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    // A utility statement: nothing for `query!` to check.
    sqlx::query(&format!("ANALYZE {}, jobs", WRITTEN_BY_SYNC.join(", ")))
        .execute(db)
        .await?;
    Ok(())
}

/// ANALYZE of each table a sync writes whose statistics know of fewer than ten times
/// `written` rows (the share at which autovacuum would analyze it, once its round comes): a
/// sync that wrote as much leaves the planner current, one that wrote little costs a read of
/// `pg_class`. Answers the tables analyzed.
pub async fn analyze_if_outgrown(db: &sqlx::PgPool, written: u64) -> Result<Vec<String>, sqlx::Error> {
    let tables: Vec<&str> = WRITTEN_BY_SYNC.to_vec();
    // The catalog only: nothing of the schema for `query!` to check.
    let behind: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
         WHERE c.oid = ANY (SELECT to_regclass(t) FROM unnest($1::text[]) t)
           AND greatest(c.reltuples, 0) < $2::float8 * 10",
    )
    .bind(&tables)
    .bind(written as f64)
    .fetch_all(db)
    .await?;
    for table in &behind {
        // Names from the list above, never from input; a utility statement takes no binds.
        sqlx::query(&format!("ANALYZE {table}")).execute(db).await?;
    }
    Ok(behind)
}
