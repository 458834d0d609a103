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
use crate::error::{ApiError, FieldErrors};
use crate::invoice::{self, Invoice, InvoiceKind, InvoiceStatus, PaymentStatus, Transition};
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
    /// `B2B`, `B2C` or `B2G`: as set at confirmation, else B2B when the buyer has a TIN.
    #[schema(value_type = mbs::InvoiceKind)]
    invoice_kind: &'static str,
    /// 381 for an invoice, 380 for a credit note (MBS's `invoice-types`).
    #[schema(value_type = crate::vocab::TypeCode)]
    type_code: &'static str,
    #[schema(value_type = crate::vocab::InvoiceSource)]
    source: String,
    account_id: Option<String>,
    transaction_id: Option<String>,
    invoice_number: String,
    issue_date: NaiveDate,
    /// `HH:MM:SS`, UTC.
    issue_time: String,
    due_date: Option<NaiveDate>,
    tax_point_date: NaiveDate,
    currency: String,
    /// What the buyer paid, VAT included, in minor units.
    amount: i64,
    /// The supplier as validated (a snapshot of the profile); absent before validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<crate::party::Supplier>,
    buyer: crate::party::Buyer,
    lines: Vec<crate::einvoice::Line>,
    /// Absent while the tax category's percent is not known (it is fixed at validation).
    #[serde(skip_serializing_if = "Option::is_none")]
    tax: Option<crate::einvoice::Tax>,
    #[serde(skip_serializing_if = "Option::is_none")]
    totals: Option<crate::einvoice::Totals>,
    reference: Option<String>,
    description: Option<String>,
    payment_status: PaymentStatus,
    decision: Decision,
    credited_invoice_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_reference: Option<crate::invoice::BillingReference>,
    irn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    submission: Option<SubmissionView>,
    signed_at: Option<DateTime<Utc>>,
    /// The exact payload MBS accepted (its invoice object), as filed.
    #[schema(value_type = Option<mbs::Invoice>)]
    signed_payload: Option<Value>,
    /// The service's seal over `signedPayload` (see `GET /si/invoices/signing-key`).
    #[schema(value_type = Option<crate::signing::SignatureValue>)]
    signature: Option<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The invoice's submission to MBS.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionView {
    /// `accepted`, `rejected` or `unknown` (and `prepared`/`submitted` before an answer).
    status: crate::invoice::SubmissionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    submitted_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<mbs::PaymentStatus>)]
    mbs_payment_status: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Decision {
    #[schema(value_type = Option<crate::vocab::Reason>)]
    reason: Option<String>,
    rule_id: Option<String>,
    keywords: Vec<String>,
}

impl From<Invoice> for InvoiceView {
    fn from(i: Invoice) -> Self {
        let figures = figures(&i);
        let (lines, tax, totals) = match figures {
            Some(f) => (f.lines, Some(f.tax), Some(f.totals)),
            None => (Vec::new(), None, None),
        };
        InvoiceView {
            invoice_kind: invoice::invoice_kind(&i),
            type_code: i.type_code(),
            buyer: i.buyer(),
            id: i.id,
            status: i.status,
            kind: i.kind,
            source: i.source,
            account_id: i.account_id,
            transaction_id: i.transaction_id,
            invoice_number: i.invoice_number,
            issue_date: i.issue_date,
            issue_time: i.issue_time.format("%H:%M:%S").to_string(),
            due_date: i.due_date,
            tax_point_date: i.issue_date,
            currency: i.currency,
            amount: i.amount,
            supplier: i.supplier,
            lines,
            tax,
            totals,
            reference: i.reference,
            description: i.description,
            payment_status: i.payment_status,
            decision: Decision {
                reason: i.reason,
                rule_id: i.rule_id,
                keywords: i.keywords,
            },
            credited_invoice_id: i.credited_invoice_id,
            billing_reference: i.billing_reference,
            irn: i.irn,
            submission: i.submission.map(|s| SubmissionView {
                status: s.status,
                submitted_at: s.submitted_at,
                last_error: s.last_error,
                mbs_payment_status: s.mbs_payment_status,
            }),
            signed_at: i.signed_at,
            signed_payload: i.signed_payload,
            signature: i.signature,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// The invoice's line, tax and totals from its amount, tax category and percent (None while
/// the percent is not known).
pub fn figures(i: &Invoice) -> Option<crate::einvoice::Figures> {
    figures_with(i, None)
}

/// [`figures`] with the line's service category (the description of its service code in
/// MBS's `services-codes`), for the MBS payload.
pub fn figures_with(i: &Invoice, service_category: Option<String>) -> Option<crate::einvoice::Figures> {
    let percent = crate::einvoice::Percent::from_basis_points(i64::from(i.tax_percent_bp?))?;
    Some(crate::einvoice::draft_figures(
        i.amount,
        i.description.clone().unwrap_or_default(),
        i.service_code.clone().unwrap_or_default(),
        service_category,
        &i.tax_category,
        percent,
    ))
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
    // A typed filter given empty is refused like any other value that is not one.
    let given = |v: Option<String>| v.map(|s| s.trim().to_string());
    let mut f = InvoiceFilter {
        limit: DEFAULT_LIMIT,
        ..InvoiceFilter::default()
    };
    if let Some(s) = given(q.status) {
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
    if let Some(k) = given(q.kind) {
        match InvoiceKind::parse(&k) {
            Some(k) => f.kind = Some(k),
            None => {
                bad.insert("kind".into(), "must be invoice or credit_note".into());
            }
        }
    }
    if let Some(p) = given(q.payment_status) {
        match PaymentStatus::parse(&p) {
            Some(p) => f.payment_status = Some(p),
            None => {
                bad.insert("paymentStatus".into(), "must be none, pending or settled".into());
            }
        }
    }
    for (name, raw, slot) in [("from", q.from, &mut f.from), ("to", q.to, &mut f.to)] {
        if let Some(d) = given(raw) {
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
    if let Some(l) = given(q.limit) {
        match l.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => f.limit = n,
            _ => {
                bad.insert("limit".into(), format!("must be between 1 and {MAX_LIMIT}"));
            }
        }
    }
    if let Some(b) = given(q.before) {
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

pub(crate) async fn find(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<Invoice, ApiError> {
    db::get(&state.db, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("invoice not found"))
}

/// 409 unless the invoice is where `t` starts.
pub(crate) fn expect_state(invoice: &Invoice, t: Transition) -> Result<(), ApiError> {
    if invoice.status == t.from() {
        Ok(())
    } else {
        Err(ApiError::invalid_transition(t.as_str(), invoice.status.as_str()))
    }
}

/// The answer when a conditional UPDATE matched nothing: the invoice moved on (409 naming
/// where it is now) or is gone (404).
pub(crate) async fn refused(state: &AppState, tenant: &Tenant, id: Uuid, t: Transition) -> ApiError {
    match db::get(&state.db, tenant, id).await {
        Ok(Some(now)) => ApiError::invalid_transition(t.as_str(), now.status.as_str()),
        Ok(None) => ApiError::not_found("invoice not found"),
        Err(e) => e.into(),
    }
}

/// `confirm`'s body: corrections of what the draft says, each optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"buyer": {"name": "Bola Stores Ltd", "tin": "23456789-0001"}, "description": "Consulting, March"}))]
pub struct ConfirmBody {
    buyer: Option<BuyerPatch>,
    buyer_name: Option<String>,
    reference: Option<String>,
    description: Option<String>,
    #[schema(value_type = Option<chrono::NaiveDate>)]
    due_date: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    credited_invoice_id: Option<String>,
    #[schema(value_type = Option<mbs::InvoiceKind>)]
    invoice_kind: Option<String>,
    service_code: Option<String>,
    tax_category: Option<String>,
    /// Environment selectors, read by the `Tenant` extractor.
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

/// The buyer's corrections at confirmation: each member replaces the draft's; `id` names a
/// buyer directory entry to start from.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuyerPatch {
    id: Option<Uuid>,
    name: Option<String>,
    tin: Option<String>,
    email: Option<String>,
    telephone: Option<String>,
    address: Option<crate::party::Address>,
}

/// DRAFT → CONFIRMED, applying the corrections. The confirmed invoice must name a buyer and,
/// for a credit note, the invoice it credits (400 naming `buyer.name`/`creditedInvoiceId`);
/// the buyer it ends with is added to (or updates) the buyer directory, keyed by the
/// transaction's counterparty, in the same transaction.
pub async fn confirm(
    state: &AppState,
    tenant: &Tenant,
    id: Uuid,
    body: ConfirmBody,
) -> Result<InvoiceView, ApiError> {
    let invoice = find(state, tenant, id).await?;
    expect_state(&invoice, Transition::Confirm)?;
    let (mut corrections, buyer) = corrections(state, tenant, &invoice, body).await?;
    let mut tx = state.db.begin().await?;
    let entry =
        crate::services::buyers::learn(&mut tx, tenant, &buyer, None, invoice.counterparty.as_deref())
            .await?;
    let buyer = crate::party::Buyer {
        id: Some(entry),
        ..buyer
    };
    corrections.buyer = Some(serde_json::to_value(&buyer).map_err(ApiError::internal)?);
    corrections.buyer_id = Some(entry);
    let confirmed = db::confirm(&mut *tx, tenant, id, &corrections).await?;
    match confirmed {
        Some(confirmed) => {
            tx.commit().await?;
            Ok(confirmed.into())
        }
        None => {
            drop(tx);
            Err(refused(state, tenant, id, Transition::Confirm).await)
        }
    }
}

async fn corrections(
    state: &AppState,
    tenant: &Tenant,
    invoice: &Invoice,
    body: ConfirmBody,
) -> Result<(Corrections, crate::party::Buyer), ApiError> {
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
    let buyer_name = text("buyerName", body.buyer_name, 200);
    let mut c = Corrections {
        reference: text("reference", body.reference, 200),
        description: text("description", body.description, 1000),
        ..Corrections::default()
    };
    let mut buyer = invoice.buyer();
    if let Some(name) = buyer_name {
        buyer.name = name;
    }
    if let Some(patch) = body.buyer {
        if let Some(entry) = patch.id {
            match crate::db::buyers::get(&state.db, tenant, entry).await? {
                Some(found) => buyer = found.into(),
                None => {
                    bad.insert("buyer.id".into(), "is not a buyer of this organization".into());
                }
            }
        }
        if let Some(name) = patch.name {
            buyer.name = name.trim().to_owned();
        }
        let set = |slot: &mut Option<String>, value: Option<String>| {
            if let Some(v) = value {
                let v = v.trim().to_owned();
                *slot = (!v.is_empty()).then_some(v);
            }
        };
        set(&mut buyer.tin, patch.tin);
        set(&mut buyer.email, patch.email);
        set(&mut buyer.telephone, patch.telephone);
        if let Some(address) = patch.address {
            buyer.address = Some(address);
        }
    }
    if buyer.name.trim().is_empty() || buyer.name.chars().count() > 200 {
        bad.insert(
            "buyer.name".into(),
            "must be 1 to 200 characters: the draft names no buyer, give one".into(),
        );
    }
    if let Some(tin) = &buyer.tin {
        if crate::tenancy::Tin::parse(tin).is_err() {
            bad.insert("buyer.tin".into(), crate::tenancy::Tin::RULE.into());
        }
    }
    if buyer.email.as_deref().is_some_and(|e| !crate::party::is_email(e)) {
        bad.insert("buyer.email".into(), "must be an email address".into());
    }
    if buyer
        .telephone
        .as_deref()
        .is_some_and(|t| !crate::party::is_telephone(t))
    {
        bad.insert(
            "buyer.telephone".into(),
            "must start with + and hold 7 to 15 digits".into(),
        );
    }
    if let Some(address) = &buyer.address {
        address.problems("buyer.address", &mut bad);
    }
    c.buyer_name = Some(buyer.name.clone());
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
    if let Some(kind) = body.invoice_kind {
        match kind.trim() {
            k @ ("B2B" | "B2C" | "B2G") => c.invoice_kind = Some(k.to_owned()),
            _ => {
                bad.insert("invoiceKind".into(), "must be B2B, B2C or B2G".into());
            }
        }
    }
    if let Some(code) = body.service_code {
        let code = code.trim().to_owned();
        let codes = crate::services::mbs_resources::codes(state, "services-codes").await?;
        if codes.contains(&code) {
            c.service_code = Some(code);
        } else {
            bad.insert("serviceCode".into(), "is not one of MBS's services-codes".into());
        }
    }
    if let Some(category) = body.tax_category {
        let category = category.trim().to_owned();
        match crate::services::mbs_resources::tax_percent_bp(state, &category).await? {
            Some(percent) => {
                c.tax_category = Some(category);
                c.tax_percent_bp = percent;
            }
            None => {
                bad.insert("taxCategory".into(), "is not one of MBS's tax-categories".into());
            }
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
        Ok((c, buyer))
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
