//! The MBS sandbox's control endpoints under `/_sandbox/mbs/` (no key: tests drive them):
//! create and read businesses (with their `crypto_keys.txt` and private key), read a signed
//! invoice, read or clear the log of calls received, install or clear faults, and read the
//! `/api` calls counted per second. Answers are plain JSON; failures
//! `{"code", "data": null, "message"}` naming the bad field.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::faults::FaultSpec;
use super::state::{MbsState, NewBusiness};

pub fn routes() -> Router<MbsState> {
    Router::new()
        .route("/_sandbox/mbs/businesses", post(create_business))
        .route("/_sandbox/mbs/businesses/demo", post(demo_business))
        .route("/_sandbox/mbs/businesses/{id}", get(business))
        .route("/_sandbox/mbs/businesses/{id}/crypto_keys.txt", get(crypto_keys))
        .route("/_sandbox/mbs/invoices/{irn}", get(invoice))
        .route("/_sandbox/mbs/log", get(log).delete(clear_log))
        .route(
            "/_sandbox/mbs/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_sandbox/mbs/calls", get(calls))
}

/// A refused control call.
#[derive(Debug)]
pub struct ControlError {
    pub status: StatusCode,
    pub message: String,
}

impl ControlError {
    fn bad_request(message: impl Into<String>) -> Self {
        ControlError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        ControlError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        ControlError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.status.as_u16(), "data": null, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body (an empty one reads as the default); the failure names the bad field.
fn body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ControlError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required(bytes)
}

fn required<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ControlError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            ControlError::bad_request(format!("Invalid request body: {}", e.inner()))
        } else {
            ControlError::bad_request(format!("Invalid `{path}`: {}", e.inner()))
        }
    })
}

fn created<T: Serialize>(data: T) -> Response {
    (StatusCode::CREATED, Json(data)).into_response()
}

async fn create_business(State(mbs): State<MbsState>, bytes: Bytes) -> Result<Response, ControlError> {
    let spec: NewBusiness = body(&bytes)?;
    // Key generation takes CPU: off the runtime's threads.
    let business = tokio::task::spawn_blocking(move || mbs.create_business(spec))
        .await
        .map_err(|e| ControlError::internal(format!("key generation stopped: {e}")))?
        .map_err(ControlError::bad_request)?;
    Ok(created(business))
}

async fn demo_business(State(mbs): State<MbsState>) -> Result<Response, ControlError> {
    let business = tokio::task::spawn_blocking(move || mbs.demo_business())
        .await
        .map_err(|e| ControlError::internal(format!("key generation stopped: {e}")))?
        .map_err(ControlError::internal)?;
    Ok(Json(business).into_response())
}

async fn business(State(mbs): State<MbsState>, Path(id): Path<String>) -> Result<Response, ControlError> {
    let business = mbs
        .business(&id)
        .ok_or_else(|| ControlError::not_found(format!("Business {id} was not found")))?;
    Ok(Json(business).into_response())
}

async fn crypto_keys(State(mbs): State<MbsState>, Path(id): Path<String>) -> Result<Response, ControlError> {
    let business = mbs
        .business(&id)
        .ok_or_else(|| ControlError::not_found(format!("Business {id} was not found")))?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        business.crypto_keys_txt(),
    )
        .into_response())
}

async fn invoice(State(mbs): State<MbsState>, Path(irn): Path<String>) -> Result<Response, ControlError> {
    let invoice = mbs
        .invoice(&irn)
        .ok_or_else(|| ControlError::not_found(format!("No invoice was signed with IRN {irn}")))?;
    Ok(Json(invoice).into_response())
}

async fn log(State(mbs): State<MbsState>) -> Response {
    Json(mbs.log()).into_response()
}

async fn clear_log(State(mbs): State<MbsState>) -> Response {
    Json(json!({ "cleared": mbs.clear_log() })).into_response()
}

async fn add_fault(State(mbs): State<MbsState>, bytes: Bytes) -> Result<Response, ControlError> {
    let spec: FaultSpec = required(&bytes)?;
    spec.validate().map_err(ControlError::bad_request)?;
    Ok(created(mbs.faults().add(spec)))
}

async fn list_faults(State(mbs): State<MbsState>) -> Response {
    Json(mbs.faults().list()).into_response()
}

async fn clear_faults(State(mbs): State<MbsState>) -> Response {
    Json(json!({ "cleared": mbs.faults().clear() })).into_response()
}

async fn calls(State(mbs): State<MbsState>) -> Response {
    Json(mbs.calls()).into_response()
}
