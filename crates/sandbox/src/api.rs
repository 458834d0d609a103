//! The sandbox's Mono v2 endpoints and the widget page, answering with the client's own DTOs.
//!
//! Every `/v2` call passes the gate first: `mono-sec-key` must match (401 otherwise), then
//! the sandbox's limits apply (the call is counted, waits the set latency, and is refused
//! with 429 past `max_rps` in its second), then the fault rules for that endpoint (latency,
//! hang, injected failures).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use subtle::ConstantTimeEq;
use url::Url;

use super::data::{hash_str, hex_id, History};
use super::reply::{base_url, escape_html, join, ok, ok_paged, page, parse_json, parse_value, Failure};
use super::state::{institution_type, AccountRecord, SandboxState, Session, World};
use mono::client::HEADER_SEC_KEY;
use mono::types::*;

/// Default and largest page sizes of the transaction list.
pub const DEFAULT_TRANSACTION_LIMIT: usize = 20;
pub const MAX_TRANSACTION_LIMIT: usize = 1_000;
/// With `paginate=false`, at most this many transactions come back (paging says if more).
pub const UNPAGINATED_CAP: usize = 100_000;
/// Page size of the account list.
pub const ACCOUNTS_PAGE_SIZE: usize = 20;

pub fn routes(state: SandboxState) -> Router<SandboxState> {
    let mono = Router::new()
        .route("/v2/accounts/initiate", post(initiate))
        .route("/v2/accounts/auth", post(exchange))
        .route("/v2/accounts", get(list_accounts))
        .route("/v2/accounts/{id}", get(details))
        .route("/v2/accounts/{id}/identity", get(identity))
        .route("/v2/accounts/{id}/balance", get(balance))
        .route("/v2/accounts/{id}/transactions", get(transactions))
        .route("/v2/accounts/{id}/unlink", post(unlink))
        .route_layer(middleware::from_fn_with_state(state, gate));
    mono.route("/widget/{session}", get(widget))
}

/// The fault-rule name of a route.
fn endpoint_of(route: &str) -> &'static str {
    match route {
        "/v2/accounts/initiate" => "initiate",
        "/v2/accounts/auth" => "auth",
        "/v2/accounts" => "accounts",
        "/v2/accounts/{id}" => "details",
        "/v2/accounts/{id}/identity" => "identity",
        "/v2/accounts/{id}/balance" => "balance",
        "/v2/accounts/{id}/transactions" => "transactions",
        "/v2/accounts/{id}/unlink" => "unlink",
        _ => "widget",
    }
}

async fn gate(State(state): State<SandboxState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(HEADER_SEC_KEY)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let expected = state.config().secret_key.as_bytes();
    if !bool::from(presented.ct_eq(expected)) {
        return Failure::new(StatusCode::UNAUTHORIZED, "Invalid or missing mono-sec-key header")
            .into_response();
    }
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("widget", |p| endpoint_of(p.as_str()));
    let account = account_of(endpoint, request.uri().path());
    if let Some(response) = apply_limits(&state).await {
        return response;
    }
    if let Some(response) = apply_faults(&state, endpoint, account.as_deref()).await {
        return response;
    }
    next.run(request).await
}

/// Counts the call and applies the sandbox's latency and rate limit; a 429 when the call is
/// over `max_rps` in its second.
pub async fn apply_limits(state: &SandboxState) -> Option<Response> {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let admission = state.limits().admit(unix_ms);
    if !admission.latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(admission.latency) => {}
            () = state.shutdown_token().cancelled() => {}
        }
    }
    let retry_after = admission.refuse?;
    Some(
        Failure {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "Rate limit exceeded, please retry after the time in Retry-After".to_owned(),
            retry_after: Some(retry_after),
        }
        .into_response(),
    )
}

/// The account a call is about: the `{id}` of `/v2/accounts/{id}/...`.
fn account_of(endpoint: &str, path: &str) -> Option<String> {
    if !matches!(
        endpoint,
        "details" | "identity" | "balance" | "transactions" | "unlink"
    ) {
        return None;
    }
    let id = path.strip_prefix("/v2/accounts/")?.split('/').next()?;
    Some(id.to_owned())
}

/// Runs the fault rules for `endpoint` about `account`; a response when they answer instead
/// of the handler.
pub async fn apply_faults(state: &SandboxState, endpoint: &str, account: Option<&str>) -> Option<Response> {
    let action = state.faults().decide_for(endpoint, account);
    let stop = state.shutdown_token().clone();
    if !action.latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(action.latency) => {}
            () = stop.cancelled() => {}
        }
    }
    if action.hang {
        // Held until the caller gives up or the sandbox stops; an hour bounds a forgotten one.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3_600)) => {}
            () = stop.cancelled() => {}
        }
        return Some(
            Failure::new(StatusCode::SERVICE_UNAVAILABLE, "The sandbox is shutting down").into_response(),
        );
    }
    let (status, retry_after) = action.fail?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status {
        StatusCode::TOO_MANY_REQUESTS => "Too many requests, please slow down".to_owned(),
        s if s.is_server_error() => {
            "An error occurred while processing this request (injected by the sandbox)".to_owned()
        }
        s => format!("Request failed with {s} (injected by the sandbox)"),
    };
    Some(
        Failure {
            status,
            message,
            retry_after,
        }
        .into_response(),
    )
}

// --------------------------------------------------------------------------------- initiate

async fn initiate(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let request = parse_initiate(&body)?;
    let base = base_url(&state, &headers);
    let now = state.now();
    let session_id = uuid::Uuid::new_v4().simple().to_string();
    let mono_url = join(&base, &["widget", &session_id]);
    let mut world = state.world();
    let (session, data) = match request {
        InitiateRequest::Auth(auth) => {
            let customer =
                state
                    .customer_for(&mut world, &auth.customer)
                    .map_err(|m| match auth.customer {
                        InitiateCustomer::Existing { .. } => Failure::not_found(m),
                        InitiateCustomer::New { .. } => Failure::bad_request(m),
                    })?;
            if let Some(inst) = &auth.institution {
                if super::data::find_bank(&inst.id, None).is_none() {
                    return Err(Failure::bad_request(format!(
                        "Institution {} was not found",
                        inst.id
                    )));
                }
            }
            let session = Session {
                id: session_id,
                customer,
                scope: Scope::Auth,
                account: None,
                redirect_url: Some(auth.redirect_url.clone()),
                reference: auth.meta.reference.clone(),
                institution: auth.institution.as_ref().map(|i| i.id.clone()),
                used: false,
                created_at: now,
            };
            let data = InitiateData {
                mono_url,
                customer: Some(world.customers[customer].profile.id.clone()),
                meta: auth.meta,
                scope: Scope::Auth,
                redirect_url: Some(auth.redirect_url.to_string()),
                created_at: Some(now),
                account: None,
                institution: None,
                auth_method: None,
            };
            (session, data)
        }
        InitiateRequest::Reauth(reauth) => {
            let account = world
                .linked_account(&reauth.account)
                .ok_or_else(|| Failure::account_not_found(&reauth.account))?;
            let redirect_url = reauth
                .redirect_url
                .clone()
                .or_else(|| account.redirect_url.clone());
            let data = InitiateData {
                mono_url,
                customer: Some(world.customers[account.customer].profile.id.clone()),
                meta: reauth.meta.clone(),
                scope: Scope::Reauth,
                redirect_url: redirect_url.as_ref().map(Url::to_string),
                created_at: Some(now),
                account: Some(account.id.clone()),
                institution: Some(serde_json::json!({
                    "id": account.spec.bank.institution_id(),
                    "name": account.spec.bank.name,
                    "type": institution_type(account.spec.business),
                })),
                auth_method: Some(account.spec.auth_method.to_owned()),
            };
            let session = Session {
                id: session_id,
                customer: account.customer,
                scope: Scope::Reauth,
                account: Some(account.id.clone()),
                redirect_url,
                reference: reauth.meta.reference,
                institution: None,
                used: false,
                created_at: now,
            };
            (session, data)
        }
    };
    world.sessions.insert(session.id.clone(), session);
    Ok(ok("Request was successfully completed", data))
}

/// The initiate body, typed by its `scope` by hand: serde's internally tagged enums buffer
/// their content and lose the path of a bad field, which a caller needs to see.
fn parse_initiate(body: &[u8]) -> Result<InitiateRequest, Failure> {
    let value: serde_json::Value = parse_json(body)?;
    match value.get("scope").and_then(serde_json::Value::as_str) {
        Some("auth") => parse_value(value).map(InitiateRequest::Auth),
        Some("reauth") => parse_value(value).map(InitiateRequest::Reauth),
        _ => Err(Failure::bad_request("Invalid `scope`: it must be auth or reauth")),
    }
}

// --------------------------------------------------------------------------------- widget

/// `GET /widget/{session}`: the stand-in for Mono's hosted widget. It links at once and
/// redirects to `redirect_url?code=…&ref=…` (or shows the code when there is no redirect).
/// Query `account=<account number>` or `institution=<id or bank code>` choose what to link.
async fn widget(
    State(state): State<SandboxState>,
    Path(session_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = apply_faults(&state, "widget", None).await {
        return response;
    }
    let (account_id, code, session) = {
        let mut world = state.world();
        let Some(session) = world.sessions.get(&session_id).cloned() else {
            return page(
                StatusCode::NOT_FOUND,
                "Link not found",
                "<p>This Mono link is not valid.</p>",
            );
        };
        if session.used {
            return page(
                StatusCode::GONE,
                "Link already used",
                "<p>This Mono link has already been used. Start again from the app.</p>",
            );
        }
        let linked = match session.scope {
            Scope::Auth => {
                let bank = query
                    .get("institution")
                    .map(String::as_str)
                    .or(session.institution.as_deref());
                state.link_for_widget(
                    &mut world,
                    &session,
                    query.get("account").map(String::as_str),
                    bank,
                )
            }
            Scope::Reauth => reauthorise(&mut world, &session),
        };
        let account_id = match linked {
            Ok(id) => id,
            Err(message) => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "Could not link",
                    &format!("<p>{}</p>", escape_html(&message)),
                )
            }
        };
        if let Some(s) = world.sessions.get_mut(&session_id) {
            s.used = true;
        }
        let (code, _) = state.issue_code(&mut world, &account_id);
        (account_id, code, session)
    };
    match session.scope {
        Scope::Auth => state.after_link(&account_id),
        Scope::Reauth => {
            state.emit(
                events::ACCOUNT_REAUTHORIZED,
                Some(&account_id),
                &AccountReauthorized {
                    account: AccountIdRef {
                        id: account_id.clone(),
                    },
                },
            );
            state.emit_updated(&account_id);
        }
    }
    match session.redirect_url {
        Some(mut target) => {
            {
                let mut pairs = target.query_pairs_mut();
                pairs.append_pair("code", &code);
                if let Some(reference) = &session.reference {
                    pairs.append_pair("ref", reference);
                }
            }
            let location = target.to_string();
            let mut response = page(
                StatusCode::FOUND,
                "Account linked",
                &format!(
                    "<p>Account linked. <a href=\"{0}\">Continue to the app</a>.</p>",
                    escape_html(&location)
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
        None => page(
            StatusCode::OK,
            "Account linked",
            &format!(
                "<p>Account linked. Your code is <code id=\"code\">{}</code>.</p>",
                escape_html(&code)
            ),
        ),
    }
}

fn reauthorise(world: &mut World, session: &Session) -> Result<String, String> {
    let id = session.account.clone().unwrap_or_default();
    let account = world
        .linked_account_mut(&id)
        .ok_or_else(|| format!("Account {id} is no longer linked"))?;
    account.sync_status = super::state::SYNC_STATUS_OK.into();
    account.has_new_data = true;
    Ok(id)
}

// --------------------------------------------------------------------------------- auth

async fn exchange(State(state): State<SandboxState>, body: Bytes) -> Result<Response, Failure> {
    let request: ExchangeRequest = parse_json(&body)?;
    let now = state.now();
    let mut world = state.world();
    let entry = world
        .codes
        .get_mut(&request.code)
        .ok_or_else(|| Failure::bad_request("Invalid code: it was not issued or is malformed"))?;
    if entry.used {
        return Err(Failure::bad_request("This code has already been used"));
    }
    if now >= entry.expires_at {
        let ttl = state.config().code_ttl.as_secs() / 60;
        return Err(Failure::bad_request(format!(
            "This code has expired; codes are valid for {ttl} minutes"
        )));
    }
    entry.used = true;
    let id = entry.account_id.clone();
    if world.linked_account(&id).is_none() {
        return Err(Failure::bad_request(
            "The account for this code has been unlinked",
        ));
    }
    Ok(ok("Request was successfully completed", ExchangeData { id }))
}

// --------------------------------------------------------------------------------- accounts

fn positive(query: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, Failure> {
    match query.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Failure::bad_request(format!("`{name}` must be a positive integer"))),
    }
}

fn institution(account: &AccountRecord) -> Institution {
    Institution {
        name: account.spec.bank.name.to_owned(),
        bank_code: Some(account.spec.bank.code.to_owned()),
        kind: Some(institution_type(account.spec.business).to_owned()),
    }
}

fn summary(world: &World, account: &AccountRecord) -> AccountSummary {
    AccountSummary {
        id: account.id.clone(),
        name: account.spec.name.clone(),
        currency: account.spec.currency.clone(),
        account_type: Some(account.spec.account_type.to_owned()),
        account_number: account.spec.account_number.clone(),
        balance: Some(account.balance),
        bvn: Some(world.customers[account.customer].profile.bvn.clone()),
        institution: institution(account),
        customer: Some(CustomerRef {
            id: world.customers[account.customer].profile.id.clone(),
        }),
    }
}

async fn list_accounts(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let page = positive(&query, "page", 1)?;
    let limit = positive(&query, "limit", ACCOUNTS_PAGE_SIZE)?.min(100);
    let world = state.world();
    let linked: Vec<&AccountRecord> = world
        .order
        .iter()
        .filter_map(|id| world.linked_account(id))
        .collect();
    let total = linked.len();
    let pages = total.div_ceil(limit);
    let data: Vec<AccountSummary> = linked
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(|a| summary(&world, a))
        .collect();
    let base = join(&base_url(&state, &headers), &["v2", "accounts"]);
    let link = |p: usize| {
        let mut url = base.clone();
        url.query_pairs_mut().append_pair("page", &p.to_string());
        url.to_string()
    };
    let meta = Paging {
        total: total as u64,
        page: None,
        pages: Some(pages as u64),
        previous: (page > 1 && pages > 0).then(|| link((page - 1).min(pages))),
        next: (page < pages).then(|| link(page + 1)),
    };
    Ok(ok_paged("Request was successfully completed", data, meta))
}

async fn details(State(state): State<SandboxState>, Path(id): Path<String>) -> Result<Response, Failure> {
    let world = state.world();
    let account = world
        .linked_account(&id)
        .ok_or_else(|| Failure::account_not_found(&id))?;
    let profile = &world.customers[account.customer].profile;
    let key = hash_str(&account.id);
    let data = AccountDetails {
        account: AccountInfo {
            id: account.id.clone(),
            name: account.spec.name.clone(),
            currency: account.spec.currency.clone(),
            account_type: Some(account.spec.account_type.to_owned()),
            account_number: account.spec.account_number.clone(),
            balance: account.balance,
            bvn: Some(profile.bvn.clone()),
            institution: institution(account),
        },
        customer: Some(CustomerRef {
            id: profile.id.clone(),
        }),
        meta: AccountMeta {
            data_status: account.data_status,
            auth_method: Some(account.spec.auth_method.to_owned()),
            data_request_id: Some(hex_id(key, 1)),
            session_id: Some(hex_id(key, 2)),
            retrieved_data: account.retrieved_data.clone(),
            sync_status: Some(account.sync_status.clone()),
        },
    };
    Ok(ok("Request was successfully completed", data))
}

async fn identity(State(state): State<SandboxState>, Path(id): Path<String>) -> Result<Response, Failure> {
    let world = state.world();
    let account = world
        .linked_account(&id)
        .ok_or_else(|| Failure::account_not_found(&id))?;
    let p = &world.customers[account.customer].profile;
    let data = Identity {
        full_name: p.name.to_ascii_uppercase(),
        email: Some(p.email.clone()),
        phone: Some(p.phone.clone()),
        gender: (!p.business).then(|| p.gender.to_owned()),
        dob: (!p.business).then(|| p.dob.clone()),
        bvn: Some(p.bvn.clone()),
        marital_status: None,
        address_line1: Some(p.address.clone()),
        address_line2: Some("Nigeria".into()),
    };
    Ok(ok("Request was successfully completed", data))
}

async fn balance(State(state): State<SandboxState>, Path(id): Path<String>) -> Result<Response, Failure> {
    let world = state.world();
    let account = world
        .linked_account(&id)
        .ok_or_else(|| Failure::account_not_found(&id))?;
    let data = Balance {
        id: account.id.clone(),
        name: account.spec.name.clone(),
        account_number: account.spec.account_number.clone(),
        balance: account.balance,
        currency: account.spec.currency.clone(),
    };
    Ok(ok("Request was successfully completed", data))
}

async fn unlink(State(state): State<SandboxState>, Path(id): Path<String>) -> Result<Response, Failure> {
    {
        let now = state.now();
        let mut world = state.world();
        let account = world
            .linked_account_mut(&id)
            .ok_or_else(|| Failure::account_not_found(&id))?;
        account.unlinked_at = Some(now);
        let (c, j) = (account.customer, account.bank_account);
        // The bank account can be linked again (under a new id).
        if let Some(slot) = world.customers.get_mut(c).and_then(|e| e.linked.get_mut(j)) {
            *slot = None;
        }
    }
    state.emit(
        events::ACCOUNT_UNLINKED,
        Some(&id),
        &AccountUnlinked {
            account: AccountIdRef { id: id.clone() },
        },
    );
    Ok(ok("Account unlinked successfully", serde_json::Value::Null))
}

// --------------------------------------------------------------------------------- transactions

/// Filters of one transactions request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub kind: Option<TransactionType>,
    /// Lower-cased substring of the narration.
    pub narration: Option<String>,
}

impl TransactionFilter {
    fn is_date_only(&self) -> bool {
        self.kind.is_none() && self.narration.is_none()
    }

    fn accepts(&self, tx: &MonoTransaction) -> bool {
        self.from.is_none_or(|f| tx.date >= f)
            && self.until.is_none_or(|u| tx.date < u)
            && self.kind.is_none_or(|k| tx.kind == k)
            && self
                .narration
                .as_ref()
                .is_none_or(|n| tx.narration.to_lowercase().contains(n))
    }
}

fn query_date(query: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, Failure> {
    query
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|raw| {
            NaiveDate::parse_from_str(raw.trim(), QUERY_DATE_FORMAT)
                .map_err(|_| Failure::bad_request(format!("`{name}` must be a date as DD-MM-YYYY")))
        })
        .transpose()
}

fn start_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Newest-first page `page` (1-based) of `limit` over an account's history, and the total.
pub fn transaction_page(
    ledger: &History,
    extras: &[MonoTransaction],
    filter: &TransactionFilter,
    page: usize,
    limit: usize,
) -> (Vec<MonoTransaction>, usize) {
    let offset = (page.max(1) - 1).saturating_mul(limit);
    // Extras are all newer than the ledger, so they come first, newest first.
    let newer: Vec<&MonoTransaction> = extras.iter().rev().filter(|t| filter.accepts(t)).collect();
    let range = ledger.index_range(filter.from, filter.until);
    if filter.is_date_only() {
        let total = newer.len() + range.len();
        let end = offset.saturating_add(limit).min(total);
        let mut out: Vec<MonoTransaction> = Vec::with_capacity(end.saturating_sub(offset));
        out.extend(
            newer
                .iter()
                .skip(offset)
                .take(end.saturating_sub(offset))
                .map(|t| (*t).clone()),
        );
        // Positions past the extras map onto generated indices, newest first.
        let gen_from = offset.max(newer.len()) - newer.len();
        let gen_to = end.saturating_sub(newer.len());
        if gen_to > gen_from {
            let hi = range.end - gen_from;
            let lo = range.end - gen_to;
            let mut generated = ledger.transactions(lo..hi);
            generated.reverse();
            out.extend(generated);
        }
        return (out, total);
    }
    // Other filters need a scan: count everything, build only the page.
    let mut total = 0usize;
    let mut out = Vec::with_capacity(limit.min(1_024));
    let mut take = |total: &mut usize, make: &mut dyn FnMut() -> MonoTransaction| {
        if *total >= offset && out.len() < limit {
            out.push(make());
        }
        *total += 1;
    };
    for tx in &newer {
        take(&mut total, &mut || (*tx).clone());
    }
    for i in range.rev() {
        if filter.kind.is_some_and(|k| ledger.kind(i) != k) {
            continue;
        }
        if let Some(n) = &filter.narration {
            if !ledger.narration(i).to_lowercase().contains(n) {
                continue;
            }
        }
        take(&mut total, &mut || ledger.transaction(i));
    }
    (out, total)
}

async fn transactions(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let start = query_date(&query, "start")?;
    let end = query_date(&query, "end")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(Failure::bad_request("`start` must not be after `end`"));
        }
    }
    let kind = match query.get("type").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        None => None,
        Some(raw) => Some(
            raw.parse::<TransactionType>()
                .map_err(|_| Failure::bad_request("`type` must be credit or debit"))?,
        ),
    };
    let paginate = match query.get("paginate").map(|p| p.trim().to_ascii_lowercase()) {
        None => true,
        Some(p) if p == "true" => true,
        Some(p) if p == "false" => false,
        Some(_) => return Err(Failure::bad_request("`paginate` must be true or false")),
    };
    let mut page = positive(&query, "page", 1)?;
    let mut limit = positive(&query, "limit", DEFAULT_TRANSACTION_LIMIT)?.min(MAX_TRANSACTION_LIMIT);
    if !paginate {
        page = 1;
        limit = UNPAGINATED_CAP;
    }
    let filter = TransactionFilter {
        from: start.map(start_of),
        until: end.and_then(|e| e.succ_opt()).map(start_of),
        kind,
        narration: query
            .get("narration")
            .map(|n| n.trim().to_lowercase())
            .filter(|n| !n.is_empty()),
    };
    let (ledger, extras, ready) = {
        let world = state.world();
        let account = world
            .linked_account(&id)
            .ok_or_else(|| Failure::account_not_found(&id))?;
        (
            account.ledger.clone(),
            account.extras.clone(),
            transactions_ready(account.data_status, &account.retrieved_data),
        )
    };
    // Until the data is retrieved Mono lists nothing.
    let (data, total) = if ready {
        transaction_page(&ledger, &extras, &filter, page, limit)
    } else {
        (Vec::new(), 0)
    };
    let base = join(
        &base_url(&state, &headers),
        &["v2", "accounts", &id, "transactions"],
    );
    let link = |p: usize| {
        let mut url = base.clone();
        {
            let mut pairs = url.query_pairs_mut();
            let mut keys: Vec<&String> = query.keys().filter(|k| k.as_str() != "page").collect();
            keys.sort();
            for k in keys {
                pairs.append_pair(k, &query[k]);
            }
            pairs.append_pair("page", &p.to_string());
        }
        url.to_string()
    };
    let pages = total.div_ceil(limit);
    let meta = Paging {
        total: total as u64,
        page: Some(page as u64),
        pages: None,
        previous: (page > 1 && pages > 0).then(|| link((page - 1).min(pages))),
        next: (page < pages).then(|| link(page + 1)),
    };
    Ok(ok_paged("Request was successfully completed", data, meta))
}
