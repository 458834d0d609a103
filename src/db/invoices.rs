//! Invoices: the review list, one invoice, and the state changes. Every change is ONE
//! conditional UPDATE (`… AND status = <the state it leaves>`), so of two concurrent requests
//! exactly one moves the invoice, and no statement here touches a SIGNED invoice (the
//! `invoices_signed_are_final` trigger catches any other writer). Numbers and issue dates
//! are assigned by the `invoices_before_insert` trigger on every insert path.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::invoice::{Invoice, InvoiceKind, InvoiceStatus, PaymentStatus, Submission, SubmissionStatus};
use crate::tenancy::Tenant;

use super::unknown_value;

/// An invoice row as selected (see `Invoice` for the corrections applied).
struct InvoiceRow {
    id: Uuid,
    status: String,
    kind: String,
    source: String,
    account_id: Option<String>,
    transaction_id: Option<String>,
    invoice_number: String,
    issue_date: NaiveDate,
    issue_time: NaiveTime,
    due_date: Option<NaiveDate>,
    currency: String,
    amount: i64,
    buyer_name: Option<String>,
    counterparty: Option<String>,
    buyer: Option<Value>,
    invoice_kind: Option<String>,
    service_code: Option<String>,
    tax_category: String,
    tax_percent_bp: Option<i32>,
    supplier: Option<Value>,
    billing_reference: Option<Value>,
    reference: Option<String>,
    description: Option<String>,
    payment_status: String,
    reason: Option<String>,
    rule_id: Option<String>,
    keywords: Vec<String>,
    credited_invoice_id: Option<Uuid>,
    irn: Option<String>,
    signed_at: Option<DateTime<Utc>>,
    signed_payload: Option<Value>,
    signature: Option<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    submission_status: Option<String>,
    submitted_at: Option<DateTime<Utc>>,
    submission_error: Option<String>,
    mbs_payment_status: Option<String>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = sqlx::Error;

    fn try_from(r: InvoiceRow) -> Result<Self, Self::Error> {
        Ok(Invoice {
            status: InvoiceStatus::parse(&r.status)
                .ok_or_else(|| unknown_value("invoices.status", &r.status))?,
            kind: InvoiceKind::parse(&r.kind).ok_or_else(|| unknown_value("invoices.kind", &r.kind))?,
            payment_status: PaymentStatus::parse(&r.payment_status)
                .ok_or_else(|| unknown_value("invoices.payment_status", &r.payment_status))?,
            id: r.id,
            source: r.source,
            account_id: r.account_id,
            transaction_id: r.transaction_id,
            invoice_number: r.invoice_number,
            issue_date: r.issue_date,
            issue_time: r.issue_time,
            due_date: r.due_date,
            currency: r.currency,
            amount: r.amount,
            buyer_name: r.buyer_name,
            counterparty: r.counterparty,
            buyer: r.buyer.and_then(|b| serde_json::from_value(b).ok()),
            invoice_kind: r.invoice_kind,
            service_code: r.service_code,
            tax_category: r.tax_category,
            tax_percent_bp: r.tax_percent_bp,
            supplier: r.supplier.and_then(|b| serde_json::from_value(b).ok()),
            billing_reference: r.billing_reference.and_then(|b| serde_json::from_value(b).ok()),
            reference: r.reference,
            description: r.description,
            reason: r.reason,
            rule_id: r.rule_id,
            keywords: r.keywords,
            credited_invoice_id: r.credited_invoice_id,
            irn: r.irn,
            signed_at: r.signed_at,
            signed_payload: r.signed_payload,
            signature: r.signature,
            created_at: r.created_at,
            updated_at: r.updated_at,
            submission: match r.submission_status {
                Some(status) => Some(Submission {
                    status: SubmissionStatus::parse(&status)
                        .ok_or_else(|| unknown_value("invoice_submissions.status", &status))?,
                    submitted_at: r.submitted_at,
                    last_error: r.submission_error,
                    mbs_payment_status: r.mbs_payment_status,
                }),
                None => None,
            },
        })
    }
}

fn one(row: Option<InvoiceRow>) -> Result<Option<Invoice>, sqlx::Error> {
    row.map(Invoice::try_from).transpose()
}

#[derive(Debug, Default, Clone)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub account_id: Option<String>,
    pub kind: Option<InvoiceKind>,
    pub payment_status: Option<PaymentStatus>,
    /// Issue dates from and to, both included.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Keyset cursor: rows strictly older than this `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Up to `limit + 1` invoices, newest first, so the caller knows whether a next page exists.
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    f: &InvoiceFilter,
) -> Result<Vec<Invoice>, sqlx::Error> {
    let (before_at, before_id) = f.before.unzip();
    let rows = sqlx::query_as!(
        InvoiceRow,
        r#"
        SELECT i.id, i.status, i.kind, i.source, i.account_id, i.transaction_id, i.invoice_number, i.issue_date,
               i.issue_time, i.due_date, i.currency, i.amount, coalesce(i.buyer_name, i.counterparty) AS buyer_name,
               i.counterparty, i.buyer, i.invoice_kind, i.service_code, i.tax_category, i.tax_percent_bp,
               i.supplier, i.billing_reference, i.reference,
               coalesce(i.description, i.narration) AS description, i.payment_status, i.reason, i.rule_id,
               i.keywords, i.credited_invoice_id, i.irn, i.signed_at, i.signed_payload, i.signature,
               i.created_at, i.updated_at,
               s.status AS "submission_status?", s.submitted_at AS "submitted_at?", s.last_error AS "submission_error?",
               s.mbs_payment_status AS "mbs_payment_status?"
        FROM invoices i LEFT JOIN invoice_submissions s ON s.invoice_id = i.id
        WHERE i.env_id = $1 AND i.org_id = $2
          AND ($3::text IS NULL OR i.status = $3)
          AND ($4::text IS NULL OR i.account_id = $4)
          AND ($5::text IS NULL OR i.kind = $5)
          AND ($6::text IS NULL OR i.payment_status = $6)
          AND ($7::date IS NULL OR i.issue_date >= $7)
          AND ($8::date IS NULL OR i.issue_date <= $8)
          AND ($9::timestamptz IS NULL OR (i.created_at, i.id) < ($9, $10::uuid))
        ORDER BY i.created_at DESC, i.id DESC
        LIMIT $11
        "#,
        tenant.env_id,
        tenant.org_id,
        f.status.map(InvoiceStatus::as_str),
        f.account_id,
        f.kind.map(InvoiceKind::as_str),
        f.payment_status.map(PaymentStatus::as_str),
        f.from,
        f.to,
        before_at,
        before_id,
        f.limit + 1
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

pub async fn get(db: impl PgExecutor<'_>, tenant: &Tenant, id: Uuid) -> Result<Option<Invoice>, sqlx::Error> {
    let row = sqlx::query_as!(
        InvoiceRow,
        r#"
        SELECT i.id, i.status, i.kind, i.source, i.account_id, i.transaction_id, i.invoice_number, i.issue_date,
               i.issue_time, i.due_date, i.currency, i.amount, coalesce(i.buyer_name, i.counterparty) AS buyer_name,
               i.counterparty, i.buyer, i.invoice_kind, i.service_code, i.tax_category, i.tax_percent_bp,
               i.supplier, i.billing_reference, i.reference,
               coalesce(i.description, i.narration) AS description, i.payment_status, i.reason, i.rule_id,
               i.keywords, i.credited_invoice_id, i.irn, i.signed_at, i.signed_payload, i.signature,
               i.created_at, i.updated_at,
               s.status AS "submission_status?", s.submitted_at AS "submitted_at?", s.last_error AS "submission_error?",
               s.mbs_payment_status AS "mbs_payment_status?"
        FROM invoices i LEFT JOIN invoice_submissions s ON s.invoice_id = i.id
        WHERE i.id = $1 AND i.env_id = $2 AND i.org_id = $3
        "#,
        id,
        tenant.env_id,
        tenant.org_id
    )
    .fetch_optional(db)
    .await?;
    one(row)
}

/// Whether the tenant has a (non-discarded) invoice of kind `invoice` with this id: what a
/// credit note may credit.
pub async fn creditable_exists(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let found = sqlx::query_scalar!(
        r#"
        SELECT EXISTS (
            SELECT 1 FROM invoices
            WHERE id = $1 AND env_id = $2 AND org_id = $3 AND kind = 'invoice' AND status <> 'DISCARDED'
        ) AS "found!"
        "#,
        id,
        tenant.env_id,
        tenant.org_id
    )
    .fetch_one(db)
    .await?;
    Ok(found)
}

/// What a confirmation may correct; `None` leaves the stored value.
#[derive(Debug, Default, Clone)]
pub struct Corrections {
    pub buyer_name: Option<String>,
    /// The buyer the invoice ends with (`{id?, name, tin?, …}`), as JSON.
    pub buyer: Option<Value>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub credited_invoice_id: Option<Uuid>,
    pub invoice_kind: Option<String>,
    pub service_code: Option<String>,
    pub tax_category: Option<String>,
    pub tax_percent_bp: Option<i32>,
    /// The buyer directory's entry the buyer went to.
    pub buyer_id: Option<Uuid>,
}

/// DRAFT → CONFIRMED with the corrections; `None` when the invoice is not (or no longer) a
/// DRAFT of this tenant.
pub async fn confirm(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    c: &Corrections,
) -> Result<Option<Invoice>, sqlx::Error> {
    let row = sqlx::query_as!(
        InvoiceRow,
        r#"
        UPDATE invoices
        SET status = 'CONFIRMED',
            buyer_name = coalesce($4, buyer_name),
            reference = coalesce($5, reference),
            description = coalesce($6, description),
            due_date = coalesce($7, due_date),
            credited_invoice_id = coalesce($8, credited_invoice_id),
            buyer = coalesce($9, buyer),
            invoice_kind = coalesce($10, invoice_kind),
            service_code = coalesce($11, service_code),
            tax_category = coalesce($12, tax_category),
            tax_percent_bp = CASE WHEN $12::text IS NULL THEN tax_percent_bp ELSE $13 END,
            buyer_id = coalesce($14, buyer_id),
            updated_at = now()
        WHERE id = $1 AND env_id = $2 AND org_id = $3 AND status = 'DRAFT'
        RETURNING id, status, kind, source, account_id, transaction_id, invoice_number, issue_date, issue_time,
                  due_date, currency, amount, coalesce(buyer_name, counterparty) AS buyer_name, counterparty,
                  buyer, invoice_kind, service_code, tax_category, tax_percent_bp, supplier, billing_reference,
                  reference, coalesce(description, narration) AS description, payment_status, reason, rule_id,
                  keywords, credited_invoice_id, irn, signed_at, signed_payload, signature, created_at, updated_at,
                  NULL::text AS "submission_status?", NULL::timestamptz AS "submitted_at?",
                  NULL::text AS "submission_error?", NULL::text AS "mbs_payment_status?"
        "#,
        id,
        tenant.env_id,
        tenant.org_id,
        c.buyer_name,
        c.reference,
        c.description,
        c.due_date,
        c.credited_invoice_id,
        c.buyer,
        c.invoice_kind,
        c.service_code,
        c.tax_category,
        c.tax_percent_bp,
        c.buyer_id
    )
    .fetch_optional(db)
    .await?;
    one(row)
}

/// `from → to` with nothing else changed (discard, validate); `None` when the invoice is not
/// in `from` (or not this tenant's). Never used to leave SIGNED.
pub async fn set_status(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    from: InvoiceStatus,
    to: InvoiceStatus,
) -> Result<Option<Invoice>, sqlx::Error> {
    debug_assert_ne!(from, InvoiceStatus::Signed);
    let row = sqlx::query_as!(
        InvoiceRow,
        r#"
        UPDATE invoices
        SET status = $5, updated_at = now()
        WHERE id = $1 AND env_id = $2 AND org_id = $3 AND status = $4 AND status <> 'SIGNED'
        RETURNING id, status, kind, source, account_id, transaction_id, invoice_number, issue_date, issue_time,
                  due_date, currency, amount, coalesce(buyer_name, counterparty) AS buyer_name, counterparty,
                  buyer, invoice_kind, service_code, tax_category, tax_percent_bp, supplier, billing_reference,
                  reference, coalesce(description, narration) AS description, payment_status, reason, rule_id,
                  keywords, credited_invoice_id, irn, signed_at, signed_payload, signature, created_at, updated_at,
                  NULL::text AS "submission_status?", NULL::timestamptz AS "submitted_at?",
                  NULL::text AS "submission_error?", NULL::text AS "mbs_payment_status?"
        "#,
        id,
        tenant.env_id,
        tenant.org_id,
        from.as_str(),
        to.as_str()
    )
    .fetch_optional(db)
    .await?;
    one(row)
}

/// VALIDATED → SIGNED with the IRN, the signed payload and its signature; `None` when the
/// invoice is not (or no longer) VALIDATED.
pub async fn sign(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    irn: &str,
    payload: &Value,
    signature: &Value,
) -> Result<Option<Invoice>, sqlx::Error> {
    let row = sqlx::query_as!(
        InvoiceRow,
        r#"
        UPDATE invoices
        SET status = 'SIGNED', irn = $4, signed_payload = $5, signature = $6, signed_at = now(), updated_at = now()
        WHERE id = $1 AND env_id = $2 AND org_id = $3 AND status = 'VALIDATED'
        RETURNING id, status, kind, source, account_id, transaction_id, invoice_number, issue_date, issue_time,
                  due_date, currency, amount, coalesce(buyer_name, counterparty) AS buyer_name, counterparty,
                  buyer, invoice_kind, service_code, tax_category, tax_percent_bp, supplier, billing_reference,
                  reference, coalesce(description, narration) AS description, payment_status, reason, rule_id,
                  keywords, credited_invoice_id, irn, signed_at, signed_payload, signature, created_at, updated_at,
                  NULL::text AS "submission_status?", NULL::timestamptz AS "submitted_at?",
                  NULL::text AS "submission_error?", NULL::text AS "mbs_payment_status?"
        "#,
        id,
        tenant.env_id,
        tenant.org_id,
        irn,
        payload,
        signature
    )
    .fetch_optional(db)
    .await?;
    one(row)
}

/// A draft made outside a sync (a manual invoice, or a test's seed). Its number and issue date
/// come from the insert trigger, as for every other insert.
#[derive(Debug, Clone)]
pub struct NewDraft {
    pub source: &'static str,
    pub kind: InvoiceKind,
    pub account_id: Option<String>,
    pub transaction_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub counterparty: Option<String>,
    pub narration: Option<String>,
    pub description: Option<String>,
    pub transaction_date: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub rule_id: Option<String>,
    pub keywords: Vec<String>,
}

pub async fn insert_draft(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    d: &NewDraft,
) -> Result<Invoice, sqlx::Error> {
    let row = sqlx::query_as!(
        InvoiceRow,
        r#"
        INSERT INTO invoices (id, org_id, env_id, source, kind, account_id, transaction_id, amount, currency,
                              reference, counterparty, narration, description, transaction_date, reason,
                              rule_id, keywords)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        RETURNING id, status, kind, source, account_id, transaction_id, invoice_number, issue_date, issue_time,
                  due_date, currency, amount, coalesce(buyer_name, counterparty) AS buyer_name, counterparty,
                  buyer, invoice_kind, service_code, tax_category, tax_percent_bp, supplier, billing_reference,
                  reference, coalesce(description, narration) AS description, payment_status, reason, rule_id,
                  keywords, credited_invoice_id, irn, signed_at, signed_payload, signature, created_at, updated_at,
                  NULL::text AS "submission_status?", NULL::timestamptz AS "submitted_at?",
                  NULL::text AS "submission_error?", NULL::text AS "mbs_payment_status?"
        "#,
        Uuid::now_v7(),
        tenant.org_id,
        tenant.env_id,
        d.source,
        d.kind.as_str(),
        d.account_id,
        d.transaction_id,
        d.amount,
        d.currency,
        d.reference,
        d.counterparty,
        d.narration,
        d.description,
        d.transaction_date,
        d.reason,
        d.rule_id,
        &d.keywords
    )
    .fetch_one(db)
    .await?;
    row.try_into()
}

/// The tenant's VALIDATED invoices among `ids` (all of them when None) matching the filter,
/// oldest first, at most `limit`: what a bulk submission takes.
pub async fn validated_ids(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    ids: Option<&[Uuid]>,
    account_id: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        SELECT id FROM invoices
        WHERE env_id = $1 AND org_id = $2 AND status = 'VALIDATED'
          AND ($3::uuid[] IS NULL OR id = ANY($3))
          AND ($4::text IS NULL OR account_id = $4)
          AND ($5::date IS NULL OR issue_date >= $5)
          AND ($6::date IS NULL OR issue_date <= $6)
        ORDER BY created_at, id
        LIMIT $7
        "#,
        tenant.env_id,
        tenant.org_id,
        ids as Option<&[Uuid]>,
        account_id,
        from,
        to,
        limit
    )
    .fetch_all(db)
    .await
}
