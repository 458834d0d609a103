//! The success envelope: `{"status":"successful","message","timestamp","data","meta"?}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
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

/// The success body as it is written: the fields in the contract's order, `data` serialized
/// straight from its type (no intermediate `serde_json::Value` tree of the whole page).
#[derive(Serialize)]
struct Body<'a, T> {
    status: &'static str,
    message: &'a str,
    timestamp: String,
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<&'a PageMeta>,
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let body = Body {
            status: "successful",
            message: &self.message,
            timestamp: now_rfc3339(),
            data: &self.data,
            meta: self.meta.as_ref(),
        };
        // Sized for a list page in one allocation; a larger body grows it once or twice.
        let mut bytes = Vec::with_capacity(16 * 1024);
        match serde_json::to_writer(&mut bytes, &body) {
            Ok(()) => (
                self.status,
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                bytes,
            )
                .into_response(),
            // Only a type that cannot be JSON (a map with non-string keys) fails here: a
            // defect of the service, answered in the failure envelope.
            Err(e) => ApiError::internal(anyhow::anyhow!("serializing the answer: {e}")).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use axum::body::to_bytes;
    use serde_json::Value;

    use super::*;

    async fn answer(r: Response) -> (StatusCode, Option<String>, Value) {
        let status = r.status();
        let kind = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let body = to_bytes(r.into_body(), usize::MAX).await.unwrap();
        (status, kind, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_page_is_written_in_the_contracts_envelope_in_its_order() {
        let page = Envelope::ok("listed", vec![1, 2]).with_meta(PageMeta {
            total: Some(2),
            pages: Some(1),
            previous: None,
            next: None,
        });
        let r = page.into_response();
        let (status, kind, body) = answer(r).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(kind.as_deref(), Some("application/json"));
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        // serde_json's map sorts keys; the order written is checked on the text below.
        assert_eq!(keys, ["data", "message", "meta", "status", "timestamp"]);
        assert_eq!(body["status"], "successful");
        assert_eq!(body["data"], serde_json::json!([1, 2]));
        assert_eq!(body["meta"]["total"], 2);
        assert!(body["meta"]["next"].is_null());

        let text = String::from_utf8(
            to_bytes(
                Envelope::created("made", "x").into_response().into_body(),
                usize::MAX,
            )
            .await
            .unwrap()
            .to_vec(),
        )
        .unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(
            at("status") < at("message") && at("message") < at("timestamp") && at("timestamp") < at("data"),
            "{text}"
        );
        assert!(!text.contains("\"meta\""), "no meta on a single resource: {text}");
    }

    #[tokio::test]
    async fn data_that_cannot_be_json_is_answered_in_the_failure_envelope() {
        // A map keyed by pairs has no JSON form.
        let data: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
        let (status, kind, body) = answer(Envelope::ok("bad", data).into_response()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(kind.as_deref(), Some("application/json"));
        assert_eq!(body["status"], "failed");
        assert_eq!(body["error"]["code"], "internal_error", "{body}");
    }
}
