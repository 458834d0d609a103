//! The Mono client as tests drive it: short timeouts and quick retries, and the waits it
//! chose between attempts.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::mono::{MonoClient, MonoConfig};
use super::sandbox::SandboxHandle;

/// A client with short timeouts and quick retries, so fault tests stay fast.
pub fn client_config(sandbox: &SandboxHandle) -> MonoConfig {
    let mut cfg = sandbox.client_config();
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.timeout = Duration::from_secs(10);
    cfg.max_retries = 3;
    cfg.retry_base_delay = Duration::from_millis(20);
    cfg
}

pub fn client(sandbox: &SandboxHandle) -> MonoClient {
    MonoClient::new(client_config(sandbox)).unwrap()
}

/// Runs `work` and answers its output with the waits the Mono client chose between attempts
/// meanwhile (its `retrying mono call` events), in order.
pub async fn retry_waits<F: Future>(work: F) -> (F::Output, Vec<Duration>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(RetryWaits(waits.clone()));
    let output = work.with_subscriber(subscriber).await;
    let waits = waits.lock().unwrap().clone();
    (output, waits)
}

/// Records the `wait_ms` of each `retrying mono call` event.
struct RetryWaits(Arc<Mutex<Vec<Duration>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RetryWaits {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = RetryFields::default();
        event.record(&mut fields);
        if let ("retrying mono call", Some(ms)) = (fields.message.as_str(), fields.wait_ms) {
            self.0.lock().unwrap().push(Duration::from_millis(ms));
        }
    }
}

#[derive(Default)]
struct RetryFields {
    message: String,
    wait_ms: Option<u64>,
}

impl tracing::field::Visit for RetryFields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "wait_ms" {
            self.wait_ms = Some(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}
