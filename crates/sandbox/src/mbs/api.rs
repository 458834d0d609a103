//! The MBS calls under `/api`, answering in MBS's envelopes with its texts.
//!
//! Every `/api` call, known route or not, passes the gate first: it is counted in its second,
//! logged (method, path, headers without the key and secret's values, body, status), and the
//! fault rules for its path apply (latency, status, hang, or handling it and dropping the
//! answer). Protected calls then need `x-api-key` and `x-api-secret` of a business (400
//! `unable to validate api key` otherwise, as MBS answers); health and resources need none.
//! Bodies are read as raw JSON and checked by `validate`, never through the client's types.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, patch, post, MethodRouter};
use axum::{Json, Router};
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use super::reply::{ok, success, Refusal, IRN_TEMPLATE, NO_WEBHOOK, UNKNOWN_TIN};
use super::resources;
use super::state::{Business, LogEntry, MbsState, StoredInvoice};
use super::validate::{check_invoice, irn_fits, is_payment_status, Submitter};

/// Largest body the gate reads.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The headers carrying the credentials.
pub const HEADER_API_KEY: &str = "x-api-key";
pub const HEADER_API_SECRET: &str = "x-api-secret";
/// Longest a hang or a dropped answer holds the connection (the sandbox's shutdown ends it
/// sooner).
const HANG_CAP: Duration = Duration::from_secs(3_600);

/// Every `/api` route behind the gate; a method a route does not serve answers MBS's 404.
pub fn routes(state: MbsState) -> Router<MbsState> {
    let route = |m: MethodRouter<MbsState>| m.fallback(no_route);
    Router::new()
        .route("/api", route(get(health)))
        .route("/api/v1/invoice/resources/{name}", route(get(resource)))
        .route("/api/v1/invoice/irn/validate", route(post(validate_irn)))
        .route("/api/v1/invoice/validate", route(post(validate)))
        .route("/api/v1/invoice/sign", route(post(sign)))
        .route("/api/v1/invoice/confirm/{irn}", route(get(confirm)))
        .route("/api/v1/invoice/update/{irn}", route(patch(update)))
        .route("/api/v1/invoice/download/{irn}", route(get(download)))
        .route("/api/v1/invoice/transmit/{irn}", route(post(transmit)))
        .route("/api/v1/utilities/verify-tin/", route(post(verify_tin)))
        .route("/api/v1/utilities/verify-tin", route(post(verify_tin)))
        .route("/api/{*rest}", any(no_route))
        .layer(middleware::from_fn_with_state(state, gate))
}

/// MBS's 404 for a path (or method) it has no route for.
pub async fn no_route() -> Response {
    Refusal::NoRoute.into_response()
}

// ------------------------------------------------------------------------------------ gate

async fn gate(State(mbs): State<MbsState>, request: Request, next: Next) -> Response {
    let received_at = Utc::now();
    let unix_ms = u64::try_from(received_at.timestamp_millis()).unwrap_or(0);
    mbs.count_call(unix_ms);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let mut entry = LogEntry {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| path.clone(), |p| p.as_str().to_owned()),
        headers: shown_headers(&parts.headers),
        api_key_present: parts.headers.contains_key(HEADER_API_KEY),
        api_secret_present: parts.headers.contains_key(HEADER_API_SECRET),
        body: Value::Null,
        status: None,
        answered: true,
        received_at,
    };
    let Ok(bytes) = bytes else {
        let response = Refusal::invoice(format!("the request body is larger than {MAX_BODY_BYTES} bytes"))
            .into_response();
        entry.status = Some(response.status().as_u16());
        mbs.record(entry);
        return response;
    };
    entry.body = logged_body(&bytes);

    let action = mbs.faults().decide(&path);
    if !action.latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(action.latency) => {}
            () = mbs.shutdown_token().cancelled() => {}
        }
    }
    if action.hang {
        entry.answered = false;
        mbs.record(entry);
        hang(&mbs).await;
        return Refusal::injected(StatusCode::SERVICE_UNAVAILABLE, None).into_response();
    }
    if let Some((status, retry_after)) = action.fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let response = Refusal::injected(status, retry_after).into_response();
        entry.status = Some(response.status().as_u16());
        mbs.record(entry);
        return response;
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    entry.status = Some(response.status().as_u16());
    if action.drop_answer {
        // Handled (a sign is stored); the client never hears of it and must ask.
        entry.answered = false;
        mbs.record(entry);
        hang(&mbs).await;
        return response;
    }
    mbs.record(entry);
    response
}

async fn hang(mbs: &MbsState) {
    tokio::select! {
        () = tokio::time::sleep(HANG_CAP) => {}
        () = mbs.shutdown_token().cancelled() => {}
    }
}

fn shown_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| *name != HEADER_API_KEY && *name != HEADER_API_SECRET)
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn logged_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

// ------------------------------------------------------------------------------- helpers

/// The business whose key and secret the call carries.
fn authorize(mbs: &MbsState, headers: &HeaderMap) -> Result<Business, Refusal> {
    let key = headers.get(HEADER_API_KEY).map(HeaderValue::as_bytes);
    let secret = headers.get(HEADER_API_SECRET).map(HeaderValue::as_bytes);
    match (key, secret) {
        (Some(key), Some(secret)) => mbs.authenticate(key, secret).ok_or_else(Refusal::key),
        _ => Err(Refusal::key()),
    }
}

/// The body as JSON; MBS's envelope when it is not.
fn parse(body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::invoice(format!("unable to parse the request body: {e}")))
}

/// The IRN of the path, when it reads.
fn path_irn(path: Result<Path<String>, PathRejection>) -> Result<String, Refusal> {
    path.map(|Path(irn)| irn).map_err(|_| Refusal::unknown_irn())
}

// --------------------------------------------------------------------------------- calls

async fn health() -> Response {
    Json(json!({ "healthy": true })).into_response()
}

async fn resource(path: Result<Path<String>, PathRejection>) -> Result<Response, Refusal> {
    let Ok(Path(name)) = path else {
        return Err(Refusal::NoRoute);
    };
    let list = resources::list(&name).ok_or(Refusal::NoRoute)?;
    Ok(success(StatusCode::OK, list))
}

async fn validate_irn(
    State(mbs): State<MbsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let business = authorize(&mbs, &headers)?;
    let body = parse(&body)?;
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    let fits = match (text("business_id"), text("invoice_reference"), text("irn")) {
        (Some(id), Some(reference), Some(irn)) => {
            id == business.business_id && irn_fits(irn, &business.service_id, Some(reference))
        }
        _ => false,
    };
    if !fits {
        return Err(Refusal::invoice(IRN_TEMPLATE));
    }
    Ok(ok(StatusCode::OK))
}

async fn validate(State(mbs): State<MbsState>, headers: HeaderMap, body: Bytes) -> Result<Response, Refusal> {
    let business = authorize(&mbs, &headers)?;
    let invoice = parse(&body)?;
    check_invoice(&invoice, submitter(&business))?;
    Ok(ok(StatusCode::CREATED))
}

fn submitter(business: &Business) -> Submitter<'_> {
    Submitter {
        business_id: &business.business_id,
        service_id: &business.service_id,
    }
}

async fn sign(State(mbs): State<MbsState>, headers: HeaderMap, body: Bytes) -> Result<Response, Refusal> {
    let business = authorize(&mbs, &headers)?;
    let invoice = parse(&body)?;
    check_invoice(&invoice, submitter(&business))?;
    let irn = invoice
        .get("irn")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut world = mbs.world();
    if world.invoices.contains_key(&irn) {
        return Err(Refusal::duplicate());
    }
    let payment_status = invoice
        .get("payment_status")
        .and_then(Value::as_str)
        .unwrap_or("PENDING")
        .to_owned();
    world.invoices.insert(
        irn.clone(),
        StoredInvoice {
            irn,
            business_id: business.business_id,
            raw: body,
            invoice,
            signed_at: Utc::now(),
            payment_status,
            payment_reference: None,
            transmitted: false,
            delivered: false,
        },
    );
    Ok(ok(StatusCode::CREATED))
}

/// Runs `f` on the business's invoice `irn`; MBS's refusal when it has none.
fn with_invoice<T>(
    mbs: &MbsState,
    business: &Business,
    irn: &str,
    f: impl FnOnce(&mut StoredInvoice) -> T,
) -> Result<T, Refusal> {
    let mut world = mbs.world();
    match world.invoices.get_mut(irn) {
        Some(invoice) if invoice.business_id == business.business_id => Ok(f(invoice)),
        _ => Err(Refusal::unknown_irn()),
    }
}

async fn confirm(
    State(mbs): State<MbsState>,
    headers: HeaderMap,
    irn: Result<Path<String>, PathRejection>,
) -> Result<Response, Refusal> {
    let business = authorize(&mbs, &headers)?;
    let irn = path_irn(irn)?;
    let data = with_invoice(&mbs, &business, &irn, |s| {
        let date = |key: &str| s.invoice.get(key).cloned().unwrap_or(Value::Null);
        json!({
            "issue_date": date("issue_date"),
            "due_date": date("due_date"),
            "sync_date": s.signed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "payment_status": s.payment_status,
            "transmitted": s.transmitted,
            "delivered": s.delivered,
        })
    })?;
    Ok(success(StatusCode::OK, data))
}

async fn update(
    State(mbs): State<MbsState>,
    headers: HeaderMap,
    irn: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, Refusal> {
    let business = authorize(&mbs, &headers)?;
    let irn = path_irn(irn)?;
    let body = parse(&body)?;
    let status = body
        .get("payment_status")
        .and_then(Value::as_str)
        .filter(|s| is_payment_status(s))
        .ok_or_else(|| {
            Refusal::invoice("invoicerequest.paymentstatus must be one of [PENDING PAID REJECTED CANCELED]")
        })?
        .to_owned();
    let reference = match body.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(Refusal::invoice("invoicerequest.reference must be a string")),
    };
    with_invoice(&mbs, &business, &irn, |s| {
        s.payment_status = status;
        if reference.is_some() {
            s.payment_reference = reference;
        }
    })?;
    Ok(ok(StatusCode::OK))
}

async fn download(
    State(mbs): State<MbsState>,
    headers: HeaderMap,
    irn: Result<Path<String>, PathRejection>,
) -> Result<Response, Refusal> {
    let business = authorize(&mbs, &headers)?;
    let irn = path_irn(irn)?;
    let raw = with_invoice(&mbs, &business, &irn, |s| s.raw.clone())?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        raw,
    )
        .into_response())
}

async fn transmit(
    State(mbs): State<MbsState>,
    headers: HeaderMap,
    irn: Result<Path<String>, PathRejection>,
) -> Result<Response, Refusal> {
    let business = authorize(&mbs, &headers)?;
    let irn = path_irn(irn)?;
    with_invoice(&mbs, &business, &irn, |_| ())?;
    if !business.webhook_url_set {
        return Err(Refusal::invoice(NO_WEBHOOK));
    }
    with_invoice(&mbs, &business, &irn, |s| {
        s.transmitted = true;
        s.delivered = true;
    })?;
    Ok(ok(StatusCode::OK))
}

async fn verify_tin(
    State(mbs): State<MbsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    authorize(&mbs, &headers)?;
    let body = parse(&body)?;
    let tin = body
        .get("tin")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Refusal::entity("tin is required"))?;
    if let Some(row) = resources::taxpayer(tin) {
        return Ok(success(StatusCode::OK, row));
    }
    // A business made in the sandbox is a taxpayer too.
    let known = mbs.world().businesses.values().find(|b| b.tin == tin).map(|b| {
        json!({
            "tin": b.tin, "taxpayer_name": b.name, "email": "", "phone": "", "address": "",
            "rc_number": "", "taxpayer_type": "BUSINESS",
        })
    });
    known
        .map(|row| success(StatusCode::OK, row))
        .ok_or_else(|| Refusal::entity(UNKNOWN_TIN))
}
