//! Helpers shared by the sandbox tests: a sandbox on port 0 with a client pointed at it, raw
//! control calls, and a small axum receiver that records webhook deliveries.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use taxpoynt_mono::mono::{MonoClient, MonoConfig};
use taxpoynt_mono::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use url::Url;

pub const LOCALHOST: &str = "127.0.0.1:0";

pub fn local() -> SocketAddr {
    LOCALHOST.parse().unwrap()
}

pub async fn start(config: SandboxConfig) -> SandboxHandle {
    Sandbox::start(config, local()).await.unwrap()
}

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

/// A control call; answers the status and the JSON body.
pub async fn control(
    sandbox: &SandboxHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = sandbox.base_url.join(path.trim_start_matches('/')).unwrap();
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Creates an account through the control API; answers its `data`.
pub async fn create_account(sandbox: &SandboxHandle, body: Value) -> Value {
    let (status, body) = control(sandbox, reqwest::Method::POST, "/_sandbox/accounts", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

pub async fn install_fault(sandbox: &SandboxHandle, fault: Value) -> Value {
    let (status, body) = control(sandbox, reqwest::Method::POST, "/_sandbox/faults", Some(fault)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

/// The sandbox's delivery log once nothing in it is pending (waits up to 10 s).
pub async fn settled_deliveries(
    sandbox: &SandboxHandle,
) -> Vec<taxpoynt_mono::sandbox::webhooks::DeliveryRecord> {
    use taxpoynt_mono::sandbox::webhooks::DeliveryOutcome;
    for _ in 0..200 {
        let log = sandbox.state.webhooks().deliveries();
        if log.iter().all(|d| d.outcome != DeliveryOutcome::Pending) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("webhook deliveries still pending");
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
        let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
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
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} webhook deliveries, got {}", self.received().len());
    }

    /// Waits for a delivery of `event`.
    pub async fn wait_for_event(&self, event: &str) -> Received {
        for _ in 0..200 {
            if let Some(r) = self.received().into_iter().find(|r| r.json()["event"] == event) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no `{event}` delivery arrived");
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
