//! One error for every MBS call, telling apart what the caller must treat differently. MBS
//! answers most refusals with a 400 and a text; the texts are the only way to tell them
//! apart, and some lie (a duplicate IRN reads like a transient failure). Nothing here is
//! retried on the text of a 400.

use serde::Deserialize;

/// What went wrong with a call to MBS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MbsError {
    /// The API key or secret was refused (MBS answers 400 `unable to validate api key`).
    #[error("MBS refused the API key or secret")]
    Credentials,
    /// A field of the invoice was refused: `path` is MBS's path below `invoicerequest.invoice.`
    /// (e.g. `taxtotal[0].taxsubtotal[0].taxcategory.id`), `details` MBS's whole text.
    #[error("MBS refused {path}: {details}")]
    Field { path: String, details: String },
    /// The IRN does not match the business's IRN template.
    #[error("MBS refused the IRN: it does not match the business's template")]
    IrnTemplate,
    /// The IRN was signed before. MBS's text reads as a transient failure; it is not.
    #[error("MBS already holds an invoice with this IRN")]
    DuplicateIrn,
    /// MBS knows no invoice with this IRN (confirm, update, download, transmit).
    #[error("MBS knows no invoice with this IRN: {details}")]
    UnknownIrn { details: String },
    /// Another refusal, with MBS's status and text.
    #[error("MBS refused the call ({status}): {details}")]
    Refused { status: u16, details: String },
    /// No such route at MBS (a wrong base URL or path).
    #[error("MBS has no route for {path}")]
    NoRoute { path: String },
    /// The outcome is unknown or the call did not get through: a timeout, a 5xx, a lost
    /// connection. For a sign, ask `confirm` before anything else.
    #[error("MBS is unavailable: {0}")]
    Unavailable(String),
    /// MBS did not answer within `MBS_TIMEOUT_MS`: the outcome is unknown, as for
    /// [`MbsError::Unavailable`].
    #[error("MBS did not answer in time: {0}")]
    TimedOut(String),
    /// MBS answered 429.
    #[error("MBS asked to slow down")]
    RateLimited { retry_after_secs: Option<u64> },
    /// The call was not made: the service is shutting down, or the shared request budget
    /// (`MBS_MAX_RPS`) could not be read. Nothing reached MBS.
    #[error("MBS was not called: {0}")]
    NotCalled(String),
    /// An answer that does not read as MBS's documented shape.
    #[error("MBS answered something unreadable: {0}")]
    Decode(String),
}

impl MbsError {
    /// Whether the call may have taken effect without an answer (a sign must be confirmed).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, MbsError::Unavailable(_) | MbsError::TimedOut(_))
    }
}

/// MBS's failure envelope.
#[derive(Debug, Deserialize)]
struct Failure {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<FailureDetail>,
}

#[derive(Debug, Deserialize)]
struct FailureDetail {
    #[serde(default)]
    handler: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    public_message: Option<String>,
}

const FIELD_PREFIX: &str = "invoicerequest.invoice.";
const KEY_REFUSED: &str = "unable to validate api key";
const IRN_TEMPLATE: &str = "irn validation failed for this business";
const DUPLICATE_IRN: &str = "unable to complete this operation at this time, kindly try again later";
const NO_ROUTE: &str = "no route found for this path";
/// `transmit` without a webhook URL at the APP: a refusal about the integrator, not the IRN.
const NO_WEBHOOK: &str = "webhook url is not setup";

/// What the call was about, for the refusals whose meaning depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `validate`, `sign`, `irn/validate`.
    Submission,
    /// `confirm`, `update`, `download`, `transmit`: about an IRN already submitted.
    AboutIrn,
    Other,
}

/// The error of a non-2xx answer with `status` and `body`, for a call of `kind` to `path`.
pub fn classify(status: u16, body: &[u8], kind: CallKind, path: &str) -> MbsError {
    if status == 429 {
        return MbsError::RateLimited {
            retry_after_secs: None,
        };
    }
    if status >= 500 {
        return MbsError::Unavailable(format!("MBS answered {status}"));
    }
    let failure: Option<Failure> = serde_json::from_slice(body).ok();
    let message = failure
        .as_ref()
        .and_then(|f| f.message.clone())
        .unwrap_or_default();
    if status == 404 && failure.as_ref().is_none_or(|f| f.error.is_none()) && message.contains(NO_ROUTE) {
        return MbsError::NoRoute {
            path: path.to_owned(),
        };
    }
    let detail = failure.as_ref().and_then(|f| f.error.as_ref());
    let handler = detail.and_then(|d| d.handler.as_deref()).unwrap_or_default();
    let public = detail
        .and_then(|d| d.public_message.as_deref())
        .unwrap_or_default();
    let details = detail.and_then(|d| d.details.clone()).unwrap_or_default();
    if handler == "handler" && public.contains(KEY_REFUSED) {
        return MbsError::Credentials;
    }
    if let Some(rest) = details.strip_prefix(FIELD_PREFIX) {
        let path = rest.split_whitespace().next().unwrap_or_default().to_owned();
        return MbsError::Field { path, details };
    }
    if details.starts_with(IRN_TEMPLATE) {
        return MbsError::IrnTemplate;
    }
    if details.starts_with(DUPLICATE_IRN) && kind == CallKind::Submission {
        return MbsError::DuplicateIrn;
    }
    if details.contains(NO_WEBHOOK) {
        return MbsError::Refused { status, details };
    }
    if kind == CallKind::AboutIrn && (handler == "invoice_actions" || status == 404) {
        return MbsError::UnknownIrn {
            details: if details.is_empty() { message } else { details },
        };
    }
    if failure.is_none() {
        return MbsError::Decode(format!("a {status} whose body is not MBS's failure envelope"));
    }
    MbsError::Refused {
        status,
        details: if details.is_empty() { message } else { details },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(handler: &str, details: Option<&str>, public: &str) -> Vec<u8> {
        let mut error = serde_json::json!({"id": "9b1c", "handler": handler, "public_message": public});
        if let Some(d) = details {
            error["details"] = serde_json::json!(d);
        }
        serde_json::to_vec(
            &serde_json::json!({"code": 400, "data": null, "message": "error has occurred", "error": error}),
        )
        .unwrap()
    }

    #[test]
    fn every_known_refusal_is_told_apart() {
        let key = envelope("handler", None, "unable to validate api key");
        assert_eq!(
            classify(400, &key, CallKind::Submission, "/x"),
            MbsError::Credentials
        );
        let field = envelope(
            "invoice_actions",
            Some("invoicerequest.invoice.taxtotal[0].taxsubtotal[0].taxcategory.id must be a valid tax category, refer to the invoice resource apis"),
            "validation failed: we are unable to process your request. also confirm this is not a duplicate request",
        );
        match classify(400, &field, CallKind::Submission, "/x") {
            MbsError::Field { path, .. } => assert_eq!(path, "taxtotal[0].taxsubtotal[0].taxcategory.id"),
            other => panic!("{other:?}"),
        }
        let template = envelope(
            "invoice_actions",
            Some("irn validation failed for this business, refer to the template and try again"),
            "",
        );
        assert_eq!(
            classify(400, &template, CallKind::Submission, "/x"),
            MbsError::IrnTemplate
        );
        let duplicate = envelope("invoice_actions", Some(DUPLICATE_IRN), "");
        assert_eq!(
            classify(400, &duplicate, CallKind::Submission, "/x"),
            MbsError::DuplicateIrn
        );
        assert!(!MbsError::DuplicateIrn.outcome_unknown());
        let unknown = envelope("invoice_actions", Some("invoice not found"), "");
        assert!(matches!(
            classify(400, &unknown, CallKind::AboutIrn, "/x"),
            MbsError::UnknownIrn { .. }
        ));
        let route = br#"{"code":404,"data":null,"message":"no route found for this path. kindly check your request and try again"}"#;
        assert_eq!(
            classify(404, route, CallKind::Other, "/api/v1/nope"),
            MbsError::NoRoute {
                path: "/api/v1/nope".into()
            }
        );
        let no_webhook = envelope("invoice_actions", Some("webhook url is not setup"), "");
        assert!(matches!(
            classify(400, &no_webhook, CallKind::AboutIrn, "/api/v1/invoice/transmit/X"),
            MbsError::Refused { status: 400, .. }
        ));
        assert!(classify(502, b"<html>", CallKind::Submission, "/x").outcome_unknown());
        assert!(matches!(
            classify(400, b"<html>", CallKind::Other, "/x"),
            MbsError::Decode(_)
        ));
    }
}
