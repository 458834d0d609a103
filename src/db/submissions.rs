//! An invoice's submission to MBS (`invoice_submissions`, one row per invoice) and the moves
//! of its state machine. Each move is one conditional statement, so of two replicas racing to
//! submit one invoice exactly one takes it; the invoice becomes SIGNED in the same
//! transaction as its submission becomes `accepted`.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::invoice::SubmissionStatus;
use crate::tenancy::Tenant;

use super::unknown_value;

/// A submission as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub invoice_id: Uuid,
    pub irn: String,
    pub status: SubmissionStatus,
    pub payload: Value,
    pub attempts: i32,
    pub lease_until: Option<DateTime<Utc>>,
    pub mbs_payment_status: Option<String>,
}

struct Row {
    invoice_id: Uuid,
    irn: String,
    status: String,
    payload: Value,
    attempts: i32,
    lease_until: Option<DateTime<Utc>>,
    mbs_payment_status: Option<String>,
}

impl TryFrom<Row> for Stored {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, sqlx::Error> {
        Ok(Stored {
            status: SubmissionStatus::parse(&r.status)
                .ok_or_else(|| unknown_value("invoice_submissions.status", &r.status))?,
            invoice_id: r.invoice_id,
            irn: r.irn,
            payload: r.payload,
            attempts: r.attempts,
            lease_until: r.lease_until,
            mbs_payment_status: r.mbs_payment_status,
        })
    }
}

pub async fn get(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    invoice_id: Uuid,
) -> Result<Option<Stored>, sqlx::Error> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT invoice_id, irn, status, payload, attempts, lease_until, mbs_payment_status
           FROM invoice_submissions WHERE invoice_id = $1 AND env_id = $2 AND org_id = $3"#,
        invoice_id,
        tenant.env_id,
        tenant.org_id
    )
    .fetch_optional(db)
    .await?;
    row.map(Stored::try_from).transpose()
}

/// What validation fixes for good: the IRN, the supplier as validated, the credited
/// invoice's reference, the due date and the tax percent.
pub struct Validated<'a> {
    pub irn: &'a str,
    pub supplier: &'a Value,
    pub billing_reference: Option<&'a Value>,
    pub due_date: NaiveDate,
    pub tax_percent_bp: Option<i32>,
    pub payload: &'a Value,
}

/// CONFIRMED → VALIDATED with what validation fixed, and the submission `prepared` with the
/// payload MBS validated; false when the invoice is not (or no longer) CONFIRMED.
pub async fn validated(
    conn: &mut PgConnection,
    tenant: &Tenant,
    id: Uuid,
    v: &Validated<'_>,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query!(
        r#"UPDATE invoices
           SET status = 'VALIDATED', irn = $4, supplier = $5, billing_reference = $6, due_date = $7,
               tax_percent_bp = coalesce($8, tax_percent_bp), updated_at = now()
           WHERE id = $1 AND env_id = $2 AND org_id = $3 AND status = 'CONFIRMED'"#,
        id,
        tenant.env_id,
        tenant.org_id,
        v.irn,
        v.supplier,
        v.billing_reference,
        v.due_date,
        v.tax_percent_bp
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(false);
    }
    sqlx::query!(
        r#"INSERT INTO invoice_submissions (invoice_id, org_id, env_id, irn, status, payload)
           VALUES ($1, $2, $3, $4, 'prepared', $5)"#,
        id,
        tenant.org_id,
        tenant.env_id,
        v.irn,
        v.payload
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Takes the submission for one sign call: `prepared` or `rejected` (or, for the settle job,
/// `unknown` or a `submitted` whose lease ran out, once MBS said it holds nothing) →
/// `submitted` until `lease_secs` from now. None when another holds it or it is settled.
pub async fn take(
    conn: &mut PgConnection,
    tenant: &Tenant,
    id: Uuid,
    from: &[&str],
    lease_secs: f64,
) -> Result<Option<Stored>, sqlx::Error> {
    let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
    let row = sqlx::query_as!(
        Row,
        r#"UPDATE invoice_submissions
           SET status = 'submitted', attempts = attempts + 1, submitted_at = now(),
               lease_until = now() + make_interval(secs => $5), last_error = NULL, updated_at = now()
           WHERE invoice_id = $1 AND env_id = $2 AND org_id = $3
             AND (status = ANY($4) AND (status <> 'submitted' OR lease_until < now()))
           RETURNING invoice_id, irn, status, payload, attempts, lease_until, mbs_payment_status"#,
        id,
        tenant.env_id,
        tenant.org_id,
        &from,
        lease_secs
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Stored::try_from).transpose()
}

/// MBS accepted the submission: `accepted`, and the invoice SIGNED with the payload MBS
/// accepted and the service's seal over it. False when the invoice was not VALIDATED.
pub async fn accept(
    conn: &mut PgConnection,
    tenant: &Tenant,
    id: Uuid,
    signature: &Value,
) -> Result<bool, sqlx::Error> {
    let signed = sqlx::query!(
        r#"UPDATE invoices i
           SET status = 'SIGNED', signed_payload = s.payload, signature = $4, signed_at = now(), updated_at = now()
           FROM invoice_submissions s
           WHERE i.id = $1 AND i.env_id = $2 AND i.org_id = $3 AND i.status = 'VALIDATED' AND s.invoice_id = i.id"#,
        id,
        tenant.env_id,
        tenant.org_id,
        signature
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!(
        r#"UPDATE invoice_submissions
           SET status = 'accepted', settled_at = now(), lease_until = NULL, last_error = NULL, updated_at = now()
           WHERE invoice_id = $1 AND status <> 'accepted'"#,
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(signed > 0)
}

/// Moves the submission to `to` (`rejected`, `unknown`, or back to `prepared` when nothing
/// was sent) with the error, unless it was settled meanwhile.
pub async fn settle(
    db: impl PgExecutor<'_>,
    id: Uuid,
    to: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE invoice_submissions
           SET status = $2, last_error = $3, lease_until = NULL, updated_at = now(),
               settled_at = CASE WHEN $2 = 'rejected' THEN now() ELSE settled_at END
           WHERE invoice_id = $1 AND status = 'submitted'"#,
        id,
        to,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records what MBS was told of the payment.
pub async fn payment_told(db: impl PgExecutor<'_>, id: Uuid, status: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE invoice_submissions SET mbs_payment_status = $2, mbs_payment_at = now(), updated_at = now()
           WHERE invoice_id = $1"#,
        id,
        status
    )
    .execute(db)
    .await?;
    Ok(())
}
