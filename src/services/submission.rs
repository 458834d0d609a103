//! Invoices become e-invoices: `validate` (every problem of the invoice and the profile at
//! once, then the IRN fixed and MBS's `irn/validate` and `validate`), `sign` (MBS's `sign`,
//! the submission) and the job that settles a submission whose outcome is unknown.
//!
//! One invoice is never submitted twice. A sign call is made only by whoever moved the
//! invoice's submission to `submitted` (one conditional UPDATE: of two replicas exactly one
//! wins), and in the same transaction the settle job is queued to run once that call's lease
//! is over: if the caller dies mid-call the job finds the submission still `submitted` and
//! asks MBS (`confirm`) before anything is sent again. A call whose outcome is unknown
//! (timeout, 5xx, connection lost) is settled the same way, at once and then by the job.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::db;
use crate::db::submissions::{self as store, Validated};
use crate::error::{ApiError, FieldErrors};
use crate::invoice::{
    self, BillingReference, Invoice, InvoiceKind, InvoiceStatus, SubmissionStatus, Transition,
};
use crate::jobs::{self, BackgroundJob, JobContext, Ran};
use crate::services::invoices::{expect_state, find, refused, InvoiceView};
use crate::services::mbs_resources;
use crate::state::AppState;
use crate::tenancy::Tenant;
use mbs::MbsError;

/// How long past `MBS_TIMEOUT_MS` a sign call's hold on its submission lasts at most (and at
/// least the timeout again): after it, the settle job may ask MBS what became of it.
const LEASE_MARGIN: Duration = Duration::from_secs(15);

/// A sign call's hold on its submission: the call's whole time, then a margin for the
/// confirm that follows an unknown outcome.
fn lease(timeout: Duration) -> Duration {
    timeout + timeout.min(LEASE_MARGIN)
}

/// CONFIRMED → VALIDATED: every problem named at once (400 `invalid_invoice`), then MBS's
/// `irn/validate` and `validate`; MBS's refusal is a 400 naming the field, MBS unreachable a
/// 503/504, and in both cases the invoice is unchanged.
pub async fn validate(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<InvoiceView, ApiError> {
    let t = Transition::Validate;
    let invoice = find(state, tenant, id).await?;
    expect_state(&invoice, t)?;
    let prepared = prepare(state, tenant, &invoice).await?;
    let client = mbs_resources::client(state)?;
    let check = mbs::IrnCheck {
        business_id: prepared.payload.business_id.clone(),
        invoice_reference: invoice.invoice_number.clone(),
        irn: prepared.irn.clone(),
    };
    client.validate_irn(&check).await.map_err(mbs_error)?;
    client.validate(&prepared.payload).await.map_err(mbs_error)?;
    let payload = serde_json::to_value(&prepared.payload).map_err(ApiError::internal)?;
    let supplier = serde_json::to_value(&prepared.supplier).map_err(ApiError::internal)?;
    let billing = prepared
        .billing_reference
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    let moved = store::validated(
        &mut tx,
        tenant,
        id,
        &Validated {
            irn: &prepared.irn,
            supplier: &supplier,
            billing_reference: billing.as_ref(),
            due_date: prepared.due_date,
            tax_percent_bp: prepared.tax_percent_bp,
            payload: &payload,
        },
    )
    .await?;
    if !moved {
        drop(tx);
        return Err(refused(state, tenant, id, t).await);
    }
    tx.commit().await?;
    Ok(find(state, tenant, id).await?.into())
}

/// What validation fixes, and the payload MBS is asked to validate and, later, to sign.
struct Prepared {
    irn: String,
    supplier: crate::party::Supplier,
    billing_reference: Option<BillingReference>,
    due_date: NaiveDate,
    tax_percent_bp: Option<i32>,
    payload: mbs::Invoice,
}

async fn prepare(state: &AppState, tenant: &Tenant, invoice: &Invoice) -> Result<Prepared, ApiError> {
    let profile = db::tenancy::profile(&state.db, tenant).await?;
    let supplier = crate::services::profile::supplier(&profile);
    let credited = match (invoice.kind, invoice.credited_invoice_id) {
        (InvoiceKind::CreditNote, Some(credited)) => db::invoices::get(&state.db, tenant, credited)
            .await?
            .map(|c| (c.status, c.irn, c.issue_date)),
        _ => None,
    };
    // MBS's lists, when they can be had: without them the invoice's own problems are still
    // named, and only an invoice with none waits for MBS (it is needed next anyway).
    let services = mbs_resources::get(state, "services-codes").await;
    let tax_categories = mbs_resources::get(state, "tax-categories").await;
    let mut invoice = invoice.clone();
    if let (None, Ok(list)) = (invoice.tax_percent_bp, &tax_categories) {
        invoice.tax_percent_bp = list.tax_percent_bp(&invoice.tax_category).flatten();
    }
    let ctx = invoice::Context {
        supplier: Some(supplier.clone()),
        credited: credited.clone(),
        service_codes: services.as_ref().ok().map(|list| list.codes()),
        tax_categories: tax_categories.as_ref().ok().map(|list| list.codes()),
    };
    let mut problems = invoice::problems(&invoice, &ctx);
    if services.is_err() || tax_categories.is_err() {
        // Not knowing the percent is not the invoice's fault while the list is missing.
        problems.remove("tax.percent");
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_invoice(problems));
    }
    let services = services?;
    tax_categories?;
    let irn = invoice
        .irn
        .clone()
        .unwrap_or_else(|| invoice::irn(&invoice, &supplier.service_id));
    let due_date = invoice.due_date.unwrap_or_else(|| {
        crate::einvoice::due_date(invoice.issue_date, profile.payment_terms_days.max(0) as u32)
    });
    let billing_reference = match credited {
        Some((_, Some(irn), issue_date)) if invoice.kind == InvoiceKind::CreditNote => {
            Some(BillingReference { irn, issue_date })
        }
        _ => None,
    };
    let service_category = invoice
        .service_code
        .as_deref()
        .and_then(|code| services.description_of(code));
    let figures = crate::services::invoices::figures_with(&invoice, service_category)
        .ok_or_else(|| ApiError::invalid_invoice(one("tax.percent", "is not known for this tax category")))?;
    let doc = crate::einvoice::EInvoiceDoc {
        business_id: supplier.business_id.unwrap_or_default(),
        irn: irn.clone(),
        issue_date: invoice.issue_date,
        issue_time: invoice.issue_time,
        due_date,
        tax_point_date: invoice.issue_date,
        type_code: invoice.type_code().to_owned(),
        invoice_kind: invoice::mbs_kind(&invoice),
        currency: invoice.currency.clone(),
        note: invoice.description.clone(),
        billing_reference: billing_reference.clone(),
        supplier: supplier.clone(),
        buyer: invoice.buyer(),
        figures,
    };
    let payload = crate::einvoice::mbs_payload(&doc).map_err(ApiError::invalid_invoice)?;
    Ok(Prepared {
        irn,
        supplier,
        billing_reference,
        due_date,
        tax_percent_bp: invoice.tax_percent_bp,
        payload,
    })
}

fn one(field: &str, problem: &str) -> FieldErrors {
    let mut fields = FieldErrors::new();
    fields.insert(field.to_owned(), problem.to_owned());
    fields
}

/// What a sign request came to.
#[derive(Debug)]
pub enum Signed {
    /// MBS accepted it: the invoice is SIGNED (200).
    Accepted(InvoiceView),
    /// The outcome is not known yet; the settle job will find out (202).
    Pending(InvoiceView),
}

/// VALIDATED → SIGNED through MBS's `sign` (the submission). See the module docs for why
/// one invoice is never submitted twice.
pub async fn sign(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<Signed, ApiError> {
    let invoice = find(state, tenant, id).await?;
    expect_state(&invoice, Transition::Sign)?;
    let outcome = submit(state, tenant, id, &["prepared", "rejected"]).await?;
    let view: InvoiceView = find(state, tenant, id).await?.into();
    match outcome {
        Outcome::Accepted => Ok(Signed::Accepted(view)),
        Outcome::Pending => Ok(Signed::Pending(view)),
        Outcome::Busy(status) => match status {
            Some(SubmissionStatus::Accepted) => Ok(Signed::Accepted(view)),
            Some(SubmissionStatus::Submitted | SubmissionStatus::Unknown) => Ok(Signed::Pending(view)),
            _ => Err(refused(state, tenant, id, Transition::Sign).await),
        },
    }
}

enum Outcome {
    Accepted,
    /// Sent or maybe sent, not known to have arrived: the settle job follows it up.
    Pending,
    /// Someone else holds the submission, or it is not in a state `from` allows: its status.
    Busy(Option<SubmissionStatus>),
}

/// One sign call, made only after taking the submission from one of `from`.
async fn submit(state: &AppState, tenant: &Tenant, id: Uuid, from: &[&str]) -> Result<Outcome, ApiError> {
    let client = mbs_resources::client(state)?;
    let lease = lease(state.settings.mbs.timeout);
    let mut tx = state.db.begin().await?;
    let Some(taken) = store::take(&mut tx, tenant, id, from, lease.as_secs_f64()).await? else {
        drop(tx);
        let now = store::get(&state.db, tenant, id).await?;
        return Ok(Outcome::Busy(now.map(|s| s.status)));
    };
    // The safety net, queued with the take: it runs once the lease is over, and finds the
    // submission settled (nothing to do) or asks MBS what became of it.
    let job = SubmissionJob {
        invoice_id: id,
        env: tenant.env.as_str().to_owned(),
    };
    let queued = jobs::enqueue(&mut tx, tenant, &job).await?;
    db::queue::defer(&mut *tx, queued.id, lease.as_secs_f64()).await?;
    tx.commit().await?;

    let payload: mbs::Invoice = serde_json::from_value(taken.payload.clone()).map_err(ApiError::internal)?;
    metrics::counter!("mbs_sign_calls_total").increment(1);
    match client.sign(&payload).await {
        Ok(()) => {
            accept(state, tenant, id, &taken.payload).await?;
            Ok(Outcome::Accepted)
        }
        Err(MbsError::DuplicateIrn) => match client.confirm(&taken.irn).await {
            // MBS holds this IRN, and only this business signs with its service id: ours.
            Ok(_) => {
                accept(state, tenant, id, &taken.payload).await?;
                Ok(Outcome::Accepted)
            }
            Err(MbsError::UnknownIrn { .. }) => {
                store::settle(
                    &state.db,
                    id,
                    "rejected",
                    Some("MBS refused the IRN as a duplicate"),
                )
                .await?;
                Err(ApiError::conflict(
                    "duplicate_irn",
                    "MBS already holds an invoice with this IRN",
                ))
            }
            Err(e) => {
                store::settle(&state.db, id, "unknown", Some(&e.to_string())).await?;
                Ok(Outcome::Pending)
            }
        },
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(invoice_id = %id, error = %e, "a sign's outcome is unknown; asking MBS");
            match client.confirm(&taken.irn).await {
                Ok(_) => {
                    accept(state, tenant, id, &taken.payload).await?;
                    Ok(Outcome::Accepted)
                }
                Err(confirm) => {
                    let error = format!("{e}; confirm: {confirm}");
                    store::settle(&state.db, id, "unknown", Some(&error)).await?;
                    Ok(Outcome::Pending)
                }
            }
        }
        // Nothing reached MBS, or MBS did not process it: as it was before.
        Err(e @ (MbsError::NotCalled(_) | MbsError::RateLimited { .. } | MbsError::Credentials)) => {
            store::settle(&state.db, id, "prepared", Some(&e.to_string())).await?;
            Err(mbs_error(e))
        }
        Err(e) => {
            store::settle(&state.db, id, "rejected", Some(&e.to_string())).await?;
            Err(mbs_error(e))
        }
    }
}

/// MBS accepted the submission: the invoice is SIGNED with the payload and the service's
/// seal over it (RFC 8785 bytes, Ed25519).
async fn accept(state: &AppState, tenant: &Tenant, id: Uuid, payload: &Value) -> Result<(), ApiError> {
    let signature = state.signer.sign(payload).map_err(ApiError::internal)?;
    let signature = serde_json::to_value(signature).map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    store::accept(&mut tx, tenant, id, &signature).await?;
    tx.commit().await?;
    metrics::counter!("mbs_submissions_total", "outcome" => "accepted").increment(1);
    Ok(())
}

/// The error MBS's answer becomes in this API: a refused field in this API's names with
/// MBS's text (400 `invalid_invoice`, `error.mbs`), a duplicate IRN (409), MBS unreachable
/// (503) or slow (504), anything else MBS says (502).
pub fn mbs_error(e: MbsError) -> ApiError {
    match e {
        MbsError::Field { path, details } => ApiError::MbsRefused {
            fields: one(&field_name(&path), &details),
            details,
        },
        MbsError::IrnTemplate => ApiError::MbsRefused {
            fields: one(
                "irn",
                "does not match the business's IRN template at MBS: check the profile's serviceId",
            ),
            details: e.to_string(),
        },
        MbsError::DuplicateIrn => {
            ApiError::conflict("duplicate_irn", "MBS already holds an invoice with this IRN")
        }
        MbsError::Refused { details, .. } => ApiError::MbsRefused {
            fields: one("invoice", &details),
            details,
        },
        MbsError::Credentials => ApiError::MbsUpstream {
            code: "mbs_credentials",
            message: "MBS refused the integrator's keys (MBS_API_KEY, MBS_API_SECRET)".into(),
        },
        MbsError::TimedOut(text) => ApiError::MbsTimeout(format!("MBS did not answer in time: {text}")),
        e @ (MbsError::Unavailable(_) | MbsError::RateLimited { .. } | MbsError::NotCalled(_)) => {
            mbs_resources::mbs_unavailable(&e)
        }
        e @ (MbsError::UnknownIrn { .. } | MbsError::NoRoute { .. } | MbsError::Decode(_)) => {
            ApiError::MbsUpstream {
                code: "mbs_error",
                message: e.to_string(),
            }
        }
    }
}

/// MBS's path of a refused field (below `invoicerequest.invoice.`, lower case, no
/// underscores) in this API's names: `taxtotal[0].taxsubtotal[0].taxcategory.id` →
/// `tax.category`, `accountingcustomerparty.postaladdress.cityname` → `buyer.address.city`.
pub fn field_name(mbs_path: &str) -> String {
    let (head, rest) = mbs_path.split_once('.').unwrap_or((mbs_path, ""));
    let base = head.split('[').next().unwrap_or(head);
    let index = head.strip_prefix(base).unwrap_or("");
    let party = |prefix: &str, rest: &str| -> String {
        let member = match rest {
            "partyname" => "name",
            "tin" => "tin",
            "email" => "email",
            "telephone" => "telephone",
            "businessdescription" => "description",
            "postaladdress.streetname" => "address.street",
            "postaladdress.cityname" => "address.city",
            "postaladdress.postalzone" => "address.postalZone",
            "postaladdress.country" => "address.country",
            "postaladdress.state" => "address.state",
            "postaladdress.lga" => "address.lga",
            "postaladdress" => "address",
            "" => "",
            other => other,
        };
        if member.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{member}")
        }
    };
    match base {
        "accountingsupplierparty" => party("supplier", rest),
        "accountingcustomerparty" => party("buyer", rest),
        "businessid" => "supplier.businessId".into(),
        "invoiceline" => {
            let member = match rest {
                "isiccode" | "hsncode" => "serviceCode",
                "servicecategory" | "productcategory" => "serviceCategory",
                "invoicedquantity" => "quantity",
                "lineextensionamount" => "lineAmount",
                "price.priceamount" => "unitPrice",
                r if r.starts_with("item") => "description",
                other => other,
            };
            format!("lines{index}.{member}")
        }
        "taxtotal" => {
            let member = if rest.ends_with("taxcategory.id") {
                "category"
            } else if rest.ends_with("taxcategory.percent") {
                "percent"
            } else if rest.ends_with("taxableamount") {
                "taxableAmount"
            } else {
                "taxAmount"
            };
            format!("tax.{member}")
        }
        "legalmonetarytotal" => {
            let member = match rest {
                "lineextensionamount" => "lineExtension",
                "taxexclusiveamount" => "taxExclusive",
                "taxinclusiveamount" => "taxInclusive",
                _ => "payable",
            };
            format!("totals.{member}")
        }
        "billingreference" => "billingReference".into(),
        "irn" => "irn".into(),
        "issuedate" => "issueDate".into(),
        "issuetime" => "issueTime".into(),
        "duedate" => "dueDate".into(),
        "taxpointdate" => "taxPointDate".into(),
        "invoicetypecode" => "typeCode".into(),
        "invoicekind" => "invoiceKind".into(),
        "documentcurrencycode" | "taxcurrencycode" => "currency".into(),
        "paymentstatus" => "paymentStatus".into(),
        "note" => "description".into(),
        _ => mbs_path.to_owned(),
    }
}

/// Settles a submission whose sign call may have reached MBS without an answer reaching the
/// service: queued with every sign call, it runs once the call's lease is over. Settled
/// meanwhile → nothing to do; else MBS is asked (`confirm`): it holds the invoice → SIGNED;
/// it does not → the invoice is submitted again (safe now: MBS said it has nothing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionJob {
    pub invoice_id: Uuid,
    pub env: String,
}

impl BackgroundJob for SubmissionJob {
    const KIND: &'static str = "mbs_submission";
    const MAX_ATTEMPTS: i32 = 20;

    fn dedupe_key(&self, _tenant: &Tenant) -> Option<String> {
        Some(format!("mbs_submission:{}", self.invoice_id))
    }

    async fn run(self, ctx: JobContext) -> Result<Ran, ApiError> {
        let tenant = ctx.tenant(&self.env)?;
        let state = &ctx.state;
        let Some(stored) = store::get(&state.db, &tenant, self.invoice_id).await? else {
            return Ok(Ran::Done(serde_json::json!({"settled": "gone"})));
        };
        match stored.status {
            SubmissionStatus::Accepted | SubmissionStatus::Rejected | SubmissionStatus::Prepared => {
                return Ok(Ran::Done(serde_json::json!({"settled": stored.status})));
            }
            SubmissionStatus::Submitted => {
                if let Some(until) = stored.lease_until {
                    let left = (until - Utc::now()).to_std().unwrap_or_default();
                    if !left.is_zero() {
                        return Ok(Ran::Later {
                            after: left,
                            progress: serde_json::json!({"waiting": "the sign call in flight"}),
                        });
                    }
                }
            }
            SubmissionStatus::Unknown => {}
        }
        let client = mbs_resources::client(state)?;
        match client.confirm(&stored.irn).await {
            Ok(_) => {
                accept(state, &tenant, self.invoice_id, &stored.payload).await?;
                Ok(Ran::Done(
                    serde_json::json!({"settled": "accepted", "by": "confirm"}),
                ))
            }
            Err(MbsError::UnknownIrn { .. }) => {
                match submit(state, &tenant, self.invoice_id, &["unknown", "submitted"]).await {
                    Ok(Outcome::Accepted) => Ok(Ran::Done(
                        serde_json::json!({"settled": "accepted", "by": "sign"}),
                    )),
                    Ok(Outcome::Busy(status)) => Ok(Ran::Done(serde_json::json!({"settled": status}))),
                    Ok(Outcome::Pending) => Ok(Ran::Retry {
                        code: "submission_unknown",
                        error: "the submission's outcome is still unknown".into(),
                        after: ctx.backoff(),
                    }),
                    // Refused by MBS: recorded as rejected; nothing more to do here.
                    Err(e) if matches!(e, ApiError::MbsRefused { .. } | ApiError::Conflict { .. }) => Ok(
                        Ran::Done(serde_json::json!({"settled": "rejected", "error": e.to_string()})),
                    ),
                    Err(e) => Ok(Ran::Retry {
                        code: e.code(),
                        error: e.to_string(),
                        after: ctx.backoff(),
                    }),
                }
            }
            Err(e) => Ok(Ran::Retry {
                code: "mbs_unavailable",
                error: format!("MBS could not be asked: {e}"),
                after: ctx.backoff(),
            }),
        }
    }
}

/// Tells MBS that a SIGNED invoice is paid (`update/{irn}` `PAID`) once reconciliation
/// settles it, and records it (`submission.mbsPaymentStatus`). Queued with the payment;
/// retried while MBS cannot be reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentUpdateJob {
    pub invoice_id: Uuid,
    pub env: String,
}

impl BackgroundJob for PaymentUpdateJob {
    const KIND: &'static str = "mbs_payment_update";
    const MAX_ATTEMPTS: i32 = 20;

    fn dedupe_key(&self, _tenant: &Tenant) -> Option<String> {
        Some(format!("mbs_payment_update:{}", self.invoice_id))
    }

    async fn run(self, ctx: JobContext) -> Result<Ran, ApiError> {
        let tenant = ctx.tenant(&self.env)?;
        let state = &ctx.state;
        let Some(stored) = store::get(&state.db, &tenant, self.invoice_id).await? else {
            return Ok(Ran::Done(
                serde_json::json!({"told": false, "why": "no submission"}),
            ));
        };
        if stored.status != SubmissionStatus::Accepted {
            return Ok(Ran::Done(
                serde_json::json!({"told": false, "why": "not accepted by MBS"}),
            ));
        }
        if stored.mbs_payment_status.as_deref() == Some("PAID") {
            return Ok(Ran::Done(serde_json::json!({"told": true, "before": true})));
        }
        let client = mbs_resources::client(state)?;
        match client.update(&stored.irn, mbs::PaymentStatus::Paid, None).await {
            Ok(()) => {
                store::payment_told(&state.db, self.invoice_id, "PAID").await?;
                metrics::counter!("mbs_payment_updates_total").increment(1);
                Ok(Ran::Done(serde_json::json!({"told": true})))
            }
            Err(e) => Ok(Ran::Retry {
                code: "mbs_unavailable",
                error: format!("MBS was not told the payment: {e}"),
                after: ctx.backoff(),
            }),
        }
    }
}

/// The QR code of a SIGNED invoice (MBS.md): RSA-encrypted `{irn.unix, certificate}` with the
/// organization's crypto keys, as SVG or PNG.
pub async fn qr(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<mbs::InvoiceQr, ApiError> {
    let invoice = find(state, tenant, id).await?;
    let irn = match (invoice.status, invoice.irn) {
        (InvoiceStatus::Signed, Some(irn)) => irn,
        (status, _) => {
            return Err(ApiError::invalid_transition(
                "make the QR code of",
                status.as_str(),
            ));
        }
    };
    let keys = crate::services::crypto_keys::load(state, tenant).await?;
    mbs::InvoiceQr::make(&keys, &irn, Utc::now().timestamp(), &mut rand::thread_rng()).map_err(|e| match e {
        mbs::QrError::PayloadTooLong { .. } => ApiError::conflict(
            "crypto_keys_unusable",
            format!("the QR code cannot be made with the organization's crypto keys: {e}"),
        ),
        other => ApiError::internal(other),
    })
}

/// The printable page of an invoice (`services::document`), with its QR code inline when it
/// is SIGNED and the organization has usable crypto keys (else the page says why not).
pub async fn document(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<String, ApiError> {
    let invoice = find(state, tenant, id).await?;
    let signed = invoice.status == InvoiceStatus::Signed;
    let view = serde_json::to_value(InvoiceView::from(invoice)).map_err(ApiError::internal)?;
    let svg = if signed {
        match qr(state, tenant, id).await {
            Ok(code) => Some(code.svg),
            Err(e) if e.code().starts_with("crypto_keys_") => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    Ok(crate::services::document::render(&view, svg.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbs_paths_read_as_this_apis_fields() {
        for (path, field) in [
            ("taxtotal[0].taxsubtotal[0].taxcategory.id", "tax.category"),
            ("taxtotal[0].taxsubtotal[0].taxcategory.percent", "tax.percent"),
            (
                "accountingcustomerparty.postaladdress.cityname",
                "buyer.address.city",
            ),
            ("accountingsupplierparty.telephone", "supplier.telephone"),
            ("accountingsupplierparty.partyname", "supplier.name"),
            ("accountingcustomerparty", "buyer"),
            ("invoiceline[0].isiccode", "lines[0].serviceCode"),
            ("invoiceline[2].price.priceamount", "lines[2].unitPrice"),
            ("legalmonetarytotal.payableamount", "totals.payable"),
            ("businessid", "supplier.businessId"),
            ("billingreference[0].irn", "billingReference"),
            ("somethingnew.field", "somethingnew.field"),
        ] {
            assert_eq!(field_name(path), field, "{path}");
        }
    }

    #[test]
    fn mbs_refusals_become_this_apis_errors() {
        let field = mbs_error(MbsError::Field {
            path: "accountingsupplierparty.email".into(),
            details: "invoicerequest.invoice.accountingsupplierparty.email must be a valid email".into(),
        });
        assert_eq!(field.code(), "invalid_invoice");
        assert_eq!(field.status(), axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(mbs_error(MbsError::DuplicateIrn).code(), "duplicate_irn");
        assert_eq!(
            mbs_error(MbsError::Unavailable("503".into())).status().as_u16(),
            503
        );
        assert_eq!(mbs_error(MbsError::TimedOut("x".into())).code(), "mbs_timeout");
        assert_eq!(mbs_error(MbsError::Credentials).status().as_u16(), 502);
    }
}
