//! The request budget a client takes a token from before every attempt, as the client sees
//! it: a trait, so the clients (`mono`, `mbs`) stay free of storage. The service implements it
//! over PostgreSQL, one budget per upstream shared by every replica (`MONO_MAX_RPS`,
//! `MBS_MAX_RPS`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Why a call got no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// Shutdown was asked for while the call waited for its token.
    #[error("the service is shutting down")]
    Cancelled,
    /// The budget's storage could not be read or written.
    #[error("the request budget is unavailable: {0}")]
    Store(String),
}

pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A budget of calls per second shared by whoever holds it.
pub trait RequestBudget: Send + Sync + std::fmt::Debug {
    /// Calls per second the budget allows.
    fn limit(&self) -> u32;

    /// Waits for a token; answers how long it waited. Ends early with
    /// [`BudgetError::Cancelled`] when `shutdown` is cancelled.
    fn acquire<'a>(
        &'a self,
        shutdown: &'a CancellationToken,
    ) -> BudgetFuture<'a, Result<Duration, BudgetError>>;

    /// The upstream answered 429 (or 503) with `Retry-After`: nobody sharing the budget calls
    /// it for `retry_after`.
    fn pause(&self, retry_after: Duration) -> BudgetFuture<'_, ()>;
}
