//! How the MBS sandbox answers: MBS's success envelope (`{"code", "data"}` with the HTTP
//! status equal to `code`), its failure envelope (`{"code", "data": null, "message", "error":
//! {"id", "handler", "details", "public_message"}}`), the bare 404 of an unknown route, and
//! every text MBS is known to send, as constants tests compare against.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// `message` of every failure envelope.
pub const ERROR_MESSAGE: &str = "error has occurred";
/// `public_message` of a refused key (handler `handler`, no `details`).
pub const KEY_REFUSED: &str = "unable to validate api key";
/// `public_message` of an invoice refusal (handler `invoice_actions`).
pub const VALIDATION_FAILED: &str =
    "validation failed: we are unable to process your request. also confirm this is not a duplicate request";
/// `details` of an IRN that does not fit the business's template.
pub const IRN_TEMPLATE: &str = "irn validation failed for this business, refer to the template and try again";
/// `details` of a sign whose IRN was signed before: it reads as transient and is not.
pub const DUPLICATE_IRN: &str = "unable to complete this operation at this time, kindly try again later";
/// `details` of a call about an IRN the business never signed.
pub const UNKNOWN_IRN: &str = "invoice not found: no invoice with this irn exists for this business";
/// `details` of a transmit by a business without a webhook URL.
pub const NO_WEBHOOK: &str = "webhook url is not setup";
/// `details` of a TIN nobody holds, and the `public_message` of entity refusals.
pub const UNKNOWN_TIN: &str = "tin not found: no taxpayer is registered with this tin";
pub const ENTITY_FAILED: &str = "we are unable to process your request at this time";
/// `message` of the 404 of an unknown route (no `error` object).
pub const NO_ROUTE: &str = "no route found for this path. kindly check your request and try again";
/// `public_message` of an injected 5xx.
pub const UNAVAILABLE: &str = "service temporarily unavailable, kindly try again later";

/// Handlers named in `error.handler`.
pub const HANDLER_KEY: &str = "handler";
pub const HANDLER_INVOICE: &str = "invoice_actions";
pub const HANDLER_ENTITY: &str = "entity_actions";

/// A refusal in MBS's failure envelope, or the bare 404 of an unknown route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Failure {
        status: StatusCode,
        handler: &'static str,
        details: Option<String>,
        public_message: &'static str,
        retry_after: Option<u64>,
    },
    NoRoute,
}

impl Refusal {
    /// A 400 from `invoice_actions` with `details`.
    pub fn invoice(details: impl Into<String>) -> Self {
        Refusal::Failure {
            status: StatusCode::BAD_REQUEST,
            handler: HANDLER_INVOICE,
            details: Some(details.into()),
            public_message: VALIDATION_FAILED,
            retry_after: None,
        }
    }

    /// A 400 naming a field of the invoice: `invoicerequest.invoice.<path> <reason>`.
    pub fn field(path: &str, reason: &str) -> Self {
        Refusal::invoice(format!("invoicerequest.invoice.{path} {reason}"))
    }

    /// The key or secret is missing or matches no business.
    pub fn key() -> Self {
        Refusal::Failure {
            status: StatusCode::BAD_REQUEST,
            handler: HANDLER_KEY,
            details: None,
            public_message: KEY_REFUSED,
            retry_after: None,
        }
    }

    pub fn irn_template() -> Self {
        Refusal::invoice(IRN_TEMPLATE)
    }

    pub fn duplicate() -> Self {
        Refusal::invoice(DUPLICATE_IRN)
    }

    pub fn unknown_irn() -> Self {
        Refusal::invoice(UNKNOWN_IRN)
    }

    /// A 400 from `entity_actions` (verify-tin).
    pub fn entity(details: impl Into<String>) -> Self {
        Refusal::Failure {
            status: StatusCode::BAD_REQUEST,
            handler: HANDLER_ENTITY,
            details: Some(details.into()),
            public_message: ENTITY_FAILED,
            retry_after: None,
        }
    }

    /// An injected failure with `status` (and `Retry-After`).
    pub fn injected(status: StatusCode, retry_after: Option<u64>) -> Self {
        Refusal::Failure {
            status,
            handler: "handler",
            details: Some(format!("injected by the sandbox: {status}")),
            public_message: UNAVAILABLE,
            retry_after,
        }
    }
}

#[derive(Serialize)]
struct FailureBody<'a> {
    code: u16,
    data: Option<()>,
    message: &'a str,
    error: FailureDetail<'a>,
}

#[derive(Serialize)]
struct FailureDetail<'a> {
    id: String,
    handler: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a str>,
    public_message: &'a str,
}

#[derive(Serialize)]
struct NoRouteBody {
    code: u16,
    data: Option<()>,
    message: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoRoute => (
                StatusCode::NOT_FOUND,
                Json(NoRouteBody {
                    code: 404,
                    data: None,
                    message: NO_ROUTE,
                }),
            )
                .into_response(),
            Refusal::Failure {
                status,
                handler,
                details,
                public_message,
                retry_after,
            } => {
                let body = FailureBody {
                    code: status.as_u16(),
                    data: None,
                    message: ERROR_MESSAGE,
                    error: FailureDetail {
                        id: uuid::Uuid::new_v4().to_string(),
                        handler,
                        details: details.as_deref(),
                        public_message,
                    },
                };
                let mut response = (status, Json(body)).into_response();
                if let Some(after) = retry_after {
                    if let Ok(v) = HeaderValue::from_str(&after.to_string()) {
                        response.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                }
                response
            }
        }
    }
}

#[derive(Serialize)]
struct Success<T> {
    code: u16,
    data: T,
}

#[derive(Serialize)]
struct OkData {
    ok: bool,
}

/// `{"code": status, "data": data}` with `status`.
pub fn success<T: Serialize>(status: StatusCode, data: T) -> Response {
    (
        status,
        Json(Success {
            code: status.as_u16(),
            data,
        }),
    )
        .into_response()
}

/// `{"code": status, "data": {"ok": true}}`.
pub fn ok(status: StatusCode) -> Response {
    success(status, OkData { ok: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_refused_key_has_no_details_and_the_route_404_no_error() {
        let key = Refusal::key().into_response();
        assert_eq!(key.status(), StatusCode::BAD_REQUEST);
        let key = body(key).await;
        assert_eq!(key["error"]["handler"], "handler");
        assert!(key["error"].get("details").is_none());
        assert_eq!(key["error"]["public_message"], KEY_REFUSED);
        let route = Refusal::NoRoute.into_response();
        let bytes = axum::body::to_bytes(route.into_body(), 1 << 16).await.unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"code":404,"data":null,"message":"no route found for this path. kindly check your request and try again"}"#
        );
    }
}
