//! Webhooks both ways: deliveries signed as Mono signs them posted to the app, and a receiver
//! that records (and, scripted, refuses) the deliveries a sender makes.

use std::future::ready;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use url::Url;

use super::{data, mono, split, wait_for, TestApp, WebhookReceipt, WEBHOOK_SECRET};

impl TestApp {
    /// Posts `body` to the webhook endpoint signed with the test settings' secret (the
    /// timestamp form); it must be accepted. Answers the receipt.
    pub async fn deliver_webhook(&self, body: &Value) -> WebhookReceipt {
        let bytes = serde_json::to_vec(body).unwrap();
        let ts = chrono::Utc::now().timestamp();
        let sig = mono::signature::sign(WEBHOOK_SECRET.as_bytes(), ts, &bytes);
        let resp = self
            .http()
            .post(self.url("/si/mono/webhook"))
            .header("content-type", "application/json")
            .header(mono::signature::HEADER_TIMESTAMP, ts.to_string())
            .header(mono::signature::HEADER_SIGNATURE, sig)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let (status, answer) = split(resp).await;
        assert!((200..300).contains(&status), "{status}: {answer}");
        data(&answer)
    }
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in order, before answering 200.
    script: Arc<Mutex<Vec<u16>>>,
}

/// A webhook receiver on port 0.
pub struct Receiver {
    pub url: Url,
    state: ReceiverState,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::scripted(Vec::new()).await
    }

    /// Answers `statuses` in turn, then 200 forever.
    pub async fn scripted(statuses: Vec<u16>) -> Self {
        let state = ReceiverState {
            received: Arc::default(),
            script: Arc::new(Mutex::new(statuses)),
        };
        let app = Router::new()
            .route("/si/mono/webhook", post(receive))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: Url::parse(&format!("http://{addr}/si/mono/webhook")).unwrap(),
            state,
            _task: task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `n` deliveries arrived; answers them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let what = format!("{n} webhook deliveries");
        wait_for(&what, Duration::from_secs(10), || {
            let got = self.received();
            ready((got.len() >= n).then_some(got))
        })
        .await
    }

    /// Waits (up to 10 s) for a delivery of `event`.
    pub async fn wait_for_event(&self, event: &str) -> Received {
        let what = format!("a `{event}` delivery");
        wait_for(&what, Duration::from_secs(10), || {
            ready(self.received().into_iter().find(|r| r.json()["event"] == event))
        })
        .await
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    state.received.lock().unwrap().push(Received { headers, body });
    let mut script = state.script.lock().unwrap();
    if script.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::from_u16(script.remove(0)).unwrap()
    }
}
