//! Webhook delivery from the sandbox: a queue drained by one background task, so events
//! arrive in the order they happened (`account_connected` before `account_updated`), each
//! signed in both forms of `mono::signature`, retried a few times, and recorded for
//! `GET /_sandbox/webhooks`. A failed delivery is logged and recorded, never fatal.
//!
//! Signatures use the real wall clock, not the sandbox clock: the receiver checks the
//! timestamp against its own clock, and advancing the sandbox clock (to expire codes) must not
//! make every later delivery stale.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use mono::signature;
use mono::types::WebhookEnvelope;

/// How many deliveries the log keeps (oldest dropped first).
const LOG_CAPACITY: usize = 1_000;
/// Waits between attempts; one attempt more than there are waits.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
];
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where deliveries go, changeable at run time (`PUT /_sandbox/webhook`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: Option<Url>,
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    Pending,
    Delivered,
    Failed,
    /// No webhook URL was configured when its turn came.
    Skipped,
}

/// One event the sandbox sent (or tried to).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRecord {
    pub seq: u64,
    pub event: String,
    pub event_id: String,
    pub account_id: Option<String>,
    pub url: Option<String>,
    pub attempts: u32,
    /// Status of the last attempt that got an answer.
    pub status: Option<u16>,
    pub outcome: DeliveryOutcome,
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The body as sent.
    pub payload: serde_json::Value,
}

#[derive(Debug, Default)]
struct DeliveryLog {
    records: VecDeque<DeliveryRecord>,
    next_seq: u64,
}

impl DeliveryLog {
    fn update(&mut self, seq: u64, f: impl FnOnce(&mut DeliveryRecord)) {
        if let Some(r) = self.records.iter_mut().find(|r| r.seq == seq) {
            f(r);
        }
    }
}

struct Job {
    seq: u64,
    body: Vec<u8>,
}

/// The sandbox's webhook sender.
pub struct Webhooks {
    target: Arc<RwLock<WebhookTarget>>,
    log: Arc<Mutex<DeliveryLog>>,
    sender: OnceLock<mpsc::UnboundedSender<Job>>,
    shutdown: CancellationToken,
}

impl Webhooks {
    pub fn new(target: WebhookTarget, shutdown: CancellationToken) -> Self {
        Webhooks {
            target: Arc::new(RwLock::new(target)),
            log: Arc::new(Mutex::new(DeliveryLog::default())),
            sender: OnceLock::new(),
            shutdown,
        }
    }

    pub fn target(&self) -> WebhookTarget {
        self.target.read().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn set_target(&self, target: WebhookTarget) {
        if let Ok(mut t) = self.target.write() {
            *t = target;
        }
    }

    /// Every delivery in the log, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.log
            .lock()
            .map(|l| l.records.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn clear(&self) -> usize {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut l.records).len())
            .unwrap_or(0)
    }

    /// Queues `envelope` for delivery; returns its sequence number in the log.
    pub fn emit(&self, envelope: &WebhookEnvelope, account_id: Option<&str>) -> u64 {
        let body = serde_json::to_vec(envelope).unwrap_or_default();
        let payload = serde_json::to_value(envelope).unwrap_or_default();
        let seq = {
            let Ok(mut log) = self.log.lock() else {
                return 0;
            };
            log.next_seq += 1;
            let seq = log.next_seq;
            log.records.push_back(DeliveryRecord {
                seq,
                event: envelope.event.clone(),
                event_id: envelope.event_id.clone().unwrap_or_default(),
                account_id: account_id.map(str::to_owned),
                url: None,
                attempts: 0,
                status: None,
                outcome: DeliveryOutcome::Pending,
                error: None,
                queued_at: Utc::now(),
                finished_at: None,
                payload,
            });
            while log.records.len() > LOG_CAPACITY {
                log.records.pop_front();
            }
            seq
        };
        let queued = self
            .sender()
            .map(|tx| tx.send(Job { seq, body }).is_ok())
            .unwrap_or(false);
        if !queued {
            self.finish(seq, DeliveryOutcome::Failed, "the delivery task is not running");
        }
        seq
    }

    fn finish(&self, seq: u64, outcome: DeliveryOutcome, error: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.update(seq, |r| {
                r.outcome = outcome;
                r.error = Some(error.to_owned());
                r.finished_at = Some(Utc::now());
            });
        }
    }

    /// The queue, starting its task on first use (so building the state needs no runtime).
    fn sender(&self) -> Option<&mpsc::UnboundedSender<Job>> {
        if let Some(tx) = self.sender.get() {
            return Some(tx);
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let tx = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let worker = Worker {
                target: self.target.clone(),
                log: self.log.clone(),
                shutdown: self.shutdown.clone(),
                http: reqwest::Client::builder()
                    .timeout(ATTEMPT_TIMEOUT)
                    .build()
                    .unwrap_or_default(),
            };
            handle.spawn(worker.run(rx));
            tx
        });
        Some(tx)
    }
}

struct Worker {
    target: Arc<RwLock<WebhookTarget>>,
    log: Arc<Mutex<DeliveryLog>>,
    shutdown: CancellationToken,
    http: reqwest::Client,
}

impl Worker {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Job>) {
        loop {
            let job = tokio::select! {
                job = rx.recv() => job,
                () = self.shutdown.cancelled() => None,
            };
            let Some(job) = job else { break };
            self.deliver(job).await;
        }
    }

    fn update(&self, seq: u64, f: impl FnOnce(&mut DeliveryRecord)) {
        if let Ok(mut log) = self.log.lock() {
            log.update(seq, f);
        }
    }

    async fn deliver(&self, job: Job) {
        let target = self.target.read().map(|t| t.clone()).unwrap_or_default();
        let Some(url) = target.url else {
            self.update(job.seq, |r| {
                r.outcome = DeliveryOutcome::Skipped;
                r.error = Some("no webhook URL is configured".into());
                r.finished_at = Some(Utc::now());
            });
            return;
        };
        self.update(job.seq, |r| r.url = Some(url.to_string()));
        let attempts = RETRY_DELAYS.len() + 1;
        for attempt in 1..=attempts {
            let mut request = self
                .http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            if let Some(secret) = &target.secret {
                // Re-signed per attempt so a retry carries a fresh timestamp.
                for (name, value) in signature::signed_headers(secret, Utc::now().timestamp(), &job.body) {
                    request = request.header(name, value);
                }
            }
            let result = request.body(job.body.clone()).send().await;
            let (status, error) = match result {
                Ok(resp) if resp.status().is_success() => {
                    let status = resp.status().as_u16();
                    self.update(job.seq, |r| {
                        r.attempts = attempt as u32;
                        r.status = Some(status);
                        r.outcome = DeliveryOutcome::Delivered;
                        r.error = None;
                        r.finished_at = Some(Utc::now());
                    });
                    return;
                }
                Ok(resp) => (
                    Some(resp.status().as_u16()),
                    format!("the receiver answered {}", resp.status()),
                ),
                Err(e) => (None, format!("could not post: {}", e.without_url())),
            };
            let done = attempt == attempts;
            self.update(job.seq, |r| {
                r.attempts = attempt as u32;
                r.status = status.or(r.status);
                r.error = Some(error.clone());
                if done {
                    r.outcome = DeliveryOutcome::Failed;
                    r.finished_at = Some(Utc::now());
                }
            });
            if done {
                tracing::warn!(seq = job.seq, %error, "sandbox webhook delivery failed");
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY_DELAYS[attempt - 1]) => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }
}
