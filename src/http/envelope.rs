//! The success envelope: `{"status":"successful","message","timestamp","data","meta"?}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::time::now_rfc3339;

/// Paging of a list: `total` items in `pages` pages; `previous`/`next` are opaque cursors or
/// page numbers as strings, null at the ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PageMeta {
    pub total: Option<i64>,
    pub pages: Option<i64>,
    pub previous: Option<String>,
    pub next: Option<String>,
}

pub struct Envelope<T> {
    status: StatusCode,
    message: String,
    data: T,
    meta: Option<PageMeta>,
}

impl<T: Serialize> Envelope<T> {
    pub fn ok(message: impl Into<String>, data: T) -> Self {
        Envelope {
            status: StatusCode::OK,
            message: message.into(),
            data,
            meta: None,
        }
    }

    pub fn created(message: impl Into<String>, data: T) -> Self {
        Envelope {
            status: StatusCode::CREATED,
            ..Envelope::ok(message, data)
        }
    }

    /// 202: the request was taken and its outcome follows later.
    pub fn accepted(message: impl Into<String>, data: T) -> Self {
        Envelope {
            status: StatusCode::ACCEPTED,
            ..Envelope::ok(message, data)
        }
    }

    pub fn with_meta(mut self, meta: PageMeta) -> Self {
        self.meta = Some(meta);
        self
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let mut body = json!({
            "status": "successful",
            "message": self.message,
            "timestamp": now_rfc3339(),
            "data": self.data,
        });
        if let Some(meta) = self.meta {
            body["meta"] = json!(meta);
        }
        (self.status, axum::Json(body)).into_response()
    }
}
