//! Invoice review: the list and one invoice in the contract's shape, and the transitions
//! `confirm` (with corrections), `discard`, `validate` and `sign`. Each transition checks what
//! it can up front for a precise answer, then moves the invoice with one conditional UPDATE;
//! when that UPDATE finds the invoice already moved on, the answer is 409 naming the state it
//! is in now.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::db::invoices::{self as db, Corrections, InvoiceFilter};
use crate::db::tenancy;
use crate::error::{ApiError, FieldErrors};
use crate::invoice::{self, Invoice, InvoiceKind, InvoiceStatus, PaymentStatus, Supplier, Transition};
use crate::signing::PublicKey;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// An invoice as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceView {
    id: Uuid,
    status: InvoiceStatus,
    kind: InvoiceKind,
    source: String,
    account_id: Option<String>,
    transaction_id: Option<String>,
    invoice_number: String,
    issue_date: NaiveDate,
    due_date: Option<NaiveDate>,
    currency: String,
    amount: i64,
    buyer: Buyer,
    reference: Option<String>,
    description: Option<String>,
    payment_status: PaymentStatus,
    decision: Decision,
    credited_invoice_id: Option<Uuid>,
    irn: Option<String>,
    signed_at: Option<DateTime<Utc>>,
    signed_payload: Option<Value>,
    signature: Option<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Buyer {
    name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Decision {
    reason: Option<String>,
    rule_id: Option<String>,
    keywords: Vec<String>,
}

impl From<Invoice> for InvoiceView {
    fn from(i: Invoice) -> Self {
        InvoiceView {
            id: i.id,
            status: i.status,
            kind: i.kind,
            source: i.source,
            account_id: i.account_id,
            transaction_id: i.transaction_id,
            invoice_number: i.invoice_number,
            issue_date: i.issue_date,
            due_date: i.due_date,
            currency: i.currency,
            amount: i.amount,
            buyer: Buyer { name: i.buyer_name },
            reference: i.reference,
            description: i.description,
            payment_status: i.payment_status,
            decision: Decision {
                reason: i.reason,
                rule_id: i.rule_id,
                keywords: i.keywords,
            },
            credited_invoice_id: i.credited_invoice_id,
            irn: i.irn,
            signed_at: i.signed_at,
            signed_payload: i.signed_payload,
            signature: i.signature,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `GET /si/invoices` query; every value is checked here so each bad one is named.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    status: Option<String>,
    account_id: Option<String>,
    kind: Option<String>,
    payment_status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

/// One page, newest first, and the `before` of the next page (None on the last).
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    q: ListQuery,
) -> Result<(Vec<InvoiceView>, Option<String>), ApiError> {
    let filter = parse_list_query(q)?;
    let mut rows = db::list(&state.db, tenant, &filter).await?;
    let next = if rows.len() as i64 > filter.limit {
        rows.truncate(filter.limit as usize);
        rows.last().map(|i| cursor(i.created_at, i.id))
    } else {
        None
    };
    Ok((rows.into_iter().map(InvoiceView::from).collect(), next))
}

fn parse_list_query(q: ListQuery) -> Result<InvoiceFilter, ApiError> {
    let mut bad = FieldErrors::new();
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut f = InvoiceFilter {
        limit: DEFAULT_LIMIT,
        ..InvoiceFilter::default()
    };
    if let Some(s) = nonempty(q.status) {
        match InvoiceStatus::parse(&s) {
            Some(s) => f.status = Some(s),
            None => {
                bad.insert(
                    "status".into(),
                    "must be DRAFT, CONFIRMED, VALIDATED, SIGNED or DISCARDED".into(),
                );
            }
        }
    }
    f.account_id = nonempty(q.account_id);
    if let Some(k) = nonempty(q.kind) {
        match InvoiceKind::parse(&k) {
            Some(k) => f.kind = Some(k),
            None => {
                bad.insert("kind".into(), "must be invoice or credit_note".into());
            }
        }
    }
    if let Some(p) = nonempty(q.payment_status) {
        match PaymentStatus::parse(&p) {
            Some(p) => f.payment_status = Some(p),
            None => {
                bad.insert("paymentStatus".into(), "must be none, pending or settled".into());
            }
        }
    }
    for (name, raw, slot) in [("from", q.from, &mut f.from), ("to", q.to, &mut f.to)] {
        if let Some(d) = nonempty(raw) {
            match parse_date(&d) {
                Some(d) => *slot = Some(d),
                None => {
                    bad.insert(name.into(), "must be a date as YYYY-MM-DD".into());
                }
            }
        }
    }
    if let (Some(from), Some(to)) = (f.from, f.to) {
        if from > to {
            bad.insert("to".into(), "must not be before `from`".into());
        }
    }
    if let Some(l) = nonempty(q.limit) {
        match l.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => f.limit = n,
            _ => {
                bad.insert("limit".into(), format!("must be between 1 and {MAX_LIMIT}"));
            }
        }
    }
    if let Some(b) = nonempty(q.before) {
        match parse_cursor(&b) {
            Some(c) => f.before = Some(c),
            None => {
                bad.insert("before".into(), "is not a cursor from meta.next".into());
            }
        }
    }
    if bad.is_empty() {
        Ok(f)
    } else {
        Err(ApiError::fields(bad))
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `{created_at in unix microseconds}_{id}`: PostgreSQL keeps microseconds, so it is exact.
fn cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{}", at.timestamp_micros(), id.simple())
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = s.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, Uuid::parse_str(id).ok()?))
}

pub async fn get(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<InvoiceView, ApiError> {
    Ok(find(state, tenant, id).await?.into())
}

async fn find(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<Invoice, ApiError> {
    db::get(&state.db, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("invoice not found"))
}

/// 409 unless the invoice is where `t` starts.
fn expect_state(invoice: &Invoice, t: Transition) -> Result<(), ApiError> {
    if invoice.status == t.from() {
        Ok(())
    } else {
        Err(ApiError::invalid_transition(t.as_str(), invoice.status.as_str()))
    }
}

/// The answer when a conditional UPDATE matched nothing: the invoice moved on (409 naming
/// where it is now) or is gone (404).
async fn refused(state: &AppState, tenant: &Tenant, id: Uuid, t: Transition) -> ApiError {
    match db::get(&state.db, tenant, id).await {
        Ok(Some(now)) => ApiError::invalid_transition(t.as_str(), now.status.as_str()),
        Ok(None) => ApiError::not_found("invoice not found"),
        Err(e) => e.into(),
    }
}

/// `confirm`'s body: corrections of what the draft says, each optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmBody {
    buyer_name: Option<String>,
    reference: Option<String>,
    description: Option<String>,
    due_date: Option<String>,
    credited_invoice_id: Option<String>,
    /// Environment selectors, read by the `Tenant` extractor.
    #[serde(default, rename = "envId")]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    _env: Option<Value>,
}

/// DRAFT → CONFIRMED, applying the corrections. The confirmed invoice must name a buyer and,
/// for a credit note, the invoice it credits (400 naming `buyerName`/`creditedInvoiceId`).
pub async fn confirm(
    state: &AppState,
    tenant: &Tenant,
    id: Uuid,
    body: ConfirmBody,
) -> Result<InvoiceView, ApiError> {
    let invoice = find(state, tenant, id).await?;
    expect_state(&invoice, Transition::Confirm)?;
    let corrections = corrections(state, tenant, &invoice, body).await?;
    match db::confirm(&state.db, tenant, id, &corrections).await? {
        Some(confirmed) => Ok(confirmed.into()),
        None => Err(refused(state, tenant, id, Transition::Confirm).await),
    }
}

async fn corrections(
    state: &AppState,
    tenant: &Tenant,
    invoice: &Invoice,
    body: ConfirmBody,
) -> Result<Corrections, ApiError> {
    let mut bad = FieldErrors::new();
    let mut text = |name: &str, value: Option<String>, max: usize| -> Option<String> {
        let value = value?.trim().to_string();
        if value.is_empty() || value.chars().count() > max {
            bad.insert(name.into(), format!("must be 1 to {max} characters"));
            None
        } else {
            Some(value)
        }
    };
    let mut c = Corrections {
        buyer_name: text("buyerName", body.buyer_name, 200),
        reference: text("reference", body.reference, 200),
        description: text("description", body.description, 1000),
        ..Corrections::default()
    };
    if let Some(raw) = body.due_date {
        match parse_date(raw.trim()) {
            None => {
                bad.insert("dueDate".into(), "must be a date as YYYY-MM-DD".into());
            }
            Some(d) if d < invoice.issue_date => {
                bad.insert(
                    "dueDate".into(),
                    format!("must not be before the issue date {}", invoice.issue_date),
                );
            }
            Some(d) => c.due_date = Some(d),
        }
    }
    if let Some(raw) = body.credited_invoice_id {
        if invoice.kind != InvoiceKind::CreditNote {
            bad.insert(
                "creditedInvoiceId".into(),
                "only a credit note credits an invoice".into(),
            );
        } else {
            let target = Uuid::parse_str(raw.trim()).ok().filter(|t| *t != invoice.id);
            let creditable = match target {
                Some(t) => db::creditable_exists(&state.db, tenant, t).await?,
                None => false,
            };
            if creditable {
                c.credited_invoice_id = target;
            } else {
                bad.insert(
                    "creditedInvoiceId".into(),
                    "must be the id of an invoice (not a credit note, not discarded) in this environment"
                        .into(),
                );
            }
        }
    }
    // What only a confirmation can supply must be there once it is confirmed: nothing can
    // change a CONFIRMED invoice, so without them it could never be validated.
    let buyer = c.buyer_name.as_deref().or(invoice.buyer_name.as_deref());
    if buyer.is_none_or(|b| b.trim().is_empty()) && !bad.contains_key("buyerName") {
        bad.insert(
            "buyerName".into(),
            "the draft names no buyer: give a buyerName".into(),
        );
    }
    if invoice.kind == InvoiceKind::CreditNote
        && c.credited_invoice_id.or(invoice.credited_invoice_id).is_none()
        && !bad.contains_key("creditedInvoiceId")
    {
        bad.insert(
            "creditedInvoiceId".into(),
            "a credit note must name the invoice it credits".into(),
        );
    }
    if bad.is_empty() {
        Ok(c)
    } else {
        Err(ApiError::fields(bad))
    }
}

/// DRAFT → DISCARDED.
pub async fn discard(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<InvoiceView, ApiError> {
    let t = Transition::Discard;
    match db::set_status(&state.db, tenant, id, t.from(), t.to()).await? {
        Some(discarded) => Ok(discarded.into()),
        None => Err(refused(state, tenant, id, t).await),
    }
}

/// The organization as the supplier, and every problem that keeps `invoice` from being a
/// valid e-invoice (400 `invalid_invoice` naming them all).
async fn check(state: &AppState, tenant: &Tenant, invoice: &Invoice) -> Result<Supplier, ApiError> {
    let profile = tenancy::profile(&state.db, tenant).await?;
    let supplier = Supplier {
        name: profile.name,
        tin: profile.tin,
        service_id: profile.service_id,
    };
    let credited_exists = match invoice.credited_invoice_id {
        Some(credited) => db::creditable_exists(&state.db, tenant, credited).await?,
        None => false,
    };
    let problems = invoice::problems(invoice, &supplier, credited_exists);
    if problems.is_empty() {
        Ok(supplier)
    } else {
        Err(ApiError::invalid_invoice(problems))
    }
}

/// CONFIRMED → VALIDATED when the invoice has everything an e-invoice needs.
pub async fn validate(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<InvoiceView, ApiError> {
    let t = Transition::Validate;
    let invoice = find(state, tenant, id).await?;
    expect_state(&invoice, t)?;
    check(state, tenant, &invoice).await?;
    match db::set_status(&state.db, tenant, id, t.from(), t.to()).await? {
        Some(validated) => Ok(validated.into()),
        None => Err(refused(state, tenant, id, t).await),
    }
}

/// VALIDATED → SIGNED: issues the IRN and signs the payload with the service's key. The
/// checks run again, as the organization profile may have changed since `validate`.
pub async fn sign(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<InvoiceView, ApiError> {
    let t = Transition::Sign;
    let invoice = find(state, tenant, id).await?;
    expect_state(&invoice, t)?;
    let supplier = check(state, tenant, &invoice).await?;
    let irn = invoice::irn(&invoice, &supplier.service_id);
    let payload = invoice::signed_payload(&invoice, &supplier, &irn);
    let signature = state.signer.sign(&payload).map_err(ApiError::internal)?;
    let signature = serde_json::to_value(signature).map_err(ApiError::internal)?;
    match db::sign(&state.db, tenant, id, &irn, &payload, &signature).await? {
        Some(signed) => Ok(signed.into()),
        None => Err(refused(state, tenant, id, t).await),
    }
}

/// The public key every signature verifies with.
pub fn signing_key(state: &AppState) -> PublicKey {
    state.signer.public_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &str) -> Result<InvoiceFilter, ApiError> {
        parse_list_query(crate::http::extract::parse_query(pairs)?)
    }

    #[test]
    fn cursors_round_trip_exactly() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(parse_cursor(&cursor(at, id)), Some((at, id)));
        assert_eq!(parse_cursor("12_nope"), None);
        assert_eq!(parse_cursor("x"), None);
    }

    #[test]
    fn list_filters_are_checked_together() {
        let f = query(
            "status=draft&kind=credit_note&paymentStatus=settled&from=2026-01-01&to=2026-01-31&limit=7",
        )
        .unwrap();
        assert_eq!(f.status, Some(InvoiceStatus::Draft));
        assert_eq!(f.kind, Some(InvoiceKind::CreditNote));
        assert_eq!(f.limit, 7);
        match query("status=paid&kind=x&paymentStatus=y&from=2026-13-01&limit=0&before=zz") {
            Err(ApiError::BadRequest { fields, .. }) => {
                let names: Vec<&str> = fields.keys().map(String::as_str).collect();
                assert_eq!(
                    names,
                    ["before", "from", "kind", "limit", "paymentStatus", "status"]
                );
            }
            other => panic!("expected a 400, got {other:?}"),
        }
        assert!(query("from=2026-02-01&to=2026-01-01").is_err());
    }
}
