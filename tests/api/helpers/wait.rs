//! Waiting for a condition: the one poll loop every test waits with.

use std::future::Future;
use std::time::Duration;

/// How often a wait looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// What a probe of [`wait_for`] answers: `Some(value)` or `true` once the wait is over,
/// `None` or `false` while it goes on.
pub trait Probe {
    /// What the wait answers once it is over.
    type Value;
    fn ready(self) -> Option<Self::Value>;
}

impl<T> Probe for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

impl Probe for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

/// Polls `probe` every 20 ms until it answers `Some(value)` (or `true`), and answers that
/// value; panics naming `what` when `timeout` passes first.
pub async fn wait_for<P, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> P::Value
where
    P: Probe,
    F: FnMut() -> Fut,
    Fut: Future<Output = P>,
{
    let polling = async {
        loop {
            if let Some(value) = probe().await.ready() {
                return value;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    };
    match tokio::time::timeout(timeout, polling).await {
        Ok(value) => value,
        Err(_) => panic!("waited {timeout:?} for {what}"),
    }
}
