//! Building and running the application: pool, migrations, router with its layers, the
//! listener, background jobs, and graceful shutdown on one `CancellationToken`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Settings;
use crate::error::ApiError;
use crate::state::AppState;

pub struct Application {
    addr: SocketAddr,
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to the database named by the settings, applies migrations and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check_serving()?;
        let pool = crate::db::pool(settings.database_url(), settings.database_max_connections)
            .context("DATABASE_URL is not a valid connection string")?;
        crate::db::MIGRATOR
            .run(&pool)
            .await
            .context("applying database migrations")?;
        Self::build_with_pool(settings, pool).await
    }

    /// Binds with an existing pool (tests hand in a per-test database); no migrations run.
    /// Loads the signing key, so the database must be reachable unless `SIGNING_KEY` is set.
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        // Install the metrics recorder before the first request is counted.
        let _ = crate::telemetry::metrics_handle();
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("binding BIND_ADDR {}", settings.bind_addr))?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let mut mono = mono_client(&settings.mono)?.with_shutdown(shutdown.clone());
        if settings.mono.max_rps > 0 {
            let budget = crate::budget::Budget::new(pool.clone(), settings.mono.max_rps);
            mono = mono.with_budget(Arc::new(budget));
        } else {
            tracing::info!("MONO_MAX_RPS=0: calls to Mono are not budgeted");
        }
        let mbs = mbs_client(&settings.mbs)?.map(|client| {
            let client = client.with_shutdown(shutdown.clone());
            if settings.mbs.max_rps > 0 {
                let budget = crate::budget::Budget::named(
                    pool.clone(),
                    crate::budget::MBS_BUDGET_NAME,
                    settings.mbs.max_rps,
                );
                client.with_budget(Arc::new(budget))
            } else {
                tracing::info!("MBS_MAX_RPS=0: calls to MBS are not budgeted");
                client
            }
        });
        let data_key = settings
            .data_encryption_key
            .as_ref()
            .and_then(|k| crate::seal::DataKey::decode(secrecy::ExposeSecret::expose_secret(k)).ok())
            .map(Arc::new);
        let signer = crate::services::signing::load(&settings, &pool).await?;
        let state = AppState {
            intake: Arc::new(crate::runtime::intake::IntakeBatcher::start(
                &pool,
                crate::jobs::spec::<crate::services::webhooks::job::WebhookJob>(),
            )),
            webhook_db: crate::db::hot_statement_pool(&pool, settings.job_concurrency),
            rate_limits: Arc::new(crate::runtime::key_limiter::KeyLimiter::new(
                settings.api_rate_limit,
                settings.api_rate_burst,
            )),
            refusals: Arc::new(crate::runtime::webhook_refusals::Refusals::new(
                settings.webhook_refusals.per_minute,
                settings.webhook_refusals.burst,
            )),
            previews: Arc::new(crate::runtime::preview_limiter::PreviewLimiter::new(
                settings.preview.per_env,
                settings.preview.total,
            )),
            db: pool,
            mono,
            mbs,
            data_key,
            sync_slots: Arc::new(tokio::sync::Semaphore::new(settings.sync_concurrency as usize)),
            signer: Arc::new(signer),
            settings: Arc::new(settings),
            shutdown,
            jobs_notify: Arc::new(tokio::sync::Notify::new()),
            sync_notify: Arc::new(tokio::sync::Notify::new()),
            policies: Arc::new(crate::runtime::policy_cache::PolicyCache::new(
                crate::services::settings::POLICY_CACHE_CAPACITY,
            )),
        };
        let router = app_router(state.clone());
        Ok(Application {
            addr,
            listener,
            router,
            state,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Cancel this token to stop the server (in-flight requests finish) and the jobs.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let token = self.state.shutdown.clone();
        let state = self.state.clone();
        let mut jobs = tokio::task::JoinSet::new();
        let mono = &state.settings.mono;
        if !mono.verify_signature {
            tracing::warn!("MONO_VERIFY_SIGNATURE=false: webhooks are accepted without checking their secret or signature");
        }
        if state.settings.job_concurrency > 0 {
            jobs.spawn(supervise("job_worker", state.clone(), crate::worker::run));
        } else {
            tracing::info!("JOB_CONCURRENCY=0: this replica runs no job worker");
        }
        if let Some(interval) = state.settings.sync_interval {
            jobs.spawn(supervise("scheduled_sync", state.clone(), move |s| {
                crate::worker::sweep::run(s, interval)
            }));
        }
        jobs.spawn(supervise(
            "mbs_resources",
            state.clone(),
            crate::services::mbs_resources::run,
        ));
        jobs.spawn(supervise(
            "retention",
            state.clone(),
            crate::worker::retention::run,
        ));
        jobs.spawn(supervise(
            "webhook_refusals",
            state.clone(),
            crate::services::webhooks::refusals::run,
        ));
        if let Some(addr) = state.settings.metrics_addr {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding METRICS_ADDR {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "serving /metrics");
            let router = crate::http::router::metrics_router(state.clone());
            let token = token.clone();
            jobs.spawn(async move {
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { token.cancelled().await })
                    .await
                {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            });
        }
        tracing::info!(addr = %self.addr, "serving");
        // With the peer's address, which webhook refusals are limited by.
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown({
            let token = token.clone();
            async move { token.cancelled().await }
        });
        let server = std::future::IntoFuture::into_future(server);
        tokio::pin!(server);
        // Until shutdown is asked for, serve; after, give requests and jobs the deadline
        // (`SHUTDOWN_TIMEOUT_SECS`) to finish, then stop whatever is left.
        tokio::select! {
            served = &mut server => served.context("serving HTTP")?,
            _ = token.cancelled() => {
                let deadline = state.settings.shutdown_timeout;
                let drained = tokio::time::timeout(deadline, async {
                    let served = (&mut server).await;
                    while jobs.join_next().await.is_some() {}
                    served
                })
                .await;
                match drained {
                    Ok(served) => served.context("serving HTTP")?,
                    Err(_) => {
                        tracing::warn!(
                            deadline_secs = deadline.as_secs(),
                            "shutdown deadline reached; stopping what is still running"
                        );
                        jobs.abort_all();
                    }
                }
            }
        }
        while jobs.join_next().await.is_some() {}
        // Refusals counted since the last flush, now that no request is left to add one.
        crate::services::webhooks::refusals::flush_at_shutdown(&state).await;
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Runs a background task, and runs it again when it panics (counted in
/// `background_task_restarts_total`), until it returns or shutdown is asked for.
pub async fn supervise<F, Fut>(name: &'static str, state: AppState, task: F)
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match tokio::spawn(task(state.clone())).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                metrics::counter!("background_task_restarts_total", "task" => name).increment(1);
                tracing::error!(task = name, "background task panicked; restarting it");
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
            Err(_) => return,
        }
    }
}

/// The Mono client from the settings. Without a secret key every call is refused by Mono
/// (surfacing as a 502 naming Mono's message), so the service still starts and serves the rest.
pub fn mono_client(settings: &crate::config::MonoSettings) -> anyhow::Result<mono::MonoClient> {
    use mono::{MonoClient, MonoConfig};
    let secret = settings.secret_key.clone().unwrap_or_else(|| {
        tracing::warn!(
            "MONO_SECRET_KEY is not set: calls to Mono will fail (use `serve --sandbox` to try the service)"
        );
        secrecy::SecretString::from(String::new())
    });
    let mut config = MonoConfig::new(settings.base_url.clone(), secret);
    config.connect_timeout = settings.connect_timeout;
    config.timeout = settings.timeout;
    config.max_retries = settings.max_retries;
    MonoClient::new(config).context("MONO_BASE_URL / MONO_SECRET_KEY")
}

/// The MBS client from the settings; none without `MBS_BASE_URL` (calls that need MBS then
/// answer 503 naming it). Without keys the protected calls are refused by MBS (400, bad
/// key), so the service still starts and serves the rest.
pub fn mbs_client(settings: &crate::config::MbsSettings) -> anyhow::Result<Option<mbs::MbsClient>> {
    let Some(base_url) = settings.base_url.clone() else {
        tracing::warn!("MBS_BASE_URL is not set: invoices cannot be validated or signed at MBS (use `serve --sandbox` to try the service)");
        return Ok(None);
    };
    if settings.api_key.is_none() {
        tracing::warn!(
            "MBS_API_KEY and MBS_API_SECRET are not set: MBS will refuse every call that needs them"
        );
    }
    let empty = || secrecy::SecretString::from(String::new());
    let client = mbs::MbsClient::new(mbs::MbsConfig {
        base_url,
        api_key: settings.api_key.clone().unwrap_or_else(empty),
        api_secret: settings.api_secret.clone().unwrap_or_else(empty),
        timeout: settings.timeout,
        max_retries: 2,
    })
    .context("MBS_BASE_URL")?;
    Ok(Some(client))
}

/// The router with every layer the contract needs, outermost first: trace id, request span
/// and metrics; panics as a 500 envelope; the body limit.
pub fn app_router(state: AppState) -> Router {
    crate::http::router::router(state)
        .layer(DefaultBodyLimit::max(crate::http::extract::BODY_LIMIT))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
            },
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::request_context))
}

/// Resolves when SIGTERM or ctrl-c arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
