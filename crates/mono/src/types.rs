//! Mono Connect v2 wire types: request bodies, answers, envelopes and webhook payloads.
//!
//! One set of types serves both sides: the client deserializes them (leniently, where Mono is
//! known to vary: `_id` or `id`, `meta` or `paging`, a missing transaction currency, a bare or
//! enveloped exchange answer, camelCase keys in `account_updated`) and the sandbox serializes
//! them (always in the canonical shape). Unknown extra fields are ignored, because Mono adds
//! fields without notice; a missing required field or a wrong type is an error naming the path.
//! Amounts are integers in minor units (kobo, pesewa, cents), as Mono sends them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

// ---------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------

/// Status word of a successful Mono answer.
pub const STATUS_SUCCESSFUL: &str = "successful";
/// Status word of a failed Mono answer.
pub const STATUS_FAILED: &str = "failed";

/// Mono's success envelope `{status, message, timestamp, data, meta?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonoEnvelope<T> {
    pub status: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    pub data: T,
    /// Paging of list answers; some answers call it `paging`.
    #[serde(default, alias = "paging", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Paging>,
}

impl<T> MonoEnvelope<T> {
    /// A canonical successful envelope, as the sandbox answers.
    pub fn successful(message: impl Into<String>, data: T) -> Self {
        MonoEnvelope {
            status: STATUS_SUCCESSFUL.to_owned(),
            message: message.into(),
            timestamp: Some(mono_timestamp(Utc::now())),
            data,
            meta: None,
        }
    }

    pub fn with_meta(mut self, meta: Paging) -> Self {
        self.meta = Some(meta);
        self
    }
}

/// Mono's failure envelope `{"status":"failed","message":"…","data":null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureEnvelope {
    pub status: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Always `null` in Mono's failures; serialized as `null`, never left out.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

impl FailureEnvelope {
    pub fn new(message: impl Into<String>) -> Self {
        FailureEnvelope {
            status: STATUS_FAILED.to_owned(),
            message: message.into(),
            timestamp: Some(mono_timestamp(Utc::now())),
            data: None,
        }
    }
}

/// Paging of list answers. Account lists carry `pages`, transaction lists carry `page`;
/// `previous` and `next` are URLs (or null at either end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    pub total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

/// How far Mono has got retrieving an account's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DataStatus {
    Available,
    Partial,
    Unavailable,
    Failed,
    Processing,
}

impl DataStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DataStatus::Available => "AVAILABLE",
            DataStatus::Partial => "PARTIAL",
            DataStatus::Unavailable => "UNAVAILABLE",
            DataStatus::Failed => "FAILED",
            DataStatus::Processing => "PROCESSING",
        }
    }
}

impl std::fmt::Display for DataStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Direction of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionType {
    #[serde(alias = "CREDIT", alias = "Credit")]
    Credit,
    #[serde(alias = "DEBIT", alias = "Debit")]
    Debit,
}

impl TransactionType {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Credit => "credit",
            TransactionType::Debit => "debit",
        }
    }
}

impl std::fmt::Display for TransactionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TransactionType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "credit" => Ok(TransactionType::Credit),
            "debit" => Ok(TransactionType::Debit),
            other => Err(format!("`{other}` is not credit or debit")),
        }
    }
}

/// Scope of a widget session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Auth,
    Reauth,
}

// ---------------------------------------------------------------------------------------------
// POST /v2/accounts/initiate
// ---------------------------------------------------------------------------------------------

/// Body of `POST /v2/accounts/initiate`; `scope` is the tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scope")]
pub enum InitiateRequest {
    #[serde(rename = "auth")]
    Auth(AuthInitiate),
    #[serde(rename = "reauth")]
    Reauth(ReauthInitiate),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthInitiate {
    pub customer: InitiateCustomer,
    pub meta: InitiateMeta,
    #[serde(with = "url_serde")]
    pub redirect_url: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<InitiateInstitution>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReauthInitiate {
    pub account: String,
    pub meta: InitiateMeta,
    #[serde(default, with = "url_serde::option", skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<Url>,
}

/// A new customer (`{name, email, identity?}`) or a known one (`{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InitiateCustomer {
    New {
        name: String,
        email: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<CustomerIdentity>,
    },
    Existing {
        id: String,
    },
}

/// A customer's identity document, e.g. `{type: "bvn", number: "…"}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerIdentity {
    #[serde(rename = "type")]
    pub kind: String,
    pub number: String,
}

impl std::fmt::Debug for CustomerIdentity {
    // The number is a BVN or NIN: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerIdentity")
            .field("kind", &self.kind)
            .field("number", &"[REDACTED]")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InitiateMeta {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiateInstitution {
    pub id: String,
    pub auth_method: String,
}

/// `data` of the initiate answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitiateData {
    #[serde(with = "url_serde")]
    pub mono_url: Url,
    /// Mono answers the customer id as a string; an object `{id}` is accepted too.
    #[serde(default, deserialize_with = "optional_id_or_object")]
    pub customer: Option<String>,
    #[serde(default)]
    pub meta: InitiateMeta,
    pub scope: Scope,
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default, with = "mono_date::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// Reauth only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Reauth only; its shape is not documented, so it is kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<serde_json::Value>,
    /// Reauth only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// POST /v2/accounts/auth
// ---------------------------------------------------------------------------------------------

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRequest {
    pub code: String,
}

redact::debug_redacted!(ExchangeRequest { ; code });

/// `data` of the exchange answer (or the whole answer, when Mono sends it bare).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeData {
    #[serde(alias = "_id")]
    pub id: String,
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

/// A bank as Mono describes it inside an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MonoInstitution))]
pub struct Institution {
    pub name: String,
    #[serde(default)]
    pub bank_code: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A reference to a customer: Mono sends `"<id>"` in some answers and `{id}` in others.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MonoCustomerRef))]
pub struct CustomerRef {
    pub id: String,
}

impl<'de> Deserialize<'de> for CustomerRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IdOrObject::deserialize(deserializer).map(|v| CustomerRef { id: v.into_id() })
    }
}

/// One item of `GET /v2/accounts`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MonoAccount))]
pub struct AccountSummary {
    #[serde(alias = "_id")]
    pub id: String,
    pub name: String,
    pub currency: String,
    #[serde(rename = "type", default)]
    pub account_type: Option<String>,
    pub account_number: String,
    #[serde(default)]
    pub balance: Option<i64>,
    #[serde(default)]
    pub bvn: Option<String>,
    pub institution: Institution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRef>,
}

redact::debug_redacted!(AccountSummary { id, name, currency, account_type, balance, institution, customer; account_number, bvn });

/// `data.account` of `GET /v2/accounts/{id}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    #[serde(alias = "_id")]
    pub id: String,
    pub name: String,
    pub currency: String,
    #[serde(rename = "type", default)]
    pub account_type: Option<String>,
    pub account_number: String,
    pub balance: i64,
    /// Mono sends at most a masked BVN here; the service keeps only its last 4 digits.
    #[serde(default)]
    pub bvn: Option<String>,
    pub institution: Institution,
}

redact::debug_redacted!(AccountInfo { id, name, currency, account_type, balance, institution; account_number, bvn });

/// `data.meta` of `GET /v2/accounts/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountMeta {
    pub data_status: DataStatus,
    #[serde(default)]
    pub auth_method: Option<String>,
    #[serde(default)]
    pub data_request_id: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub retrieved_data: Vec<String>,
    /// `REAUTHORISATION_REQUIRED` when the customer must reauthorise (a reauth widget link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
}

impl AccountMeta {
    /// Whether Mono says the customer must reauthorise before data flows again.
    pub fn reauth_required(&self) -> bool {
        self.sync_status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(SYNC_STATUS_REAUTH_REQUIRED))
    }

    /// Whether transactions can be read: AVAILABLE, or PARTIAL with transactions retrieved.
    pub fn transactions_ready(&self) -> bool {
        transactions_ready(self.data_status, &self.retrieved_data)
    }
}

/// The readiness rule of MONO.md, shared by the client's callers and the sandbox.
pub fn transactions_ready(status: DataStatus, retrieved_data: &[String]) -> bool {
    match status {
        DataStatus::Available => true,
        DataStatus::Partial => retrieved_data
            .iter()
            .any(|d| d.eq_ignore_ascii_case("transactions")),
        _ => false,
    }
}

/// `data` of `GET /v2/accounts/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountDetails {
    pub account: AccountInfo,
    #[serde(default)]
    pub customer: Option<CustomerRef>,
    pub meta: AccountMeta,
}

/// `data` of `GET /v2/accounts/{id}/identity`. Holds a full BVN: never store or log it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub full_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub gender: Option<String>,
    #[serde(default)]
    pub dob: Option<String>,
    #[serde(default)]
    pub bvn: Option<String>,
    #[serde(default)]
    pub marital_status: Option<String>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
}

impl std::fmt::Debug for Identity {
    // Personal data stays out of Debug output; only whether the BVN is present shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("full_name", &self.full_name)
            .field("bvn", &self.bvn.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

/// `data` of `GET /v2/accounts/{id}/balance`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    #[serde(alias = "_id")]
    pub id: String,
    pub name: String,
    pub account_number: String,
    pub balance: i64,
    pub currency: String,
}

redact::debug_redacted!(Balance { id, name, balance, currency; account_number });

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

/// A transaction as listed by `GET /v2/accounts/{id}/transactions` and carried by the
/// `transaction.*` webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonoTransaction {
    #[serde(alias = "_id")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable_string")]
    pub narration: String,
    pub amount: i64,
    #[serde(rename = "type")]
    pub kind: TransactionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    #[serde(with = "mono_date")]
    pub date: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Missing on some answers: the account's currency applies then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<Counterparty>,
}

impl MonoTransaction {
    /// The transaction's currency, or the account's when Mono left it out.
    pub fn currency_or<'a>(&'a self, account_currency: &'a str) -> &'a str {
        self.currency.as_deref().unwrap_or(account_currency)
    }
}

/// The other side of a transaction, when Mono knows it.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counterparty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        rename = "accountNumber",
        alias = "account_number",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub account_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<String>,
}

redact::debug_redacted!(Counterparty { name, bank; account_number });

/// Filters of `GET /v2/accounts/{id}/transactions`. Dates go out as DD-MM-YYYY.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransactionQuery {
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub kind: Option<TransactionType>,
    pub narration: Option<String>,
    pub limit: Option<u32>,
    pub page: Option<u32>,
}

/// Mono's date format for transaction filters.
pub const QUERY_DATE_FORMAT: &str = "%d-%m-%Y";

impl TransactionQuery {
    /// Query-string pairs, `paginate=true` always (the client never asks for a whole history).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(7);
        if let Some(start) = self.start {
            pairs.push(("start", start.format(QUERY_DATE_FORMAT).to_string()));
        }
        if let Some(end) = self.end {
            pairs.push(("end", end.format(QUERY_DATE_FORMAT).to_string()));
        }
        if let Some(kind) = self.kind {
            pairs.push(("type", kind.as_str().to_owned()));
        }
        if let Some(narration) = self.narration.as_ref().filter(|n| !n.is_empty()) {
            pairs.push(("narration", narration.clone()));
        }
        pairs.push(("paginate", "true".to_owned()));
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(page) = self.page {
            pairs.push(("page", page.to_string()));
        }
        pairs
    }
}

/// One page of transactions with Mono's paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionPage {
    pub transactions: Vec<MonoTransaction>,
    pub paging: Paging,
}

/// A page of transactions item by item as Mono sent them: one item that does not decode does
/// not spoil the others.
#[derive(Debug)]
pub struct RawTransactionPage {
    pub items: Vec<RawTransaction>,
    pub paging: Paging,
}

/// One transaction as Mono sent it, and what it decoded to.
#[derive(Debug)]
pub struct RawTransaction {
    /// The item's JSON, NUL characters removed (PostgreSQL text and jsonb cannot hold them).
    pub raw: Box<serde_json::value::RawValue>,
    pub decoded: Result<MonoTransaction, MalformedTransaction>,
}

/// Why an item did not decode; its id when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedTransaction {
    pub id: Option<String>,
    /// The path of the first bad field inside the item (`amount`, `counterparty.name`).
    pub path: String,
    /// serde's account of the problem (may quote the value: keep it out of logs).
    pub message: String,
}

impl RawTransaction {
    /// Decodes one item, stripping NUL characters from every string first.
    pub fn decode(raw: Box<serde_json::value::RawValue>) -> Self {
        let raw = if raw.get().contains("\\u0000") {
            match serde_json::from_str::<serde_json::Value>(raw.get()) {
                Ok(mut value) => {
                    strip_nul(&mut value);
                    serde_json::value::to_raw_value(&value).unwrap_or(raw)
                }
                Err(_) => raw,
            }
        } else {
            raw
        };
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let decoded = serde_path_to_error::deserialize::<_, MonoTransaction>(&mut de).map_err(|e| {
            MalformedTransaction {
                id: item_id(raw.get()),
                path: e.path().to_string(),
                message: redact::serde_problem(&e.inner().to_string()),
            }
        });
        RawTransaction { raw, decoded }
    }
}

/// `id` (or `_id`) of an item that did not decode, when it is a non-empty string or number.
fn item_id(raw: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(raw).ok()?;
    let id = value.get("id").or_else(|| value.get("_id"))?;
    match id {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strip_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', ""),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let cleaned = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', ""), v))
                    .collect();
                *map = cleaned;
            }
            map.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
}

/// What `unlink` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlinkOutcome {
    /// Mono unlinked the account now.
    Unlinked,
    /// Mono answered 404: the account was already gone.
    AlreadyGone,
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// Event names Mono sends.
pub mod events {
    pub const ACCOUNT_CONNECTED: &str = "mono.events.account_connected";
    pub const ACCOUNT_UPDATED: &str = "mono.events.account_updated";
    pub const ACCOUNT_REAUTHORIZED: &str = "mono.events.account_reauthorized";
    /// `{account: {_id}}`: the customer must reauthorise before the next sync.
    pub const REAUTHORISATION_REQUIRED: &str = "mono.events.reauthorisation_required";
    /// `{account: {_id}}`, sometimes with a `meta` or a message: a data sync at Mono failed.
    pub const SYNC_FAILED: &str = "mono.events.sync_failed";
    pub const ACCOUNT_UNLINKED: &str = "mono.events.account_unlinked";
    pub const ACCOUNT_INCOME: &str = "mono.events.account_income";
    pub const JOBS_UPDATE: &str = "mono.accounts.jobs.update";
    pub const TRANSACTION_UPDATED: &str = "transaction.updated";
    pub const TRANSACTION_SETTLED: &str = "transaction.settled";
}

/// The outer shape of every webhook; `data` is typed by [`WebhookEvent::from_envelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEnvelope {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// RFC 3339, or unix seconds / milliseconds as a number.
    #[serde(
        default,
        deserialize_with = "lenient_timestamp",
        serialize_with = "mono_date::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<DateTime<Utc>>,
    pub data: serde_json::Value,
}

/// `mono.events.account_connected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountConnected {
    #[serde(alias = "_id")]
    pub id: String,
    #[serde(default, deserialize_with = "optional_id_or_object")]
    pub customer: Option<String>,
    #[serde(default)]
    pub meta: WebhookAccountMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<String>,
}

/// `meta` of `account_connected` and `account_updated`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WebhookAccountMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_status: Option<DataStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub retrieved_data: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_new_data: Option<bool>,
}

/// `sync_status` meaning the customer must reauthorise.
pub const SYNC_STATUS_REAUTH_REQUIRED: &str = "REAUTHORISATION_REQUIRED";

impl WebhookAccountMeta {
    pub fn reauth_required(&self) -> bool {
        self.sync_status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(SYNC_STATUS_REAUTH_REQUIRED))
    }
}

/// `mono.events.account_updated`: Mono's camelCase keys, snake_case accepted too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountUpdated {
    pub account: UpdatedAccount,
    #[serde(default)]
    pub meta: WebhookAccountMeta,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatedAccount {
    #[serde(rename = "_id", alias = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "accountNumber", alias = "account_number", default)]
    pub account_number: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub balance: Option<i64>,
    #[serde(rename = "type", default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub bvn: Option<String>,
    #[serde(rename = "authMethod", alias = "auth_method", default)]
    pub auth_method: Option<String>,
    #[serde(default)]
    pub institution: Option<UpdatedInstitution>,
}

redact::debug_redacted!(UpdatedAccount { id, name, currency, balance, account_type, auth_method, institution; account_number, bvn });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatedInstitution {
    pub name: String,
    #[serde(rename = "bankCode", alias = "bank_code", default)]
    pub bank_code: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// `{_id}` or `{id}` of an account, as `account_reauthorized` and `account_unlinked` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountIdRef {
    #[serde(rename = "_id", alias = "id")]
    pub id: String,
}

/// `mono.events.account_reauthorized`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReauthorized {
    pub account: AccountIdRef,
}

/// `mono.events.account_unlinked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUnlinked {
    pub account: AccountIdRef,
}

/// `mono.events.account_income`; the income figures are informational, kept as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountIncome {
    #[serde(deserialize_with = "id_or_object")]
    pub account: String,
    #[serde(default)]
    pub income_summary: serde_json::Value,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub income_streams: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Processing,
    Finished,
    Failed,
}

/// `mono.accounts.jobs.update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsUpdate {
    #[serde(deserialize_with = "id_or_object")]
    pub account: String,
    pub id: String,
    pub name: String,
    pub status: JobStatus,
}

/// `transaction.updated` and `transaction.settled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionEvent {
    #[serde(deserialize_with = "id_or_object")]
    pub account: String,
    pub transaction: MonoTransaction,
}

/// A webhook with its `data` typed by event name.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    AccountConnected(AccountConnected),
    AccountUpdated(AccountUpdated),
    AccountReauthorized(AccountReauthorized),
    AccountUnlinked(AccountUnlinked),
    AccountIncome(AccountIncome),
    JobsUpdate(JobsUpdate),
    TransactionUpdated(TransactionEvent),
    TransactionSettled(TransactionEvent),
    /// An event this connector does not act on; still acknowledged.
    Unknown(String),
}

/// Why a webhook's `data` did not match its event's shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook `{event}` has a bad `{path}`: {message}")]
pub struct WebhookDecodeError {
    pub event: String,
    pub path: String,
    pub message: String,
}

impl WebhookEvent {
    /// Types `envelope.data` by `envelope.event`.
    pub fn from_envelope(envelope: &WebhookEnvelope) -> Result<Self, WebhookDecodeError> {
        fn typed<T: serde::de::DeserializeOwned>(
            envelope: &WebhookEnvelope,
        ) -> Result<T, WebhookDecodeError> {
            serde_path_to_error::deserialize(&envelope.data).map_err(|e| WebhookDecodeError {
                event: envelope.event.clone(),
                path: data_path(e.path()),
                message: redact::serde_problem(&e.inner().to_string()),
            })
        }
        Ok(match envelope.event.as_str() {
            events::ACCOUNT_CONNECTED => WebhookEvent::AccountConnected(typed(envelope)?),
            events::ACCOUNT_UPDATED => WebhookEvent::AccountUpdated(typed(envelope)?),
            events::ACCOUNT_REAUTHORIZED => WebhookEvent::AccountReauthorized(typed(envelope)?),
            events::ACCOUNT_UNLINKED => WebhookEvent::AccountUnlinked(typed(envelope)?),
            events::ACCOUNT_INCOME => WebhookEvent::AccountIncome(typed(envelope)?),
            events::JOBS_UPDATE => WebhookEvent::JobsUpdate(typed(envelope)?),
            events::TRANSACTION_UPDATED => WebhookEvent::TransactionUpdated(typed(envelope)?),
            events::TRANSACTION_SETTLED => WebhookEvent::TransactionSettled(typed(envelope)?),
            other => WebhookEvent::Unknown(other.to_owned()),
        })
    }

    /// The Mono account the event is about, when it names one.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            WebhookEvent::AccountConnected(e) => Some(&e.id),
            WebhookEvent::AccountUpdated(e) => Some(&e.account.id),
            WebhookEvent::AccountReauthorized(e) => Some(&e.account.id),
            WebhookEvent::AccountUnlinked(e) => Some(&e.account.id),
            WebhookEvent::AccountIncome(e) => Some(&e.account),
            WebhookEvent::JobsUpdate(e) => Some(&e.account),
            WebhookEvent::TransactionUpdated(e) | WebhookEvent::TransactionSettled(e) => Some(&e.account),
            WebhookEvent::Unknown(_) => None,
        }
    }
}

/// `data.<path>` for an error inside a webhook's data.
fn data_path(path: &serde_path_to_error::Path) -> String {
    let inner = path.to_string();
    if inner == "." {
        "data".to_owned()
    } else {
        format!("data.{inner}")
    }
}

impl WebhookEnvelope {
    /// A canonical webhook as the sandbox sends it.
    pub fn new<T: Serialize>(
        event: &str,
        event_id: String,
        timestamp: DateTime<Utc>,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(WebhookEnvelope {
            event: event.to_owned(),
            event_id: Some(event_id),
            timestamp: Some(timestamp),
            data: serde_json::to_value(data)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Serde helpers
// ---------------------------------------------------------------------------------------------

/// Mono's timestamp shape, `2024-02-05T09:57:00.000Z`.
pub fn mono_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Dates in Mono's shape out, any RFC 3339 in.
pub mod mono_date {
    use super::*;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&mono_timestamp(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }

    pub(crate) fn parse(raw: &str) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(raw)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| format!("`{raw}` is not an RFC 3339 date-time: {e}"))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&mono_timestamp(*at)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(raw) => parse(&raw).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// URLs as strings (the `url` crate's own serde support is a feature this crate leaves off).
mod url_serde {
    use super::*;

    pub fn serialize<S: Serializer>(url: &Url, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(url.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
        let raw = String::deserialize(d)?;
        Url::parse(&raw).map_err(|e| serde::de::Error::custom(format!("`{raw}` is not a URL: {e}")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(url: &Option<Url>, s: S) -> Result<S::Ok, S::Error> {
            match url {
                Some(url) => s.serialize_str(url.as_str()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(raw) => Url::parse(&raw)
                    .map(Some)
                    .map_err(|e| serde::de::Error::custom(format!("`{raw}` is not a URL: {e}"))),
                None => Ok(None),
            }
        }
    }
}

/// A string id, or an object carrying it as `id` or `_id`.
#[derive(Deserialize)]
#[serde(untagged, expecting = "a string id or an object with `id` or `_id`")]
enum IdOrObject {
    Id(String),
    Object(IdObject),
}

#[derive(Deserialize)]
struct IdObject {
    #[serde(alias = "_id")]
    id: String,
}

impl IdOrObject {
    fn into_id(self) -> String {
        match self {
            IdOrObject::Id(id) => id,
            IdOrObject::Object(o) => o.id,
        }
    }
}

fn id_or_object<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    IdOrObject::deserialize(d).map(IdOrObject::into_id)
}

fn optional_id_or_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<IdOrObject>::deserialize(d).map(|o| o.map(IdOrObject::into_id))
}

fn nullable_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Option::<String>::deserialize(d).map(Option::unwrap_or_default)
}

fn nullable_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Option::<Vec<T>>::deserialize(d).map(Option::unwrap_or_default)
}

fn lenient_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "an RFC 3339 string or unix seconds or milliseconds")]
    enum Raw {
        Text(String),
        Number(i64),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Text(raw)) => mono_date::parse(&raw).map(Some).map_err(serde::de::Error::custom),
        Some(Raw::Number(n)) => {
            // Ten-digit numbers are seconds until the year 2286; longer ones are milliseconds.
            let at = if n.abs() >= 100_000_000_000 {
                DateTime::from_timestamp_millis(n)
            } else {
                DateTime::from_timestamp(n, 0)
            };
            at.map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is out of range")))
        }
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    /// No `Debug` of a DTO that carries an exchange code, account number or BVN prints it.
    #[test]
    fn debug_output_never_carries_codes_account_numbers_or_bvns() {
        let institution = Institution {
            name: "GTBank".into(),
            bank_code: Some("058".into()),
            kind: None,
        };
        let texts = [
            format!(
                "{:?}",
                ExchangeRequest {
                    code: "code_secret_123".into()
                }
            ),
            format!(
                "{:?}",
                AccountSummary {
                    id: "acc".into(),
                    name: "Ada".into(),
                    currency: "NGN".into(),
                    account_type: None,
                    account_number: "0123456789".into(),
                    balance: None,
                    bvn: Some("22212345678".into()),
                    institution: institution.clone(),
                    customer: None,
                }
            ),
            format!(
                "{:?}",
                AccountInfo {
                    id: "acc".into(),
                    name: "Ada".into(),
                    currency: "NGN".into(),
                    account_type: None,
                    account_number: "0123456789".into(),
                    balance: 1,
                    bvn: Some("22212345678".into()),
                    institution,
                }
            ),
            format!(
                "{:?}",
                Balance {
                    id: "acc".into(),
                    name: "Ada".into(),
                    account_number: "0123456789".into(),
                    balance: 1,
                    currency: "NGN".into(),
                }
            ),
            format!(
                "{:?}",
                Counterparty {
                    name: Some("Ada".into()),
                    account_number: Some("0123456789".into()),
                    bank: None,
                }
            ),
            format!(
                "{:?}",
                CustomerIdentity {
                    kind: "bvn".into(),
                    number: "22212345678".into(),
                }
            ),
        ];
        for text in texts {
            for secret in ["code_secret_123", "0123456789", "22212345678"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }
}
