//! The router: every route with its OpenAPI description, the fallbacks for unknown routes and
//! wrong methods, `/metrics` on its own address when `METRICS_ADDR` is set, and the OpenAPI
//! document built from the routes (handed to `/openapi.json` as an extension, so the
//! handler needs nothing from here).

use std::sync::OnceLock;

use axum::http::{Method, Uri};
use axum::Router;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::Modify as _;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::http::openapi::{self, SharedResponses};
use crate::http::{accounts, buyers, dlq, docs, invoices, mbs, ops, org, rules, settings, sync, webhooks};
use crate::state::AppState;

/// Every route, each with its OpenAPI description (`routes!` refuses a handler without
/// `#[utoipa::path]`). Mount routes here only with `.routes` and the `routes` macro.
pub fn api_router() -> OpenApiRouter<AppState> {
    let si = OpenApiRouter::new()
        .routes(routes!(org::environments))
        .routes(routes!(org::get_profile, org::put_profile))
        .routes(routes!(org::get_crypto_keys, org::put_crypto_keys))
        .routes(routes!(mbs::resources))
        .routes(routes!(buyers::list, buyers::create))
        .routes(routes!(buyers::get, buyers::update, buyers::delete))
        .routes(routes!(invoices::list))
        .routes(routes!(invoices::signing_key))
        .routes(routes!(invoices::bulk_sign))
        .routes(routes!(invoices::get))
        .routes(routes!(invoices::confirm))
        .routes(routes!(invoices::discard))
        .routes(routes!(invoices::validate))
        .routes(routes!(invoices::sign))
        .routes(routes!(invoices::qr))
        .routes(routes!(invoices::document))
        .routes(routes!(accounts::widget_link))
        .routes(routes!(sync::sync))
        .routes(routes!(sync::sync_stored))
        .routes(routes!(sync::cursor))
        .routes(routes!(sync::events))
        .routes(routes!(accounts::exchange))
        .routes(routes!(accounts::list_accounts))
        .routes(routes!(accounts::get_account))
        .routes(routes!(accounts::unlink))
        .routes(routes!(settings::get_settings, settings::put_settings))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::delete))
        .routes(routes!(dlq::preview))
        .routes(routes!(dlq::list))
        .routes(routes!(dlq::bulk_replay))
        .routes(routes!(dlq::replay))
        .routes(routes!(dlq::resolve))
        .routes(routes!(webhooks::status))
        .routes(routes!(webhooks::job))
        .layer(axum::middleware::from_fn(crate::http::tenant::peek_environment));

    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::docs_page))
        .routes(routes!(docs::redoc_js))
        .routes(routes!(docs::demo_callback))
        // Mono's deliveries carry no key and are read as raw bytes: outside the `/si/*`
        // group whose middleware buffers bodies and whose routes resolve a tenant.
        .routes(routes!(webhooks::receive))
        .merge(si)
}

pub fn router(state: AppState) -> Router {
    let (router, _) = api_router().split_for_parts();
    let router = if state.settings.metrics_addr.is_some() {
        // Served on METRICS_ADDR alone (see `metrics_router`): here it is an unknown route.
        router.layer(axum::middleware::from_fn(hide_metrics))
    } else {
        router
    };
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::Extension(docs::OpenApiJson(document_json())))
        .with_state(state)
}

/// `/metrics` alone, for `METRICS_ADDR`: the documented router with every other route
/// answering as unknown.
pub fn metrics_router(state: AppState) -> Router {
    let (router, _) = api_router().split_for_parts();
    router
        .layer(axum::middleware::from_fn(only_metrics))
        .fallback(unknown_route)
        .with_state(state)
}

async fn only_metrics(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().path() != "/metrics" {
        return unknown_route(req.method().clone(), req.uri().clone())
            .await
            .into_response();
    }
    next.run(req).await
}

async fn hide_metrics(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().path() == "/metrics" {
        return unknown_route(req.method().clone(), req.uri().clone())
            .await
            .into_response();
    }
    next.run(req).await
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// The document, built once.
pub fn document() -> &'static OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = api_router().into_openapi();
        SharedResponses.modify(&mut doc);
        doc
    })
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}
