//! The HTTP surface: one module per endpoint group, each thin (extract, call a service,
//! answer in the envelope). `router` assembles them with the fallbacks for unknown routes
//! and wrong methods.

pub mod accounts;
pub mod dlq;
pub mod envelope;
pub mod extract;
pub mod invoices;
pub mod ops;
pub mod org;
pub mod rules;
pub mod settings;
pub mod sync;
pub mod tenant;
pub mod webhooks;

use axum::http::{Method, Uri};
use axum::routing::{delete, get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let si = Router::new()
        .route("/si/org/environments", get(org::environments))
        .route("/si/org/profile", get(org::get_profile).put(org::put_profile))
        .route("/si/invoices", get(invoices::list))
        .route("/si/invoices/signing-key", get(invoices::signing_key))
        .route("/si/invoices/{id}", get(invoices::get))
        .route("/si/invoices/{id}/confirm", post(invoices::confirm))
        .route("/si/invoices/{id}/discard", post(invoices::discard))
        .route("/si/invoices/{id}/validate", post(invoices::validate))
        .route("/si/invoices/{id}/sign", post(invoices::sign))
        .route("/si/mono/widget-link", post(accounts::widget_link))
        .route("/si/mono/sync", post(sync::sync))
        .route("/si/mono/sync-stored", post(sync::sync_stored))
        .route("/si/mono/cursor", get(sync::cursor))
        .route("/si/mono/events", get(sync::events))
        .route("/si/mono/exchange", post(accounts::exchange))
        .route("/si/mono/accounts", get(accounts::list_accounts))
        .route("/si/mono/accounts/{id}", get(accounts::get_account))
        .route("/si/mono/accounts/{id}/unlink", post(accounts::unlink))
        .route(
            "/si/mono/settings",
            get(settings::get_settings).put(settings::put_settings),
        )
        .route("/si/mono/allow-deny", get(rules::list).post(rules::create))
        .route("/si/mono/allow-deny/{id}", delete(rules::delete))
        .route("/si/mono/allow-deny/preview", post(dlq::preview))
        .route("/si/mono/dlq", get(dlq::list))
        .route("/si/mono/dlq/replay", post(dlq::bulk_replay))
        .route("/si/mono/dlq/{id}/replay", post(dlq::replay))
        .route("/si/mono/dlq/{id}/resolve", post(dlq::resolve))
        .route("/si/mono/webhook-status", get(webhooks::status))
        .route("/si/mono/jobs/{id}", get(webhooks::job))
        .layer(axum::middleware::from_fn(crate::http::tenant::peek_environment));

    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        // Mono's deliveries carry no key and are read as raw bytes: outside the `/si/*`
        // group whose middleware buffers bodies and whose routes resolve a tenant.
        .route("/si/mono/webhook", post(webhooks::receive))
        .merge(si)
        .merge(if state.settings.metrics_addr.is_none() {
            Router::new().route("/metrics", get(ops::metrics))
        } else {
            // Served on METRICS_ADDR alone (see `metrics_router`).
            Router::new()
        })
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// `/metrics` alone, for `METRICS_ADDR`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .fallback(unknown_route)
        .with_state(state)
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
