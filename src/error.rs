//! The failure envelope: one `ApiError` for every way a request can fail, rendered as
//! `{"status":"failed","message","timestamp","data":null,"error":{"code","fields"?},"traceId"}`.

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::telemetry::current_trace_id;

/// Field name -> what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        fields: FieldErrors,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        /// Extra members of `error`, e.g. the data status of a `data_not_ready`.
        extra: Map<String, Value>,
    },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    /// 422: the request is well formed but more than the service will do at once (a rule
    /// preview whose scan ran past its statement timeout: `preview_too_large`).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("Mono answered with an error: {message}")]
    MonoUpstream { status: Option<u16>, message: String },
    #[error("Mono did not answer in time")]
    MonoTimeout,
    /// MBS refused the invoice: 400 `invalid_invoice` with the field MBS named (in this
    /// API's names) and MBS's own text in `error.mbs`.
    #[error("MBS refused the invoice: {details}")]
    MbsRefused { fields: FieldErrors, details: String },
    /// MBS answered something the service cannot act on (its keys refused, say): 502.
    #[error("{message}")]
    MbsUpstream { code: &'static str, message: String },
    /// MBS did not answer in time: 504 `mbs_timeout`.
    #[error("{0}")]
    MbsTimeout(String),
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// A 503 for something other than the database: shutting down, or Mono's request budget
    /// could not be read.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 naming one bad field.
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let field = field.into();
        let problem = problem.into();
        let mut fields = FieldErrors::new();
        fields.insert(field.clone(), problem.clone());
        ApiError::BadRequest {
            code: "invalid_request",
            message: format!("{field}: {problem}"),
            fields,
        }
    }

    /// A 400 naming every bad field at once.
    pub fn fields(fields: FieldErrors) -> Self {
        let message = fields
            .iter()
            .map(|(f, p)| format!("{f}: {p}"))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::BadRequest {
            code: "invalid_request",
            message,
            fields,
        }
    }

    /// 400 `invalid_invoice`: everything that keeps an invoice from being a valid e-invoice.
    pub fn invalid_invoice(fields: FieldErrors) -> Self {
        let list = fields.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        ApiError::BadRequest {
            code: "invalid_invoice",
            message: format!("the invoice is not valid: {list}"),
            fields,
        }
    }

    /// 409 `invalid_transition`, naming the state the invoice is in (`error.status`).
    pub fn invalid_transition(action: &str, current: &str) -> Self {
        let mut extra = Map::new();
        extra.insert("status".into(), Value::from(current));
        ApiError::Conflict {
            code: "invalid_transition",
            message: format!("cannot {action} an invoice that is {current}"),
            extra,
        }
    }

    /// 409 `job_running`: the environment's bulk job of `kind` is unfinished; `error.jobId`
    /// names it, for the caller to watch (`GET /si/mono/jobs/{id}`).
    pub fn job_running(kind: &str, id: uuid::Uuid) -> Self {
        let mut extra = Map::new();
        extra.insert("jobId".into(), Value::from(id.to_string()));
        ApiError::Conflict {
            code: "job_running",
            message: format!("this environment's {kind} job {id} is still running; one runs at a time"),
            extra,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            fields: FieldErrors::new(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MonoUpstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::MonoTimeout | ApiError::MbsTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::MbsRefused { .. } => StatusCode::BAD_REQUEST,
            ApiError::MbsUpstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::DatabaseUnavailable(_) | ApiError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::MonoUpstream { .. } => "mono_error",
            ApiError::MonoTimeout => "mono_timeout",
            ApiError::MbsRefused { .. } => "invalid_invoice",
            ApiError::MbsUpstream { code, .. } => code,
            ApiError::MbsTimeout(_) => "mbs_timeout",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
            ApiError::Unavailable { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            ApiError::DatabaseUnavailable(err)
        } else if is_data_exception(&err) {
            // Class 22: a value the database cannot take (e.g. text it cannot encode). The
            // extractors catch the known cases with the field named; this is the safety net.
            tracing::warn!(error = %err, "a value was refused by the database");
            ApiError::bad_request("invalid_request", "a value in the request cannot be stored")
        } else {
            ApiError::Internal(err.into())
        }
    }
}

impl From<mono::MonoError> for ApiError {
    fn from(err: mono::MonoError) -> Self {
        use mono::MonoError;
        match err {
            MonoError::Timeout => ApiError::MonoTimeout,
            MonoError::Api { status, message } => ApiError::MonoUpstream {
                status: Some(status),
                message,
            },
            MonoError::RateLimited { message, .. } => ApiError::MonoUpstream {
                status: Some(429),
                message,
            },
            other @ (MonoError::Transport(_) | MonoError::Decode { .. }) => ApiError::MonoUpstream {
                status: None,
                message: other.to_string(),
            },
            other @ MonoError::Config(_) => ApiError::internal(other),
            other @ (MonoError::ShuttingDown | MonoError::Budget(_)) => {
                tracing::warn!(error = %other, "Mono was not called");
                ApiError::Unavailable {
                    code: other.code(),
                    message: other.to_string(),
                }
            }
        }
    }
}

fn is_data_exception(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")))
}

/// Errors that mean "the database cannot be reached", as opposed to a bad query.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)
    ) || matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let trace_id = current_trace_id();
        match &self {
            ApiError::Internal(cause) => {
                tracing::error!(trace_id = %trace_id, error = ?cause, "request failed");
            }
            ApiError::DatabaseUnavailable(cause) => {
                tracing::warn!(trace_id = %trace_id, error = %cause, "database unavailable");
            }
            _ => {}
        }
        let mut error = Map::new();
        error.insert("code".into(), Value::from(self.code()));
        match &self {
            ApiError::BadRequest { fields, .. } if !fields.is_empty() => {
                error.insert("fields".into(), json!(fields));
            }
            ApiError::Conflict { extra, .. } => {
                error.extend(extra.clone());
            }
            ApiError::MonoUpstream {
                status: Some(s),
                message,
            } => {
                error.insert("monoStatus".into(), json!(s));
                error.insert("monoMessage".into(), json!(message));
            }
            ApiError::MonoUpstream {
                status: None,
                message,
            } => {
                error.insert("monoMessage".into(), json!(message));
            }
            ApiError::RateLimited { retry_after_secs, .. } => {
                error.insert("retryAfter".into(), json!(retry_after_secs));
            }
            ApiError::MbsRefused { fields, details } => {
                error.insert("fields".into(), json!(fields));
                error.insert("mbs".into(), json!(details));
            }
            _ => {}
        }
        let message = match &self {
            // Internal details stay in the log; the client gets the trace id to quote.
            ApiError::Internal(_) => "internal error; quote the trace id when reporting it".to_string(),
            other => other.to_string(),
        };
        let body = json!({
            "status": "failed",
            "message": message,
            "timestamp": crate::time::now_rfc3339(),
            "data": null,
            "error": Value::Object(error),
            "traceId": trace_id,
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs, .. } = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        response
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        // An id that cannot exist is simply not found; nothing about other tenants leaks.
        ApiError::NotFound(format!("not found: {}", rejection.body_text()))
    }
}
