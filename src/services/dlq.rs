//! DLQ review: list the records, decide one again under today's policy (replay), or close it
//! by hand (resolve). A replay that now passes drafts the invoice (once per transaction) and
//! resolves the record `replayed`; one that still fails stays open with the new reason.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::accounts;
use crate::db::dlq::{self, DlqFilter, DlqRow, Redecided};
use crate::db::ledger::{self, PageContext};
use crate::domain::RecordReason;
use crate::error::ApiError;
use crate::runtime::policy_cache::LoadedPolicy;
use crate::services::settings::load_policy;
use crate::services::sync::decide::decide_item;
use crate::services::{reconcile, transfers};
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::Outcome;
use mono::RawTransaction;

/// A DLQ record as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DlqRecord {
    id: Uuid,
    account_id: String,
    transaction_id: String,
    #[schema(value_type = crate::vocab::Reason)]
    reason: String,
    detail: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    narration: Option<String>,
    reference: Option<String>,
    /// As Mono sent it.
    #[schema(value_type = Object)]
    transaction: Box<serde_json::value::RawValue>,
    #[schema(value_type = crate::vocab::DecisionSource)]
    source: String,
    decision: DecisionView,
    trace_id: Option<String>,
    #[schema(value_type = crate::vocab::DlqStatus)]
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::vocab::DlqResolution>)]
    resolution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    rule_id: Option<String>,
    keywords: Vec<String>,
    policy_version: Option<String>,
}

impl From<DlqRow> for DlqRecord {
    fn from(r: DlqRow) -> Self {
        DlqRecord {
            id: r.id,
            account_id: r.account_id,
            transaction_id: r.transaction_id,
            reason: r.reason,
            detail: r.detail,
            amount: r.amount,
            currency: r.currency,
            narration: r.narration,
            reference: r.reference,
            transaction: r.transaction.0,
            source: r.source,
            decision: DecisionView {
                rule_id: r.rule_id,
                keywords: r.keywords,
                policy_version: r.policy_version,
            },
            trace_id: r.trace_id,
            status: r.status,
            resolution: r.resolution,
            note: r.note,
            invoice_id: r.invoice_id,
            created_at: r.created_at,
            resolved_at: r.resolved_at,
        }
    }
}

/// `GET /si/mono/dlq` query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqQuery {
    status: Option<String>,
    reason: Option<String>,
    account_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
    before: Option<String>,
}

/// A filter of records: `reason`, `accountId`, and `from`/`to` (dates or RFC 3339 times; a
/// date `to` includes its whole day), shared by the list and the bulk replay.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordFilter {
    pub reason: Option<String>,
    pub account_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl RecordFilter {
    pub fn to_db(&self) -> Result<DlqFilter, ApiError> {
        Ok(DlqFilter {
            reason: self.reason.as_deref().map(reason_filter).transpose()?,
            account_id: self.account_id.clone().filter(|a| !a.is_empty()),
            from: self
                .from
                .as_deref()
                .map(|v| parse_bound("from", v, false))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|v| parse_bound("to", v, true))
                .transpose()?,
            ..DlqFilter::default()
        })
    }
}

/// A `reason` filter: one of the reasons a decision records.
pub fn reason_filter(name: &str) -> Result<String, ApiError> {
    crate::domain::RecordReason::parse(name)
        .map(|r| r.as_str().to_owned())
        .ok_or_else(|| ApiError::field("reason", "is not a reason a decision records"))
}

/// `2025-05-30` or an RFC 3339 time; an upper date bound is exclusive of the next day.
pub fn parse_bound(field: &str, value: &str, upper: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::field(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    let day = if upper { day.succ_opt().unwrap_or(day) } else { day };
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    q: DlqQuery,
) -> Result<(Vec<DlqRecord>, Option<String>), ApiError> {
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=200).contains(&n) => n,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 200")),
    };
    let resolved = match q.status.as_deref() {
        None | Some("") | Some("open") => false,
        Some("resolved") => true,
        Some(_) => return Err(ApiError::field("status", "must be open or resolved")),
    };
    let before = match q.before.as_deref() {
        None => None,
        Some(b) => Some(
            b.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::field("before", "is not a cursor from meta.next"))?,
        ),
    };
    let filter = DlqFilter {
        resolved,
        before,
        limit,
        ..RecordFilter {
            reason: q.reason,
            account_id: q.account_id,
            from: q.from,
            to: q.to,
        }
        .to_db()?
    };
    let mut rows = dlq::list(&state.db, tenant, &filter).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok((rows.into_iter().map(DlqRecord::from).collect(), next))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replayed {
    #[schema(value_type = crate::vocab::Outcome)]
    pub outcome: Outcome,
    #[schema(value_type = crate::vocab::Reason)]
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<Uuid>,
}

pub async fn replay(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<Replayed, ApiError> {
    let policy = load_policy(state, tenant).await?;
    replay_with(state, tenant, &policy, id).await
}

/// Decides the record again under `policy`, in one transaction that holds the record's lock,
/// so two replays of one record cannot both draft.
pub async fn replay_with(
    state: &AppState,
    tenant: &Tenant,
    policy: &LoadedPolicy,
    id: Uuid,
) -> Result<Replayed, ApiError> {
    let mut tx = state.db.begin().await?;
    let record = dlq::get_for_update(&mut *tx, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("DLQ record {id} not found")))?;
    if record.status == "resolved" {
        // Replaying a replayed record again answers what the first replay did.
        if record.resolution.as_deref() == Some("replayed") {
            return Ok(Replayed {
                outcome: Outcome::Draft,
                reason: record.reason,
                invoice_id: record.invoice_id,
            });
        }
        return Err(already_resolved(&record));
    }
    let currency = accounts::get(&mut *tx, tenant, &record.account_id)
        .await?
        .and_then(|a| a.currency);
    let raw = record.transaction.0.clone();
    let mut row = decide_item(
        &policy.compiled,
        &record.account_id,
        currency.as_deref(),
        RawTransaction::decode(raw),
    )
    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a DLQ record's transaction has no id")))?;
    let trace_id = crate::telemetry::current_trace_id();
    let ctx = PageContext {
        org_id: tenant.org_id,
        env_id: tenant.env_id,
        account_id: &record.account_id,
        source: "replay",
        trace_id: &trace_id,
        policy_version: &policy.version,
    };
    // Decided and reconciled as a sync would (the transaction is in the ledger already, as
    // this record): a reference that names an invoice pays it or stays here, never a second
    // invoice.
    transfers::pair_legs(&mut tx, tenant, &ctx, std::slice::from_mut(&mut row), true).await?;
    let target = reconcile::match_rows(
        &mut tx,
        tenant,
        &record.account_id,
        std::slice::from_mut(&mut row),
        false,
    )
    .await?
    .pop()
    .flatten();
    let matched = match target {
        Some(reconcile::Target::Invoice(id)) => Some(id),
        // One row cannot be matched with a draft of its own batch.
        Some(reconcile::Target::Drafted(_)) | None => None,
    };
    let drafted = ledger::record_redecision(&mut tx, &ctx, &row).await?;
    let invoice_id = match (row.reason, matched) {
        (RecordReason::Reconciled, Some(invoice_id)) => {
            // The money is in the account (Mono reported the transaction): settled.
            let payment = reconcile::Payment {
                account_id: &record.account_id,
                transaction_id: &row.transaction_id,
                settled: true,
                trace_id: &trace_id,
            };
            reconcile::record_payment(&mut tx, tenant, &payment, invoice_id, row.amount, &row.currency)
                .await?;
            Some(invoice_id)
        }
        _ => drafted,
    };
    if row.outcome == Outcome::Draft || row.reason == RecordReason::Reconciled {
        dlq::resolve(&mut *tx, tenant, id, "replayed", None, invoice_id).await?;
    } else {
        dlq::record_redecision(
            &mut *tx,
            tenant,
            id,
            &Redecided {
                reason: row.reason.as_str(),
                detail: row.detail.as_deref(),
                rule_id: row.rule_id.as_deref(),
                keywords: &row.keywords,
                policy_version: &policy.version,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Replayed {
        outcome: row.outcome,
        reason: row.reason.as_str().to_owned(),
        invoice_id,
    })
}

fn already_resolved(record: &DlqRow) -> ApiError {
    let mut extra = serde_json::Map::new();
    extra.insert("resolution".into(), serde_json::json!(record.resolution));
    ApiError::Conflict {
        code: "already_resolved",
        message: format!(
            "DLQ record {} is already resolved ({})",
            record.id,
            record.resolution.as_deref().unwrap_or("resolved")
        ),
        extra,
    }
}

/// `POST /si/mono/dlq/{id}/resolve` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"resolution": "dismissed", "note": "a personal transfer"}))]
pub struct ResolveBody {
    #[schema(value_type = crate::vocab::ResolveAs)]
    resolution: String,
    /// At most 500 characters.
    note: Option<String>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<serde_json::Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<serde_json::Value>,
}

const MAX_NOTE_CHARS: usize = 500;

pub async fn resolve(
    state: &AppState,
    tenant: &Tenant,
    id: Uuid,
    body: ResolveBody,
) -> Result<DlqRecord, ApiError> {
    if !matches!(body.resolution.as_str(), "dismissed" | "invoiced_manually") {
        return Err(ApiError::field(
            "resolution",
            "must be dismissed or invoiced_manually",
        ));
    }
    let note = body.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(ApiError::field(
            "note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let mut tx = state.db.begin().await?;
    let record = dlq::get_for_update(&mut *tx, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("DLQ record {id} not found")))?;
    if record.status == "resolved" {
        return Err(already_resolved(&record));
    }
    dlq::resolve(&mut *tx, tenant, id, &body.resolution, note, None).await?;
    let record = dlq::get_for_update(&mut *tx, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("DLQ record {id} not found")))?;
    tx.commit().await?;
    Ok(record.into())
}
