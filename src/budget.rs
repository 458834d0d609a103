//! The request budgets towards Mono (`MONO_MAX_RPS`) and MBS (`MBS_MAX_RPS`), each shared by
//! every replica: each call a client makes takes a token first (`request_budget::RequestBudget`,
//! implemented here), and a 429 with `Retry-After` pauses every replica.
//!
//! The tokens live in PostgreSQL (`db::budget`): a call may go when fewer than the limit went
//! within the last window, so the fleet never exceeds the limit in any window, however many
//! replicas share it. The window is a second plus [`GUARD`], the spread of the time between a
//! grant and the call reaching the upstream, so that calls counted by whole seconds where they arrive
//! stay within the limit too.
//!
//! To keep round trips down a process asks once for the tokens of every caller waiting in it
//! (at most [`MAX_BATCH`]) and hands them out at once; a token not handed out within
//! [`TOKEN_LIFETIME`] is dropped, so a batch cannot be spent later than the window allows for.
//! While nothing is left, one caller per process sleeps until a token comes back (or the
//! pause ends) and asks again; the others queue behind it without touching the database.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use request_budget::{BudgetError, BudgetFuture, RequestBudget};

use crate::db::budget::{self as store, Take};

/// The budget towards Mono every replica shares.
pub const BUDGET_NAME: &str = "mono";
/// The budget towards MBS every replica shares.
pub const MBS_BUDGET_NAME: &str = "mbs";
/// Added to the one-second window (see the module docs).
pub const GUARD: Duration = Duration::from_millis(100);
/// Most tokens one process takes at once.
pub const MAX_BATCH: u32 = 8;
/// A token held in a process longer than this is dropped unspent.
pub const TOKEN_LIFETIME: Duration = Duration::from_millis(20);
/// Longest sleep between two takes while the budget is spent or paused: a pause set meanwhile
/// by another replica, or a longer one, is seen within this.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Tokens a process took and has not handed out yet.
struct Held {
    tokens: u32,
    taken_at: Instant,
    /// The pause count when they were taken: a pause drops them.
    pauses: u64,
}

/// One replica's handle on the shared budget; share it behind an `Arc`.
pub struct Budget {
    pool: PgPool,
    name: String,
    limit: u32,
    window: Duration,
    held: tokio::sync::Mutex<Held>,
    waiting: AtomicU32,
    pauses: AtomicU64,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Budget {
    /// The budget towards Mono: `limit` calls per second (above 0) for the whole fleet.
    pub fn new(pool: PgPool, limit: u32) -> Self {
        Budget::named(pool, BUDGET_NAME, limit)
    }

    /// Budget `name` (a row of `request_budgets`, created when missing): `limit` calls per
    /// second (above 0) for the whole fleet.
    pub fn named(pool: PgPool, name: &str, limit: u32) -> Self {
        Budget {
            pool,
            name: name.to_owned(),
            limit: limit.max(1),
            window: Duration::from_secs(1) + GUARD,
            held: tokio::sync::Mutex::new(Held {
                tokens: 0,
                taken_at: Instant::now(),
                pauses: 0,
            }),
            waiting: AtomicU32::new(0),
            pauses: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Waits for a token; answers how long it waited. Ends early with `Cancelled` when
    /// `shutdown` is cancelled.
    pub async fn acquire(&self, shutdown: &CancellationToken) -> Result<Duration, BudgetError> {
        let started = Instant::now();
        let _waiting = Waiting::enter(&self.waiting);
        loop {
            // Callers of this process queue here (fairly, first come first served).
            let mut held = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(BudgetError::Cancelled),
                held = self.held.lock() => held,
            };
            let pauses = self.pauses.load(Ordering::Acquire);
            if held.tokens > 0 && held.pauses == pauses && held.taken_at.elapsed() <= TOKEN_LIFETIME {
                held.tokens -= 1;
                return Ok(self.waited(started));
            }
            held.tokens = 0;
            let want = batch_size(self.waiting.load(Ordering::Relaxed));
            let window_ms = u32::try_from(self.window.as_millis()).unwrap_or(u32::MAX);
            let taken = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(BudgetError::Cancelled),
                taken = store::take(&self.pool, &self.name, self.limit, window_ms, want, None) => taken,
            };
            let take = match taken {
                Ok(Some(take)) => take,
                Ok(None) => {
                    store::ensure(&self.pool, &self.name)
                        .await
                        .map_err(|e| BudgetError::Store(e.to_string()))?;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(budget = %self.name, error = %e, "the request budget could not be taken from");
                    return Err(BudgetError::Store(e.to_string()));
                }
            };
            if take.granted > 0 {
                held.tokens = u32::try_from(take.granted).unwrap_or(1) - 1;
                held.taken_at = Instant::now();
                held.pauses = pauses;
                return Ok(self.waited(started));
            }
            // Sleeping with the lock held: this process's other callers wait behind it rather
            // than asking the database again.
            let sleep = sleep_after(&take, self.window);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(BudgetError::Cancelled),
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// The upstream answered 429 with `Retry-After`: no replica calls it for `retry_after`. Tokens
    /// this process holds are dropped. Answers the end of the pause, when it was recorded.
    pub async fn pause(&self, retry_after: Duration) -> Option<DateTime<Utc>> {
        self.pauses.fetch_add(1, Ordering::AcqRel);
        let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
        match store::pause(&self.pool, &self.name, millis).await {
            Ok(until) => {
                tracing::info!(
                    budget = %self.name,
                    retry_after_ms = millis,
                    paused_until = ?until,
                    "the upstream asked to slow down: every replica pauses its calls"
                );
                until
            }
            Err(e) => {
                tracing::warn!(budget = %self.name, error = %e, "the pause the upstream asked for could not be recorded");
                None
            }
        }
    }

    fn waited(&self, started: Instant) -> Duration {
        let waited = started.elapsed();
        // `mono_budget_wait_seconds`, `mbs_budget_wait_seconds`.
        metrics::histogram!(format!("{}_budget_wait_seconds", self.name)).record(waited.as_secs_f64());
        waited
    }
}

impl RequestBudget for Budget {
    fn limit(&self) -> u32 {
        self.limit
    }

    fn acquire<'a>(
        &'a self,
        shutdown: &'a CancellationToken,
    ) -> BudgetFuture<'a, Result<Duration, BudgetError>> {
        Box::pin(Budget::acquire(self, shutdown))
    }

    fn pause(&self, retry_after: Duration) -> BudgetFuture<'_, ()> {
        Box::pin(async move {
            Budget::pause(self, retry_after).await;
        })
    }
}

/// Counts the callers waiting in this process while it lives.
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn enter(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tokens to ask for when `waiting` callers wait in this process.
fn batch_size(waiting: u32) -> u32 {
    waiting.clamp(1, MAX_BATCH)
}

/// How long to sleep after a take that got nothing: until the pause ends or the next token
/// comes back (whichever is later), at least a millisecond and at most [`MAX_SLEEP`].
fn sleep_after(take: &Take, window: Duration) -> Duration {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let paused = take.paused_until.map(|until| until - take.now);
    let refill = take
        .next_back_spent_at
        .and_then(|spent| spent.checked_add_signed(window))
        .map(|back| back - take.now);
    let wait = paused
        .into_iter()
        .chain(refill)
        .max()
        .and_then(|w| w.to_std().ok())
        .unwrap_or(Duration::ZERO);
    wait.clamp(Duration::from_millis(1), MAX_SLEEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::milliseconds(ms)
    }

    fn take(now: i64, paused: Option<i64>, next_back: Option<i64>) -> Take {
        Take {
            granted: 0,
            now: at(now),
            paused_until: paused.map(at),
            next_back_spent_at: next_back.map(at),
        }
    }

    #[test]
    fn sleeps_until_the_next_token_is_back_or_the_pause_ends() {
        let window = Duration::from_millis(1_100);
        // The oldest spend at 0 comes back at 1100: from 600 that is 500 ms away.
        assert_eq!(
            sleep_after(&take(600, None, Some(0)), window),
            Duration::from_millis(500)
        );
        // A pause ending later wins over the refill, and the other way round.
        assert_eq!(
            sleep_after(&take(600, Some(900), Some(0)), window),
            Duration::from_millis(500)
        );
        assert_eq!(
            sleep_after(&take(600, Some(1_000), Some(0)), window),
            Duration::from_millis(500)
        );
        assert_eq!(
            sleep_after(&take(600, Some(1_400), Some(0)), window),
            Duration::from_millis(800)
        );
        // Long pauses are looked at again every MAX_SLEEP; nothing known is a short retry.
        assert_eq!(sleep_after(&take(0, Some(30_000), None), window), MAX_SLEEP);
        assert_eq!(
            sleep_after(&take(5_000, None, Some(0)), window),
            Duration::from_millis(1)
        );
        assert_eq!(
            sleep_after(&take(5_000, None, None), window),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn a_batch_is_what_waits_here_within_bounds() {
        assert_eq!(batch_size(0), 1);
        assert_eq!(batch_size(1), 1);
        assert_eq!(batch_size(5), 5);
        assert_eq!(batch_size(500), MAX_BATCH);
    }

    #[tokio::test]
    async fn the_window_covers_a_second_and_the_guard() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://unused@127.0.0.1/unused")
            .unwrap();
        let budget = Budget::new(pool, 0);
        assert_eq!(budget.limit(), 1);
        assert_eq!(budget.window, Duration::from_millis(1_100));
        // Lifetime of a held token well inside the guard, so a batch cannot drift out of it.
        assert!(TOKEN_LIFETIME < GUARD / 2);
    }
}
