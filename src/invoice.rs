//! Invoices as a domain: their states and the transitions between them, what an e-invoice
//! needs before it may be signed (`problems`), the IRN, and the payload that is signed.
//! Pure: no I/O; the database row becomes an [`Invoice`] in `db::invoices`.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// Where an invoice's submission to MBS stands: `prepared` at validation, `submitted` while
/// a sign call is out, then `accepted` (the invoice is SIGNED), `rejected` (MBS refused it;
/// it may be signed again) or `unknown` (no answer; settled by asking MBS before anything is
/// sent again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    Prepared,
    Submitted,
    Accepted,
    Rejected,
    Unknown,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Prepared => "prepared",
            SubmissionStatus::Submitted => "submitted",
            SubmissionStatus::Accepted => "accepted",
            SubmissionStatus::Rejected => "rejected",
            SubmissionStatus::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "prepared" => Some(SubmissionStatus::Prepared),
            "submitted" => Some(SubmissionStatus::Submitted),
            "accepted" => Some(SubmissionStatus::Accepted),
            "rejected" => Some(SubmissionStatus::Rejected),
            "unknown" => Some(SubmissionStatus::Unknown),
            _ => None,
        }
    }
}

/// An invoice's submission to MBS, as the invoice shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub status: SubmissionStatus,
    pub submitted_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// What MBS was last told of the payment (`PAID`).
    pub mbs_payment_status: Option<String>,
}

/// The credited invoice's reference a credit note carries.
pub use crate::einvoice::BillingReference;

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
    pub issue_time: NaiveTime,
    pub due_date: Option<NaiveDate>,
    pub currency: String,
    pub amount: i64,
    pub buyer_name: Option<String>,
    /// The counterparty as Mono sent it (what the buyer directory matches on).
    pub counterparty: Option<String>,
    /// The buyer as confirmed; None: the draft's (`buyer_name`).
    pub buyer: Option<crate::party::Buyer>,
    /// `B2B`, `B2C` or `B2G` when set at confirmation.
    pub invoice_kind: Option<String>,
    /// The line's service code (MBS `services-codes`).
    pub service_code: Option<String>,
    /// The tax category (MBS `tax-categories`) and its percent in hundredths, when known.
    pub tax_category: String,
    pub tax_percent_bp: Option<i32>,
    /// The supplier as validated.
    pub supplier: Option<crate::party::Supplier>,
    pub billing_reference: Option<BillingReference>,
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
    pub submission: Option<Submission>,
}

impl Invoice {
    /// The buyer the invoice names: as confirmed, else the draft's name.
    pub fn buyer(&self) -> crate::party::Buyer {
        match &self.buyer {
            Some(b) => b.clone(),
            None => crate::party::Buyer {
                name: self.buyer_name.clone().unwrap_or_default(),
                ..crate::party::Buyer::default()
            },
        }
    }

    /// 381 for an invoice, 380 for a credit note (MBS's `invoice-types`).
    pub fn type_code(&self) -> &'static str {
        match self.kind {
            InvoiceKind::Invoice => crate::einvoice::INVOICE_TYPE_CODE,
            InvoiceKind::CreditNote => crate::einvoice::CREDIT_NOTE_TYPE_CODE,
        }
    }
}

/// What `validate` checks an invoice against besides itself: the supplier (the profile), the
/// credited invoice of a credit note, and MBS's code lists as cached (None: the list could not
/// be had, so the code is left to MBS to judge).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub supplier: Option<crate::party::Supplier>,
    /// The credited invoice: (its status, its IRN, its issue date), when it still exists.
    pub credited: Option<(InvoiceStatus, Option<String>, NaiveDate)>,
    pub service_codes: Option<Vec<String>>,
    pub tax_categories: Option<Vec<String>>,
}

/// The invoice kind the invoice is submitted as: as set at confirmation, else B2B when the
/// buyer has a TIN, else B2C (`einvoice::invoice_kind`).
pub fn mbs_kind(invoice: &Invoice) -> mbs::InvoiceKind {
    let set = match invoice.invoice_kind.as_deref() {
        Some("B2B") => Some(mbs::InvoiceKind::B2B),
        Some("B2G") => Some(mbs::InvoiceKind::B2G),
        Some("B2C") => Some(mbs::InvoiceKind::B2C),
        _ => None,
    };
    crate::einvoice::invoice_kind(&invoice.buyer(), set)
}

/// [`mbs_kind`]'s name, as the API writes it.
pub fn invoice_kind(invoice: &Invoice) -> &'static str {
    match mbs_kind(invoice) {
        mbs::InvoiceKind::B2B => "B2B",
        mbs::InvoiceKind::B2C => "B2C",
        mbs::InvoiceKind::B2G => "B2G",
    }
}

/// Everything that keeps `invoice` from being a valid e-invoice, by field, all at once: what
/// MBS requires of the invoice, its supplier (the organization profile) and its buyer.
pub fn problems(invoice: &Invoice, ctx: &Context) -> FieldErrors {
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
    if invoice.due_date.is_some_and(|d| d < invoice.issue_date) {
        problem("dueDate", "must not be before the issue date");
    }
    if !is_currency_code(&invoice.currency) {
        problem("currency", "must be an ISO 4217 code (three upper-case letters)");
    }
    if invoice.amount <= 0 {
        problem("amount", "must be above zero");
    }
    match &ctx.supplier {
        None => problem("supplier", "the organization profile is missing"),
        Some(supplier) => {
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
            if supplier.business_id.is_none() {
                problem(
                    "supplier.businessId",
                    "is missing: set the organization profile's businessId (the UUID MBS issued the business)",
                );
            }
            match supplier.email.as_deref() {
                None | Some("") => problem(
                    "supplier.email",
                    "is missing: set the organization profile's email",
                ),
                Some(e) if !crate::party::is_email(e) => {
                    problem("supplier.email", "must be an email address")
                }
                Some(_) => {}
            }
            match supplier.telephone.as_deref() {
                None | Some("") => problem(
                    "supplier.telephone",
                    "is missing: set the organization profile's telephone",
                ),
                Some(t) if !crate::party::is_telephone(t) => {
                    problem("supplier.telephone", "must start with + and hold 7 to 15 digits")
                }
                Some(_) => {}
            }
            match &supplier.address {
                None => problem(
                    "supplier.address",
                    "is missing: set the organization profile's address",
                ),
                Some(a) => {
                    let mut nested = FieldErrors::new();
                    a.problems("supplier.address", &mut nested);
                    for (k, v) in nested {
                        problem(&k, &v);
                    }
                }
            }
        }
    }
    let buyer = invoice.buyer();
    if buyer.name.trim().is_empty() {
        problem("buyer.name", "is missing: confirm the invoice with a buyer name");
    }
    let kind = invoice_kind(invoice);
    // A party sent to MBS must be complete: always for B2B and B2G, and for B2C once a TIN
    // is given (without one the buyer party is left out).
    let party_sent = kind != "B2C" || buyer.tin.as_deref().is_some_and(|t| !t.is_empty());
    match buyer.tin.as_deref() {
        Some(tin) if !tin.is_empty() && crate::tenancy::Tin::parse(tin).is_err() => {
            problem("buyer.tin", crate::tenancy::Tin::RULE)
        }
        None | Some("") if party_sent => problem("buyer.tin", &format!("is required for a {kind} invoice")),
        _ => {}
    }
    if party_sent {
        match buyer.email.as_deref() {
            None | Some("") => problem("buyer.email", &format!("is required for a {kind} invoice")),
            Some(e) if !crate::party::is_email(e) => problem("buyer.email", "must be an email address"),
            Some(_) => {}
        }
        match buyer.telephone.as_deref() {
            None | Some("") => problem("buyer.telephone", &format!("is required for a {kind} invoice")),
            Some(t) if !crate::party::is_telephone(t) => {
                problem("buyer.telephone", "must start with + and hold 7 to 15 digits")
            }
            Some(_) => {}
        }
        match &buyer.address {
            None => problem("buyer.address", &format!("is required for a {kind} invoice")),
            Some(a) => {
                let mut nested = FieldErrors::new();
                a.problems("buyer.address", &mut nested);
                for (k, v) in nested {
                    problem(&k, &v);
                }
            }
        }
    }
    match invoice.service_code.as_deref() {
        None | Some("") => problem(
            "lines[0].serviceCode",
            "is missing: confirm with a serviceCode, or set the profile's defaults.serviceCode",
        ),
        Some(code)
            if ctx
                .service_codes
                .as_ref()
                .is_some_and(|codes| !codes.iter().any(|c| c == code)) =>
        {
            problem("lines[0].serviceCode", "is not one of MBS's services-codes")
        }
        Some(_) => {}
    }
    let category = invoice.tax_category.as_str();
    if ctx
        .tax_categories
        .as_ref()
        .is_some_and(|cats| !cats.iter().any(|c| c == category))
    {
        problem("tax.category", "is not one of MBS's tax-categories");
    } else if invoice.tax_percent_bp.is_none() {
        problem(
            "tax.percent",
            "MBS's tax-categories give this category no percent",
        );
    }
    if invoice.kind == InvoiceKind::CreditNote {
        match (invoice.credited_invoice_id, &ctx.credited) {
            (None, _) => problem(
                "creditedInvoiceId",
                "a credit note must name the invoice it credits: confirm it with a creditedInvoiceId",
            ),
            (Some(_), None) => problem("creditedInvoiceId", "the credited invoice no longer exists"),
            (Some(_), Some((status, _, _))) if *status != InvoiceStatus::Signed => {
                problem("creditedInvoiceId", "the credited invoice must be SIGNED")
            }
            _ => {}
        }
    }
    fields
}

pub use crate::einvoice::is_currency_code;

/// The invoice reference number: `{invoiceNumber}-{serviceId}-{YYYYMMDD}` of the issue date.
pub fn irn(invoice: &Invoice, service_id: &str) -> String {
    format!(
        "{}-{}-{}",
        invoice.invoice_number,
        service_id,
        invoice.issue_date.format("%Y%m%d")
    )
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
            issue_time: NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
            due_date: None,
            currency: "NGN".into(),
            amount: 150_000,
            buyer_name: Some("Bola Stores".into()),
            counterparty: Some("BOLA STORES".into()),
            buyer: None,
            invoice_kind: None,
            service_code: Some("6920".into()),
            tax_category: "STANDARD_VAT".into(),
            tax_percent_bp: Some(750),
            supplier: None,
            billing_reference: None,
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
            submission: None,
        }
    }

    fn supplier() -> crate::party::Supplier {
        crate::party::Supplier {
            name: "Acme Ltd".into(),
            tin: Some("12345678-0001".into()),
            email: Some("billing@acme.ng".into()),
            telephone: Some("+2348012345678".into()),
            address: Some(address()),
            business_id: Some(Uuid::nil()),
            service_id: "AB12CD34".into(),
            description: None,
        }
    }

    fn address() -> crate::party::Address {
        crate::party::Address {
            street: "1 Marina".into(),
            city: "Lagos".into(),
            postal_zone: None,
            country: "NG".into(),
            state: Some("NG-LA".into()),
            lga: None,
        }
    }

    fn ctx() -> Context {
        Context {
            supplier: Some(supplier()),
            credited: None,
            service_codes: Some(vec!["6920".into()]),
            tax_categories: Some(vec!["STANDARD_VAT".into(), "ZERO_VAT".into()]),
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
    fn a_complete_b2c_invoice_has_no_problems() {
        assert!(
            problems(&invoice(), &ctx()).is_empty(),
            "{:?}",
            problems(&invoice(), &ctx())
        );
        assert_eq!(invoice_kind(&invoice()), "B2C");
    }

    #[test]
    fn a_buyer_with_a_tin_makes_a_b2b_invoice_that_needs_the_whole_party() {
        let mut inv = invoice();
        inv.buyer = Some(crate::party::Buyer {
            name: "Bola Stores Ltd".into(),
            tin: Some("87654321-0001".into()),
            ..crate::party::Buyer::default()
        });
        assert_eq!(invoice_kind(&inv), "B2B");
        let names: Vec<String> = problems(&inv, &ctx()).into_keys().collect();
        assert_eq!(names, ["buyer.address", "buyer.email", "buyer.telephone"]);
        inv.buyer = Some(crate::party::Buyer {
            name: "Bola Stores Ltd".into(),
            tin: Some("87654321-0001".into()),
            email: Some("ap@bola.ng".into()),
            telephone: Some("+2348099999999".into()),
            address: Some(address()),
            id: None,
        });
        assert!(problems(&inv, &ctx()).is_empty());
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let mut inv = invoice();
        inv.invoice_number = "INV-1".into();
        inv.currency = "ngn".into();
        inv.amount = 0;
        inv.buyer_name = Some("  ".into());
        inv.kind = InvoiceKind::CreditNote;
        inv.service_code = Some("9999".into());
        inv.tax_category = "LUXURY".into();
        let mut c = ctx();
        let mut sup = supplier();
        sup.name = String::new();
        sup.tin = None;
        sup.business_id = None;
        sup.telephone = Some("0801".into());
        c.supplier = Some(sup);
        let found = problems(&inv, &c);
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "amount",
                "buyer.name",
                "creditedInvoiceId",
                "currency",
                "invoiceNumber",
                "lines[0].serviceCode",
                "supplier.businessId",
                "supplier.name",
                "supplier.telephone",
                "supplier.tin",
                "tax.category"
            ]
        );
    }

    #[test]
    fn a_credit_note_needs_its_invoice_signed() {
        let mut inv = invoice();
        inv.kind = InvoiceKind::CreditNote;
        inv.credited_invoice_id = Some(Uuid::nil());
        let mut c = ctx();
        c.credited = Some((InvoiceStatus::Validated, None, inv.issue_date));
        assert!(problems(&inv, &c).contains_key("creditedInvoiceId"));
        c.credited = Some((
            InvoiceStatus::Signed,
            Some("INV1-AB12CD34-20260101".into()),
            inv.issue_date,
        ));
        assert!(problems(&inv, &c).is_empty());
        assert_eq!(inv.type_code(), "380");
    }

    #[test]
    fn the_irn() {
        assert_eq!(irn(&invoice(), "AB12CD34"), "INV000042-AB12CD34-20260309");
    }
}
