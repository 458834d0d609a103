//! How the sandbox answers: Mono's success envelope, Mono's failure envelope (for every
//! error, JSON rejections included, so no input gets a bare 4xx/5xx), and small HTML pages
//! for the widget.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::state::SandboxState;
use mono::types::{FailureEnvelope, MonoEnvelope, Paging};

/// A failed answer: Mono's `{"status":"failed","message":…,"data":null}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::NOT_FOUND, message)
    }

    pub fn account_not_found(id: &str) -> Self {
        Failure::not_found(format!("Account {id} was not found"))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(FailureEnvelope::new(self.message))).into_response();
        if let Some(after) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// A 200 with Mono's success envelope.
pub fn ok<T: Serialize>(message: &str, data: T) -> Response {
    Json(MonoEnvelope::successful(message, data)).into_response()
}

/// A 200 with Mono's success envelope and paging.
pub fn ok_paged<T: Serialize>(message: &str, data: T, meta: Paging) -> Response {
    Json(MonoEnvelope::successful(message, data).with_meta(meta)).into_response()
}

/// A 201 with the success envelope (control calls that create something).
pub fn created<T: Serialize>(message: &str, data: T) -> Response {
    (StatusCode::CREATED, Json(MonoEnvelope::successful(message, data))).into_response()
}

/// Parses a JSON body; the failure names the bad field's path.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    // Only an object: serde would read an array into a struct by position.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Failure::bad_request("The request body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(path_failure)
}

/// Types an already-parsed JSON value; the failure names the bad field's path.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Failure> {
    serde_path_to_error::deserialize(value).map_err(path_failure)
}

fn path_failure<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> Failure {
    let path = e.path().to_string();
    if path == "." {
        Failure::bad_request(format!("Invalid request body: {}", e.inner()))
    } else {
        Failure::bad_request(format!("Invalid `{path}`: {}", e.inner()))
    }
}

/// Where the sandbox is reachable: the configured public URL, else the request's `Host`.
pub fn base_url(state: &SandboxState, headers: &HeaderMap) -> Url {
    if let Some(url) = &state.config().public_url {
        return url.clone();
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|host| Url::parse(&format!("http://{host}/")).ok())
        .unwrap_or_else(|| Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable!()))
}

/// `base` with `segments` appended as path segments.
pub fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal page in the widget's place; `body` is already escaped HTML.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} · Mono sandbox</title>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape_html(title)
    );
    (status, Html(html)).into_response()
}
