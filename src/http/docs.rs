//! `/openapi.json`, `/docs` (Redoc, served from the binary so the page works offline) and
//! `/demo/callback`, the page the sandbox's widget redirects to in the first-run walk-through.

use axum::extract::Query;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

/// The OpenAPI document as JSON, built once by the router from its routes.
#[derive(Debug, Clone, Copy)]
pub struct OpenApiJson(pub &'static str);

const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

const DOCS_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taxpoynt-mono API</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.json" hide-download-button="false"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// The OpenAPI 3.1 document of this service.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json(Extension(OpenApiJson(json)): Extension<OpenApiJson>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// The browsable API reference (Redoc); needs no internet.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    responses((status = 200, description = "An HTML page rendering `/openapi.json`", content_type = "text/html", body = String)),
)]
pub async fn docs_page() -> Html<&'static str> {
    Html(DOCS_HTML)
}

/// The Redoc bundle the `/docs` page loads (MIT licence, `assets/redoc/LICENSE`).
#[utoipa::path(
    get,
    path = "/docs/redoc.standalone.js",
    tag = "docs",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript", body = String)),
)]
pub async fn redoc_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        REDOC_JS,
    )
        .into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The one-time code Mono's widget hands back; exchange it at `/si/mono/exchange`.
    code: Option<String>,
    /// Mono's widget may pass a reason when the user closed it.
    reason: Option<String>,
}

/// Where the demo's widget link sends the browser: shows the `code` to exchange.
#[utoipa::path(
    get,
    path = "/demo/callback",
    tag = "docs",
    params(CallbackQuery),
    responses((status = 200, description = "An HTML page showing the code", content_type = "text/html", body = String)),
)]
pub async fn demo_callback(Query(q): Query<CallbackQuery>) -> Html<String> {
    let body = match (q.code.as_deref(), q.reason.as_deref()) {
        (Some(code), _) => {
            let code = escape(code);
            format!("<p>Account linked. Exchange this code:</p>\n<pre id=\"code\">{code}</pre>")
        }
        (None, Some(reason)) => format!("<p>No code: {}</p>", escape(reason)),
        (None, None) => "<p>No code in this address.</p>".to_string(),
    };
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>taxpoynt-mono demo</title></head>\n<body>\n{body}\n</body></html>\n"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
