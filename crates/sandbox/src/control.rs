//! The sandbox's control endpoints under `/_sandbox/`: create accounts (of any size), add
//! transactions, change an account's status, emit webhooks, inject faults, move the clock,
//! read or redirect webhook deliveries, and set a rate limit and latency for every `/v2`
//! call. They need no `mono-sec-key`: the sandbox is a test double bound to loopback, and
//! tests and benchmarks drive it directly. Answers use Mono's envelope; failures Mono's
//! failure envelope naming the bad field.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::data::{hash_str, hex_id, is_known_currency, signed};
use super::faults::{FaultRule, FaultSpec};
use super::limits::{LimitsSpec, LimitsView};
use super::reply::{created, ok, parse_json, Failure};
use super::state::{AccountRecord, NewAccount, SandboxState, World};
use super::webhooks::{DeliveryRecord, WebhookTarget};
use mono::types::*;

/// Most transactions one control call may create (an account or an addition).
pub const MAX_CREATED_TRANSACTIONS: usize = 5_000_000;
pub const MAX_ADDED_TRANSACTIONS: usize = 100_000;
/// Largest amount one added transaction may carry (10 trillion in major units).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/_sandbox/customers", get(customers))
        .route("/_sandbox/accounts", post(create_account))
        .route("/_sandbox/accounts/{id}", get(account_state))
        .route("/_sandbox/accounts/{id}/transactions", post(add_transactions))
        .route("/_sandbox/accounts/{id}/status", post(set_status))
        .route("/_sandbox/accounts/{id}/events", post(emit_event))
        .route(
            "/_sandbox/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_sandbox/faults/{id}", delete(remove_fault))
        .route("/_sandbox/clock", get(clock).post(advance_clock))
        .route("/_sandbox/webhooks", get(deliveries).delete(clear_deliveries))
        .route("/_sandbox/webhook", put(set_webhook_target).get(webhook_target))
        .route("/_sandbox/limits", get(limits).put(set_limits))
}

// ------------------------------------------------------------------------------ customers

/// `GET /_sandbox/customers`: who exists, with each bank account and the Mono account
/// currently linked over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub business: bool,
    pub bank_accounts: Vec<BankAccountView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankAccountView {
    pub account_number: String,
    pub bank: String,
    pub bank_code: String,
    pub currency: String,
    pub linked_account_id: Option<String>,
}

async fn customers(State(state): State<SandboxState>) -> Response {
    let world = state.world();
    let data: Vec<CustomerView> = world
        .customers
        .iter()
        .map(|c| CustomerView {
            id: c.profile.id.clone(),
            name: c.profile.name.clone(),
            email: c.profile.email.clone(),
            business: c.profile.business,
            bank_accounts: c
                .bank_accounts
                .iter()
                .zip(&c.linked)
                .map(|(s, l)| BankAccountView {
                    account_number: s.account_number.clone(),
                    bank: s.bank.name.to_owned(),
                    bank_code: s.bank.code.to_owned(),
                    currency: s.currency.clone(),
                    linked_account_id: l.clone(),
                })
                .collect(),
        })
        .collect();
    ok("Customers", data)
}

// ------------------------------------------------------------------------------ accounts

/// `POST /_sandbox/accounts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// An existing customer; a new one is made when absent.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// NGN (default), GHS, KES, ZAR or USD.
    #[serde(default)]
    pub currency: Option<String>,
    /// Bank code, institution id or bank name.
    #[serde(default)]
    pub bank: Option<String>,
    /// How many transactions the history holds; the sandbox default when absent.
    #[serde(default)]
    pub transactions: Option<usize>,
    /// Seed of the history (same seed, same transactions); derived from the id when absent.
    #[serde(default)]
    pub seed: Option<u64>,
    /// AVAILABLE when absent.
    #[serde(default)]
    pub data_status: Option<DataStatus>,
    #[serde(default)]
    pub retrieved_data: Option<Vec<String>>,
    /// `meta.ref` carried by its webhooks.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    /// Send `account_connected` and `account_updated` as after a widget link.
    #[serde(default)]
    pub emit_webhooks: bool,
}

/// The account made, with a code the service can exchange to link it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedAccount {
    pub id: String,
    pub customer_id: String,
    pub account_number: String,
    pub currency: String,
    pub bank_code: String,
    pub data_status: DataStatus,
    pub transactions: usize,
    pub code: String,
    pub code_expires_at: DateTime<Utc>,
}

async fn create_account(State(state): State<SandboxState>, body: Bytes) -> Result<Response, Failure> {
    let request: CreateAccountRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateAccountRequest::default()
    } else {
        parse_json(&body)?
    };
    let transactions = request
        .transactions
        .unwrap_or(state.config().transactions_per_account);
    if transactions > MAX_CREATED_TRANSACTIONS {
        return Err(Failure::bad_request(format!(
            "`transactions` must be at most {MAX_CREATED_TRANSACTIONS}"
        )));
    }
    let currency = request.currency.as_deref().map(str::to_ascii_uppercase);
    if let Some(c) = &currency {
        if !is_known_currency(c) {
            return Err(Failure::bad_request(
                "`currency` must be one of NGN, GHS, KES, ZAR, USD",
            ));
        }
    }
    let customer = match &request.customer_id {
        None => None,
        Some(id) => Some(
            state
                .world()
                .customer_by_id
                .get(id)
                .copied()
                .ok_or_else(|| Failure::not_found(format!("Customer {id} was not found")))?,
        ),
    };
    let data_status = request.data_status.unwrap_or(DataStatus::Available);
    let (id, code, expires) = state
        .create_account(NewAccount {
            customer,
            currency,
            bank: request.bank,
            transactions,
            seed: request.seed,
            data_status,
            retrieved_data: request.retrieved_data.unwrap_or_default(),
            reference: request.reference,
        })
        .map_err(Failure::bad_request)?;
    if request.emit_webhooks {
        let connected = {
            let world = state.world();
            world
                .accounts
                .get(&id)
                .map(|a| state.connected_payload(&world, a))
        };
        if let Some(payload) = connected {
            state.emit(events::ACCOUNT_CONNECTED, Some(&id), &payload);
        }
        state.emit_updated(&id);
    }
    let world = state.world();
    let account = world
        .accounts
        .get(&id)
        .ok_or_else(|| Failure::account_not_found(&id))?;
    let data = CreatedAccount {
        id: id.clone(),
        customer_id: world.customers[account.customer].profile.id.clone(),
        account_number: account.spec.account_number.clone(),
        currency: account.spec.currency.clone(),
        bank_code: account.spec.bank.code.to_owned(),
        data_status: account.data_status,
        transactions: account.transaction_count(),
        code,
        code_expires_at: expires,
    };
    Ok(created("Account created", data))
}

/// `GET /_sandbox/accounts/{id}` and the answer of status changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountStateView {
    pub id: String,
    pub linked: bool,
    pub data_status: DataStatus,
    pub sync_status: String,
    pub retrieved_data: Vec<String>,
    pub has_new_data: bool,
    pub transactions: usize,
    pub balance: i64,
    pub currency: String,
}

fn view(account: &AccountRecord) -> AccountStateView {
    AccountStateView {
        id: account.id.clone(),
        linked: account.is_linked(),
        data_status: account.data_status,
        sync_status: account.sync_status.clone(),
        retrieved_data: account.retrieved_data.clone(),
        has_new_data: account.has_new_data,
        transactions: account.transaction_count(),
        balance: account.balance,
        currency: account.spec.currency.clone(),
    }
}

async fn account_state(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let world = state.world();
    let account = world
        .accounts
        .get(&id)
        .ok_or_else(|| Failure::account_not_found(&id))?;
    Ok(ok("Account", view(account)))
}

// ------------------------------------------------------------------------------ transactions

/// One transaction to add; `date` defaults to the sandbox's now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTransaction {
    pub amount: i64,
    #[serde(rename = "type")]
    pub kind: TransactionType,
    pub narration: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub counterparty: Option<Counterparty>,
    #[serde(default, with = "mono_date::option")]
    pub date: Option<DateTime<Utc>>,
}

/// `POST /_sandbox/accounts/{id}/transactions`: listed ones, and/or `count` generated ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddTransactionsRequest {
    #[serde(default)]
    pub transactions: Vec<NewTransaction>,
    #[serde(default)]
    pub count: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedTransactions {
    pub added: Vec<MonoTransaction>,
    pub total: usize,
    pub balance: i64,
}

async fn add_transactions(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let request: AddTransactionsRequest = parse_json(&body)?;
    let count = request.count.unwrap_or(0);
    if count + request.transactions.len() > MAX_ADDED_TRANSACTIONS {
        return Err(Failure::bad_request(format!(
            "`count` plus `transactions` must be at most {MAX_ADDED_TRANSACTIONS}"
        )));
    }
    if count == 0 && request.transactions.is_empty() {
        return Err(Failure::bad_request("Give `transactions` or a positive `count`"));
    }
    for (i, t) in request.transactions.iter().enumerate() {
        if t.amount <= 0 || t.amount > MAX_AMOUNT {
            return Err(Failure::bad_request(format!(
                "`transactions[{i}].amount` must be a positive integer in minor units, at most {MAX_AMOUNT}"
            )));
        }
    }
    let now = state.now();
    let mut world = state.world();
    let account = world
        .linked_account_mut(&id)
        .ok_or_else(|| Failure::account_not_found(&id))?;
    let floor = account
        .extras
        .last()
        .map(|t| t.date)
        .or(account.ledger.newest_date());
    for (i, t) in request.transactions.iter().enumerate() {
        if let (Some(date), Some(floor)) = (t.date, floor) {
            if date < floor {
                return Err(Failure::bad_request(format!(
                    "`transactions[{i}].date` must not be before the newest transaction ({})",
                    mono_timestamp(floor)
                )));
            }
        }
    }
    // New transactions are the newest: dated now, or later than the newest by a millisecond.
    let next_date = |given: Option<DateTime<Utc>>, last: Option<DateTime<Utc>>| {
        let at = given.unwrap_or(now);
        match last {
            Some(l) if at <= l && given.is_none() => l + chrono::Duration::milliseconds(1),
            _ => at,
        }
    };
    let key = hash_str(&account.id) ^ 0xe7;
    let currency = account.spec.currency.clone();
    let mut added = Vec::with_capacity(count + request.transactions.len());
    let mut extras = (*account.extras).clone();
    let mut last = floor;
    for t in request.transactions {
        account.extra_seq += 1;
        let date = next_date(t.date, last);
        last = Some(last.map_or(date, |l| l.max(date)));
        let mut tx = MonoTransaction {
            id: hex_id(key, account.extra_seq),
            narration: t.narration,
            amount: t.amount,
            kind: t.kind,
            balance: None,
            date,
            category: t.category.or(Some("transfer".into())),
            currency: Some(t.currency.unwrap_or_else(|| currency.clone())),
            reference: t.reference,
            description: t.description,
            counterparty: t.counterparty,
        };
        account.balance = account.balance.saturating_add(signed(&tx));
        tx.balance = Some(account.balance);
        added.push(tx);
    }
    for _ in 0..count {
        account.extra_seq += 1;
        let date = next_date(None, last);
        last = Some(date);
        let (kind, amount, narration, category) = account.ledger.fresh(account.extra_seq, date);
        let mut tx = MonoTransaction {
            id: hex_id(key, account.extra_seq),
            narration,
            amount,
            kind,
            balance: None,
            date,
            category: Some(category),
            currency: Some(currency.clone()),
            reference: None,
            description: None,
            counterparty: None,
        };
        account.balance = account.balance.saturating_add(signed(&tx));
        tx.balance = Some(account.balance);
        added.push(tx);
    }
    extras.extend(added.iter().cloned());
    // Sorted by date (stable), so a listed date later than a generated one still orders.
    extras.sort_by_key(|t| t.date);
    account.extras = std::sync::Arc::new(extras);
    account.has_new_data = true;
    let data = AddedTransactions {
        total: account.transaction_count(),
        balance: account.balance,
        added,
    };
    Ok(created("Transactions added", data))
}

// ------------------------------------------------------------------------------ status

/// `POST /_sandbox/accounts/{id}/status`: emits `account_updated` unless `emit` is false.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[serde(default)]
    pub data_status: Option<DataStatus>,
    /// e.g. `REAUTHORISATION_REQUIRED`, `SUCCESSFUL`.
    #[serde(default)]
    pub sync_status: Option<String>,
    #[serde(default)]
    pub retrieved_data: Option<Vec<String>>,
    #[serde(default)]
    pub has_new_data: Option<bool>,
    #[serde(default)]
    pub emit: Option<bool>,
}

async fn set_status(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let request: StatusRequest = parse_json(&body)?;
    if let Some(s) = &request.sync_status {
        if s.trim().is_empty() {
            return Err(Failure::bad_request("`sync_status` must not be empty"));
        }
    }
    let data = {
        let mut world = state.world();
        let account = world
            .linked_account_mut(&id)
            .ok_or_else(|| Failure::account_not_found(&id))?;
        if let Some(s) = request.data_status {
            account.data_status = s;
        }
        if let Some(s) = request.sync_status {
            account.sync_status = s.trim().to_ascii_uppercase();
        }
        if let Some(r) = request.retrieved_data {
            account.retrieved_data = r;
        }
        if let Some(h) = request.has_new_data {
            account.has_new_data = h;
        }
        view(account)
    };
    if request.emit.unwrap_or(true) {
        state.emit_updated(&id);
    }
    Ok(ok("Account updated", data))
}

// ------------------------------------------------------------------------------ events

/// `POST /_sandbox/accounts/{id}/events`: sends one webhook about the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// Any event of MONO.md, e.g. `transaction.settled`.
    pub event: String,
    /// Required for `transaction.updated` and `transaction.settled`.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// For `mono.accounts.jobs.update`; `finished` when absent.
    #[serde(default)]
    pub job_status: Option<JobStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmittedEvent {
    pub event: String,
    pub event_id: String,
}

async fn emit_event(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let request: EventRequest = parse_json(&body)?;
    let payload = {
        let world = state.world();
        event_payload(&state, &world, &id, &request)?
    };
    let event_id = state.emit(&request.event, Some(&id), &payload);
    Ok(created(
        "Event queued",
        EmittedEvent {
            event: request.event,
            event_id,
        },
    ))
}

/// The `data` of a `request.event` webhook about account `id`, as the sandbox sends it
/// (also what `taxpoynt-mono webhook send` posts).
pub fn event_payload(
    state: &SandboxState,
    world: &World,
    id: &str,
    request: &EventRequest,
) -> Result<serde_json::Value, Failure> {
    let event = request.event.as_str();
    let account = world
        .accounts
        .get(id)
        .ok_or_else(|| Failure::account_not_found(id))?;
    let id = id.to_owned();
    let value = match event {
        events::TRANSACTION_UPDATED | events::TRANSACTION_SETTLED => {
            let tx_id = request
                .transaction_id
                .as_deref()
                .ok_or_else(|| Failure::bad_request(format!("`transaction_id` is required for {event}")))?;
            let transaction = account
                .extras
                .iter()
                .find(|t| t.id == tx_id)
                .cloned()
                .or_else(|| account.ledger.find(tx_id).map(|i| account.ledger.transaction(i)))
                .ok_or_else(|| Failure::not_found(format!("Transaction {tx_id} was not found")))?;
            serde_json::to_value(TransactionEvent {
                account: id,
                transaction,
            })
        }
        events::ACCOUNT_CONNECTED => serde_json::to_value(state.connected_payload(world, account)),
        events::ACCOUNT_UPDATED => serde_json::to_value(state.updated_payload(world, account)),
        events::ACCOUNT_REAUTHORIZED => serde_json::to_value(AccountReauthorized {
            account: AccountIdRef { id },
        }),
        events::ACCOUNT_UNLINKED => serde_json::to_value(AccountUnlinked {
            account: AccountIdRef { id },
        }),
        events::ACCOUNT_INCOME => {
            let credits = account
                .extras
                .iter()
                .filter(|t| t.kind == TransactionType::Credit)
                .fold(0i64, |sum, t| sum.saturating_add(t.amount));
            let income = account.balance.max(0).saturating_add(credits);
            serde_json::to_value(AccountIncome {
                account: id,
                income_summary: serde_json::json!({
                    "currency": account.spec.currency,
                    "total_income": income,
                    "monthly_average": income / 12,
                    "employer": null,
                }),
                income_streams: Vec::new(),
            })
        }
        events::JOBS_UPDATE => serde_json::to_value(JobsUpdate {
            id: hex_id(hash_str(&id), 0x10b),
            account: id,
            name: "data_sync".into(),
            status: request.job_status.unwrap_or(JobStatus::Finished),
        }),
        other => {
            return Err(Failure::bad_request(format!(
                "`event` {other} is not one the sandbox sends"
            )))
        }
    };
    value.map_err(|e| Failure::bad_request(format!("could not build the event: {e}")))
}

// ------------------------------------------------------------------------------ faults

async fn add_fault(State(state): State<SandboxState>, body: Bytes) -> Result<Response, Failure> {
    let spec: FaultSpec = parse_json(&body)?;
    spec.validate().map_err(Failure::bad_request)?;
    let rule: FaultRule = state.faults().add(spec);
    Ok(created("Fault installed", rule))
}

async fn list_faults(State(state): State<SandboxState>) -> Response {
    ok("Faults", state.faults().list())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cleared {
    pub cleared: usize,
}

async fn clear_faults(State(state): State<SandboxState>) -> Response {
    let cleared = state.faults().clear();
    ok("Faults cleared", Cleared { cleared })
}

async fn remove_fault(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id: u64 = id
        .parse()
        .map_err(|_| Failure::bad_request("The fault id must be a number"))?;
    if state.faults().remove(id) {
        Ok(ok("Fault removed", Cleared { cleared: 1 }))
    } else {
        Err(Failure::not_found(format!("Fault {id} was not found")))
    }
}

// ------------------------------------------------------------------------------ clock

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockRequest {
    pub advance_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockView {
    #[serde(with = "mono_date")]
    pub now: DateTime<Utc>,
    pub offset_secs: i64,
}

fn clock_view(state: &SandboxState) -> ClockView {
    ClockView {
        now: state.now(),
        offset_secs: state.clock_offset_ms() / 1_000,
    }
}

async fn clock(State(state): State<SandboxState>) -> Response {
    ok("Clock", clock_view(&state))
}

async fn advance_clock(State(state): State<SandboxState>, body: Bytes) -> Result<Response, Failure> {
    let request: ClockRequest = parse_json(&body)?;
    if request.advance_secs > 10 * 365 * 86_400 {
        return Err(Failure::bad_request("`advance_secs` must be at most ten years"));
    }
    state.advance_clock(Duration::from_secs(request.advance_secs));
    Ok(ok("Clock advanced", clock_view(&state)))
}

// ------------------------------------------------------------------------------ webhooks

async fn deliveries(State(state): State<SandboxState>) -> Response {
    let data: Vec<DeliveryRecord> = state.webhooks().deliveries();
    ok("Webhook deliveries", data)
}

async fn clear_deliveries(State(state): State<SandboxState>) -> Response {
    let cleared = state.webhooks().clear();
    ok("Webhook deliveries cleared", Cleared { cleared })
}

/// `PUT /_sandbox/webhook`: where webhooks go from now on (`url: null` stops them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTargetRequest {
    pub url: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTargetView {
    pub url: Option<String>,
    pub signed: bool,
}

fn target_view(target: &WebhookTarget) -> WebhookTargetView {
    WebhookTargetView {
        url: target.url.as_ref().map(Url::to_string),
        signed: target.secret.is_some(),
    }
}

async fn set_webhook_target(State(state): State<SandboxState>, body: Bytes) -> Result<Response, Failure> {
    let request: WebhookTargetRequest = parse_json(&body)?;
    let url = match request.url {
        None => None,
        Some(raw) => {
            let url = Url::parse(&raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| Failure::bad_request("`url` must be an absolute http(s) URL"))?;
            Some(url)
        }
    };
    let target = WebhookTarget {
        url,
        secret: request.secret.filter(|s| !s.is_empty()),
    };
    state.webhooks().set_target(target.clone());
    Ok(ok("Webhook target set", target_view(&target)))
}

async fn webhook_target(State(state): State<SandboxState>) -> Response {
    ok("Webhook target", target_view(&state.webhooks().target()))
}

// ------------------------------------------------------------------------------ limits

/// `GET /_sandbox/limits`: the rate limit and latency in force, and the calls counted.
async fn limits(State(state): State<SandboxState>) -> Response {
    let view: LimitsView = state.limits().view();
    ok("Limits", view)
}

/// `PUT /_sandbox/limits`: `{latency_ms, max_rps}` for every `/v2` call from now on (an absent
/// field: no latency, no limit); the counts go on.
async fn set_limits(State(state): State<SandboxState>, body: Bytes) -> Result<Response, Failure> {
    let spec: LimitsSpec = parse_json(&body)?;
    spec.validate().map_err(Failure::bad_request)?;
    let mut limits = state.limits();
    limits.set(spec);
    Ok(ok("Limits set", limits.view()))
}
