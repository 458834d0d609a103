//! The shared request budgets towards Mono and MBS (`request_budgets`, one row each): taking
//! tokens and pausing every replica after a 429. Both are one statement on the budget's row, so the row lock orders the
//! replicas and no two of them can spend the same token.
//!
//! Time is the database's clock (`clock_timestamp()`, read after the row is locked), never a
//! replica's: replicas whose clocks disagree still share one window. The statements are built
//! at run time (`sqlx::query_as`) and covered by the budget tests.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What one take answered.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Take {
    /// Tokens handed out (0..=want).
    pub granted: i32,
    /// The database's time of the take.
    pub now: DateTime<Utc>,
    /// Until when the upstream asked every replica to wait, if that is still ahead.
    pub paused_until: Option<DateTime<Utc>>,
    /// When the token that comes back next was spent (it is back one window later); none
    /// while tokens are left.
    pub next_back_spent_at: Option<DateTime<Utc>>,
}

/// Takes up to `want` tokens of budget `name` at `at` (none: the database's clock), letting
/// at most `limit` calls through per `window_ms`. An entry older than the window is dropped
/// from the row as it is read, so the row holds at most `limit` entries.
pub async fn take(
    pool: &PgPool,
    name: &str,
    limit: u32,
    window_ms: u32,
    want: u32,
    at: Option<DateTime<Utc>>,
) -> Result<Option<Take>, sqlx::Error> {
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    let want = i32::try_from(want).unwrap_or(i32::MAX);
    sqlx::query_as::<_, Take>(
        r#"
        UPDATE request_budgets AS b
        SET (spent_at, granted, updated_at) = (
            SELECT ARRAY(SELECT t FROM unnest(s.kept || array_fill(s.now, ARRAY[s.give])) AS t ORDER BY t),
                   s.give,
                   s.now
            FROM (
                SELECT k.now, k.kept,
                       CASE WHEN b.paused_until > k.now THEN 0
                            ELSE GREATEST(0, LEAST($4, $2 - cardinality(k.kept))) END AS give
                FROM (
                    SELECT n.now,
                           ARRAY(SELECT t FROM unnest(b.spent_at) AS t
                                 WHERE t > n.now - make_interval(secs => $3::float8 / 1000)
                                 ORDER BY t) AS kept
                    FROM (SELECT COALESCE($5::timestamptz, clock_timestamp()) AS now) AS n
                ) AS k
            ) AS s
        )
        WHERE b.name = $1
        RETURNING b.granted,
                  b.updated_at AS now,
                  CASE WHEN b.paused_until > b.updated_at THEN b.paused_until END AS paused_until,
                  CASE WHEN cardinality(b.spent_at) >= $2 AND $2 > 0
                       THEN b.spent_at[cardinality(b.spent_at) - $2 + 1] END AS next_back_spent_at
        "#,
    )
    .bind(name)
    .bind(limit)
    .bind(f64::from(window_ms))
    .bind(want)
    .bind(at)
    .fetch_optional(pool)
    .await
}

/// Creates budget `name` when it does not exist yet (the migrations create `mono` and `mbs`).
pub async fn ensure(pool: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO request_budgets (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// Stops every replica's takes of budget `name` for `millis` from now (a later pause already
/// set stays); answers the pause's end.
pub async fn pause(pool: &PgPool, name: &str, millis: u64) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let millis = i64::try_from(millis).unwrap_or(i64::MAX);
    sqlx::query_scalar::<_, DateTime<Utc>>(
        r#"
        UPDATE request_budgets
        SET paused_until = GREATEST(
                COALESCE(paused_until, '-infinity'),
                clock_timestamp() + make_interval(secs => $2::float8 / 1000))
        WHERE name = $1
        RETURNING paused_until
        "#,
    )
    .bind(name)
    .bind(millis as f64)
    .fetch_optional(pool)
    .await
}

/// The pause recorded on budget `name`, past or not.
pub async fn paused_until(pool: &PgPool, name: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let row: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT paused_until FROM request_budgets WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(row.flatten())
}
