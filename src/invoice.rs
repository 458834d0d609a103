//! Invoices as a domain: their states and the transitions between them, what an e-invoice
//! needs before it may be signed (`problems`), the IRN, and the payload that is signed.
//! Pure: no I/O; the database row becomes an [`Invoice`] in `db::invoices`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::FieldErrors;

/// `DRAFT → CONFIRMED → VALIDATED → SIGNED`, and `DRAFT → DISCARDED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceStatus {
    Draft,
    Confirmed,
    Validated,
    Signed,
    Discarded,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "DRAFT",
            InvoiceStatus::Confirmed => "CONFIRMED",
            InvoiceStatus::Validated => "VALIDATED",
            InvoiceStatus::Signed => "SIGNED",
            InvoiceStatus::Discarded => "DISCARDED",
        }
    }

    /// Case-insensitive, as a query parameter may write it.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "DRAFT" => Some(InvoiceStatus::Draft),
            "CONFIRMED" => Some(InvoiceStatus::Confirmed),
            "VALIDATED" => Some(InvoiceStatus::Validated),
            "SIGNED" => Some(InvoiceStatus::Signed),
            "DISCARDED" => Some(InvoiceStatus::Discarded),
            _ => None,
        }
    }
}

/// The four requests that move an invoice, each allowed from exactly one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Confirm,
    Discard,
    Validate,
    Sign,
}

impl Transition {
    pub fn from(self) -> InvoiceStatus {
        match self {
            Transition::Confirm | Transition::Discard => InvoiceStatus::Draft,
            Transition::Validate => InvoiceStatus::Confirmed,
            Transition::Sign => InvoiceStatus::Validated,
        }
    }

    pub fn to(self) -> InvoiceStatus {
        match self {
            Transition::Confirm => InvoiceStatus::Confirmed,
            Transition::Discard => InvoiceStatus::Discarded,
            Transition::Validate => InvoiceStatus::Validated,
            Transition::Sign => InvoiceStatus::Signed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Confirm => "confirm",
            Transition::Discard => "discard",
            Transition::Validate => "validate",
            Transition::Sign => "sign",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Invoice,
    CreditNote,
}

impl InvoiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Invoice => "invoice",
            InvoiceKind::CreditNote => "credit_note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invoice" => Some(InvoiceKind::Invoice),
            "credit_note" => Some(InvoiceKind::CreditNote),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    None,
    Pending,
    Settled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::None => "none",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Settled => "settled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(PaymentStatus::None),
            "pending" => Some(PaymentStatus::Pending),
            "settled" => Some(PaymentStatus::Settled),
            _ => None,
        }
    }
}

/// An invoice as stored, with the corrections of its review applied (`buyer_name` is the
/// corrected name, else the counterparty Mono sent; `description` else the narration).
#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: Uuid,
    pub status: InvoiceStatus,
    pub kind: InvoiceKind,
    pub source: String,
    pub account_id: Option<String>,
    pub transaction_id: Option<String>,
    pub invoice_number: String,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub currency: String,
    pub amount: i64,
    pub buyer_name: Option<String>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub payment_status: PaymentStatus,
    pub reason: Option<String>,
    pub rule_id: Option<String>,
    pub keywords: Vec<String>,
    pub credited_invoice_id: Option<Uuid>,
    pub irn: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub signed_payload: Option<Value>,
    pub signature: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The supplier of every invoice of an organization: its profile.
#[derive(Debug, Clone)]
pub struct Supplier {
    pub name: String,
    pub tin: Option<String>,
    pub service_id: String,
}

/// Everything that keeps `invoice` from being a valid e-invoice, by field, all at once.
/// `credited_exists` says whether the invoice a credit note credits is still there.
pub fn problems(invoice: &Invoice, supplier: &Supplier, credited_exists: bool) -> FieldErrors {
    let mut fields = FieldErrors::new();
    let mut problem = |field: &str, text: &str| {
        fields.insert(field.to_string(), text.to_string());
    };
    let number = &invoice.invoice_number;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        problem("invoiceNumber", "must be letters and digits only");
    }
    // A date the IRN can carry: four-digit years only.
    if !(1..=9999).contains(&chrono::Datelike::year(&invoice.issue_date)) {
        problem("issueDate", "must be a calendar date");
    }
    if !is_currency_code(&invoice.currency) {
        problem("currency", "must be an ISO 4217 code (three upper-case letters)");
    }
    if invoice.amount <= 0 {
        problem("amount", "must be above zero");
    }
    if supplier.name.trim().is_empty() {
        problem("supplier.name", "is missing: set the organization profile's name");
    }
    match supplier.tin.as_deref() {
        None | Some("") => problem("supplier.tin", "is missing: set the organization profile's TIN"),
        Some(tin) if crate::tenancy::Tin::parse(tin).is_err() => {
            problem("supplier.tin", crate::tenancy::Tin::RULE)
        }
        Some(_) => {}
    }
    if crate::tenancy::ServiceId::parse(&supplier.service_id).is_err() {
        problem("supplier.serviceId", crate::tenancy::ServiceId::RULE);
    }
    if invoice.buyer_name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        problem("buyer.name", "is missing: confirm the invoice with a buyerName");
    }
    if invoice.kind == InvoiceKind::CreditNote {
        match invoice.credited_invoice_id {
            None => problem(
                "creditedInvoiceId",
                "a credit note must name the invoice it credits: confirm it with a creditedInvoiceId",
            ),
            Some(_) if !credited_exists => {
                problem("creditedInvoiceId", "the credited invoice no longer exists")
            }
            Some(_) => {}
        }
    }
    fields
}

/// Three upper-case ASCII letters, the shape of an ISO 4217 alphabetic code.
pub fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// The invoice reference number: `{invoiceNumber}-{serviceId}-{YYYYMMDD}` of the issue date.
pub fn irn(invoice: &Invoice, service_id: &str) -> String {
    format!(
        "{}-{}-{}",
        invoice.invoice_number,
        service_id,
        invoice.issue_date.format("%Y%m%d")
    )
}

/// The document that is signed, exactly these members (absent values are `null`).
pub fn signed_payload(invoice: &Invoice, supplier: &Supplier, irn: &str) -> Value {
    json!({
        "irn": irn,
        "invoiceNumber": invoice.invoice_number,
        "issueDate": invoice.issue_date.format("%Y-%m-%d").to_string(),
        "currency": invoice.currency,
        "amount": invoice.amount,
        "kind": invoice.kind.as_str(),
        "supplier": {
            "name": supplier.name,
            "tin": supplier.tin,
            "serviceId": supplier.service_id,
        },
        "buyer": {"name": invoice.buyer_name},
        "reference": invoice.reference,
        "description": invoice.description,
        "transactionId": invoice.transaction_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> Invoice {
        Invoice {
            id: Uuid::nil(),
            status: InvoiceStatus::Confirmed,
            kind: InvoiceKind::Invoice,
            source: "mono".into(),
            account_id: Some("acc".into()),
            transaction_id: Some("tx1".into()),
            invoice_number: "INV000042".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
            due_date: None,
            currency: "NGN".into(),
            amount: 150_000,
            buyer_name: Some("Bola Stores".into()),
            reference: Some("INV-77".into()),
            description: Some("Payment for goods".into()),
            payment_status: PaymentStatus::None,
            reason: Some("business_keyword".into()),
            rule_id: None,
            keywords: vec![],
            credited_invoice_id: None,
            irn: None,
            signed_at: None,
            signed_payload: None,
            signature: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn supplier() -> Supplier {
        Supplier {
            name: "Acme Ltd".into(),
            tin: Some("12345678-0001".into()),
            service_id: "AB12CD34".into(),
        }
    }

    #[test]
    fn transitions_leave_one_state_each() {
        use Transition::*;
        assert_eq!(Confirm.from(), InvoiceStatus::Draft);
        assert_eq!(Discard.from(), InvoiceStatus::Draft);
        assert_eq!(Validate.from(), InvoiceStatus::Confirmed);
        assert_eq!(Sign.from(), InvoiceStatus::Validated);
        assert_eq!(Sign.to(), InvoiceStatus::Signed);
        assert_eq!(InvoiceStatus::parse("signed"), Some(InvoiceStatus::Signed));
        assert_eq!(InvoiceStatus::parse("nope"), None);
    }

    #[test]
    fn a_complete_invoice_has_no_problems() {
        assert!(problems(&invoice(), &supplier(), true).is_empty());
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let mut inv = invoice();
        inv.invoice_number = "INV-1".into();
        inv.currency = "ngn".into();
        inv.amount = 0;
        inv.buyer_name = Some("  ".into());
        inv.kind = InvoiceKind::CreditNote;
        let mut sup = supplier();
        sup.name = String::new();
        sup.tin = None;
        let found = problems(&inv, &sup, true);
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "amount",
                "buyer.name",
                "creditedInvoiceId",
                "currency",
                "invoiceNumber",
                "supplier.name",
                "supplier.tin"
            ]
        );
    }

    #[test]
    fn irn_and_payload() {
        let inv = invoice();
        let irn = irn(&inv, "AB12CD34");
        assert_eq!(irn, "INV000042-AB12CD34-20260309");
        let payload = signed_payload(&inv, &supplier(), &irn);
        let keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "amount",
                "buyer",
                "currency",
                "description",
                "invoiceNumber",
                "irn",
                "issueDate",
                "kind",
                "reference",
                "supplier",
                "transactionId"
            ]
        );
        assert_eq!(payload["issueDate"], "2026-03-09");
        assert_eq!(payload["supplier"]["serviceId"], "AB12CD34");
        assert_eq!(payload["amount"], 150_000);
    }
}
