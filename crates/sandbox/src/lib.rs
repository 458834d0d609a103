//! The sandbox: fakes of the two services the connector talks to, on one port. Mono's v2
//! API (`/v2`, the widget, signed webhooks) with the same shapes (built from `mono::types`,
//! never copies) and deterministic data from a seed; and MBS, the e-invoicing platform
//! (`/api`, see `mbs`), with its envelopes and exact texts, businesses with their keys, and
//! invoices checked on the raw JSON. Both answer faults on demand and expose control
//! endpoints for tests and benchmarks.
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
//! MBS endpoints (answers in MBS's envelopes, HTTP status = `code`; all but health and
//! resources require `x-api-key` and `x-api-secret` of a business): `GET /api`,
//! `GET /api/v1/invoice/resources/{name}`, `POST /api/v1/invoice/irn/validate`,
//! `POST /api/v1/invoice/validate`, `POST /api/v1/invoice/sign`,
//! `GET /api/v1/invoice/confirm/{irn}`, `PATCH /api/v1/invoice/update/{irn}`,
//! `GET /api/v1/invoice/download/{irn}`, `POST /api/v1/invoice/transmit/{irn}`,
//! `POST /api/v1/utilities/verify-tin/` (with or without the slash); any other `/api` path
//! answers MBS's 404.
//!
//! Control endpoints (no key; see `control` and `mbs::control`): `GET /_sandbox/customers`,
//! `POST /_sandbox/accounts`, `GET /_sandbox/accounts/{id}`,
//! `POST /_sandbox/accounts/{id}/transactions`, `POST /_sandbox/accounts/{id}/status`,
//! `POST /_sandbox/accounts/{id}/events`, `POST|GET|DELETE /_sandbox/faults`,
//! `DELETE /_sandbox/faults/{id}`, `GET|POST /_sandbox/clock`,
//! `GET|DELETE /_sandbox/webhooks`, `GET|PUT /_sandbox/webhook`, `GET|PUT /_sandbox/limits`
//! (a rate limit and a latency for every `/v2` call, and its calls counted per second);
//! for MBS `POST /_sandbox/mbs/businesses`, `POST /_sandbox/mbs/businesses/demo`,
//! `GET /_sandbox/mbs/businesses/{id}`, `GET /_sandbox/mbs/businesses/{id}/crypto_keys.txt`,
//! `GET /_sandbox/mbs/invoices/{irn}`, `GET|DELETE /_sandbox/mbs/log`,
//! `POST|GET|DELETE /_sandbox/mbs/faults` and `GET /_sandbox/mbs/calls` (the `/api` calls
//! counted per second).

pub mod api;
pub mod config;
pub mod control;
pub mod data;
pub mod faults;
pub mod limits;
pub mod mbs;
pub mod reply;
pub mod state;
pub mod trigger;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use config::{SandboxConfig, DEFAULT_SECRET_KEY, DEFAULT_WEBHOOK_SECRET};
pub use state::SandboxState;

use crate::mbs::state::Business;
use ::mbs::MbsConfig;
use mono::MonoConfig;
use reply::Failure;

/// The sandbox's whole HTTP surface over `state`.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(api::routes(state.clone()))
        .merge(control::routes())
        .merge(mbs::routes(state.mbs().clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Whether `uri` is MBS's (`/api`): those answer MBS's 404, never Mono's.
fn is_mbs(uri: &Uri) -> bool {
    let path = uri.path();
    path == "/api" || path.starts_with("/api/")
}

async fn not_found(uri: Uri) -> Response {
    if is_mbs(&uri) {
        return mbs::reply::Refusal::NoRoute.into_response();
    }
    Failure::not_found("No such endpoint in the Mono sandbox").into_response()
}

async fn method_not_allowed(uri: Uri) -> Response {
    if is_mbs(&uri) {
        return mbs::reply::Refusal::NoRoute.into_response();
    }
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
        tracing::info!(%addr, "Mono and MBS sandbox started");
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

    /// An MBS client configuration pointed at this sandbox with `business`'s key and secret
    /// (the client joins `/api/...` onto the base URL), a 10-second timeout and no retries.
    pub fn mbs_client_config(&self, business: &Business) -> MbsConfig {
        MbsConfig {
            base_url: self.base_url.clone(),
            api_key: SecretString::from(business.api_key.clone()),
            api_secret: SecretString::from(business.api_secret.clone()),
            timeout: std::time::Duration::from_secs(10),
            max_retries: 0,
        }
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
