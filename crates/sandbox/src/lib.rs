//! The Mono v2 sandbox: a fake Mono serving every call the connector makes, with the same
//! shapes (built from `mono::types`, never copies), deterministic data from a seed,
//! a widget page that links accounts, single-use expiring codes, signed webhooks, and
//! control endpoints for tests and benchmarks.
//!
//! It runs three ways: in a test (`Sandbox::start` on port 0), inside the service
//! (`router(SandboxState::new(config))` merged or served beside it, for `serve --sandbox`),
//! and alone (`run`, for `taxpoynt-mono sandbox --port N`).
//!
//! Mono endpoints (require `mono-sec-key`; answers in Mono's envelopes):
//! `POST /v2/accounts/initiate`, `GET /widget/{session}` (no key: a browser opens it),
//! `POST /v2/accounts/auth`, `GET /v2/accounts?page=&limit=`, `GET /v2/accounts/{id}`,
//! `GET /v2/accounts/{id}/identity`, `GET /v2/accounts/{id}/balance`,
//! `GET /v2/accounts/{id}/transactions?start&end&type&narration&paginate&limit&page`,
//! `POST /v2/accounts/{id}/unlink`.
//!
//! Control endpoints (no key; see `control`): `GET /_sandbox/customers`,
//! `POST /_sandbox/accounts`, `GET /_sandbox/accounts/{id}`,
//! `POST /_sandbox/accounts/{id}/transactions`, `POST /_sandbox/accounts/{id}/status`,
//! `POST /_sandbox/accounts/{id}/events`, `POST|GET|DELETE /_sandbox/faults`,
//! `DELETE /_sandbox/faults/{id}`, `GET|POST /_sandbox/clock`,
//! `GET|DELETE /_sandbox/webhooks`, `GET|PUT /_sandbox/webhook`, `GET|PUT /_sandbox/limits`
//! (a rate limit and a latency for every `/v2` call, and its calls counted per second).

pub mod api;
pub mod config;
pub mod control;
pub mod data;
pub mod faults;
pub mod limits;
pub mod reply;
pub mod state;
pub mod trigger;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use config::{SandboxConfig, DEFAULT_SECRET_KEY, DEFAULT_WEBHOOK_SECRET};
pub use state::SandboxState;

use mono::MonoConfig;
use reply::Failure;

/// The sandbox's whole HTTP surface over `state`.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(api::routes(state.clone()))
        .merge(control::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> Response {
    Failure::not_found("No such endpoint in the Mono sandbox").into_response()
}

async fn method_not_allowed() -> Response {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed on this endpoint",
    )
    .into_response()
}

/// Serves `state` on `listener` until `shutdown` resolves; hangs and webhook retries end then.
pub async fn serve(
    listener: TcpListener,
    state: SandboxState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown_token().clone();
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            token.cancel();
        })
        .await
}

/// Binds `addr` and serves a sandbox built from `config` until `shutdown` resolves
/// (`taxpoynt-mono sandbox --port N`).
pub async fn run(
    mut config: SandboxConfig,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    if config.public_url.is_none() {
        config.public_url = Url::parse(&format!("http://{local}/")).ok();
    }
    tracing::info!(addr = %local, seed = config.seed, "Mono sandbox listening");
    serve(listener, SandboxState::new(config), shutdown).await
}

/// Starts sandboxes in the background (tests, `serve --sandbox`).
pub struct Sandbox;

impl Sandbox {
    /// Binds `bind` (port 0 picks a free one) and serves in a background task.
    pub async fn start(mut config: SandboxConfig, bind: SocketAddr) -> std::io::Result<SandboxHandle> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let base_url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        if config.public_url.is_none() {
            config.public_url = Some(base_url.clone());
        }
        let state = SandboxState::new(config);
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, state.clone(), stop.clone().cancelled_owned()));
        tracing::info!(%addr, "Mono sandbox started");
        Ok(SandboxHandle {
            addr,
            base_url,
            state,
            stop,
            task: Some(task),
        })
    }
}

/// A running sandbox. Dropping it stops the server; `shutdown` also waits for it.
pub struct SandboxHandle {
    pub addr: SocketAddr,
    pub base_url: Url,
    pub state: SandboxState,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("addr", &self.addr)
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// A client configuration pointed at this sandbox with its key.
    pub fn client_config(&self) -> MonoConfig {
        MonoConfig::new(
            self.base_url.clone(),
            SecretString::from(self.state.config().secret_key.clone()),
        )
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.stop.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(|e| std::io::Error::other(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
