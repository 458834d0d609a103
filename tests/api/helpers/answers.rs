//! The API's answers as types, for `app.get::<T>` and the like: test-side mirrors of the
//! answers whose service types cannot be read back (private fields, no `Deserialize`). The
//! service's own types that can (`AccountView`, `WidgetLink`, ...) are re-exported by
//! `helpers` with the other crate paths.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{InvoiceKind, InvoiceStatus, PaymentStatus};

/// `POST /si/mono/sync`: what one sync call did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOutcome {
    pub account_id: String,
    pub fetched: u64,
    pub drafted: u64,
    pub dlq: u64,
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    pub cursor: Option<String>,
    pub has_more: bool,
}

/// `GET /si/mono/cursor`: where an account's next sync resumes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorView {
    pub account_id: String,
    pub cursor: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The webhook endpoint's receipt (`data` of its 200).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceipt {
    pub delivery_id: Uuid,
    pub event: String,
    pub duplicate: bool,
    /// `queued`, `ignored`, or for a duplicate the first copy's state.
    pub outcome: String,
}

/// An invoice as `/si/invoices` shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceView {
    pub id: Uuid,
    pub status: InvoiceStatus,
    pub kind: InvoiceKind,
    pub source: String,
    pub account_id: Option<String>,
    pub transaction_id: Option<String>,
    pub invoice_number: String,
    /// As the API writes it (`2026-03-09`).
    pub issue_date: String,
    pub due_date: Option<String>,
    pub currency: String,
    pub amount: i64,
    pub buyer: Buyer,
    pub reference: Option<String>,
    pub payment_status: PaymentStatus,
    /// `{reason, ruleId, keywords}`, as JSON: tests compare it whole.
    pub decision: Value,
    pub credited_invoice_id: Option<Uuid>,
    pub irn: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    /// What was signed, as JSON (null until signed): verifiers canonicalize it.
    pub signed_payload: Value,
    /// `{alg, keyId, value}` (null until signed).
    pub signature: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Buyer {
    pub name: Option<String>,
}

/// `GET /si/invoices/signing-key`: the public half of the signing key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    pub alg: String,
    pub key_id: String,
    /// Base64 of the 32 raw bytes.
    pub public_key: String,
}

/// `GET /si/org/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub name: String,
    pub tin: Option<String>,
    pub service_id: String,
    pub business_id: Option<Uuid>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    /// `{street, city, postalZone?, country, state?, lga?}`.
    pub address: Option<serde_json::Value>,
    pub description: Option<String>,
    pub defaults: ProfileDefaults,
    pub updated_at: DateTime<Utc>,
}

/// `defaults` of `GET /si/org/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileDefaults {
    pub service_code: Option<String>,
    pub tax_category: String,
    pub invoice_kind: Option<String>,
    pub payment_terms_days: i32,
}

/// An entry of `/si/buyers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuyerView {
    pub id: Uuid,
    pub name: String,
    pub tin: Option<String>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub address: Option<serde_json::Value>,
    #[serde(rename = "match")]
    pub match_keys: BuyerMatch,
    pub invoices: i64,
    pub updated_at: DateTime<Utc>,
}

/// `match` of a buyer entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuyerMatch {
    pub account_numbers: Vec<String>,
    pub names: Vec<String>,
}

/// An allow/deny rule as `/si/mono/allow-deny` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    pub id: Uuid,
    pub list: String,
    pub field: String,
    #[serde(rename = "match")]
    pub match_kind: String,
    pub pattern: String,
    pub account_id: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `GET /si/org/environments`: the caller's organization and the environment a call selected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgEnvironments {
    pub org_id: Uuid,
    pub role: String,
    pub env_id: Uuid,
    pub env: String,
    pub environments: Vec<EnvironmentView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EnvironmentView {
    pub id: Uuid,
    pub name: String,
    pub current: bool,
}
