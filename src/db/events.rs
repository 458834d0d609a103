//! Reading eligibility events and monitoring events, newest first, paged by id.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::tenancy::Tenant;

/// What the pipeline decided for one transaction.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EligibilityEvent {
    pub id: i64,
    pub account_id: String,
    pub transaction_id: String,
    #[schema(value_type = crate::vocab::Outcome)]
    pub outcome: String,
    #[schema(value_type = crate::vocab::Reason)]
    pub reason: String,
    pub detail: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub narration: String,
    pub reference: Option<String>,
    #[schema(value_type = crate::vocab::DecisionSource)]
    pub source: String,
    pub trace_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A monitoring event: something the pipeline could not do (an invoice it could not draft).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringEvent {
    pub id: i64,
    /// Which monitoring event; the list answers it as the entry's `kind`.
    #[serde(skip)]
    pub kind: String,
    pub account_id: Option<String>,
    pub transaction_id: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub trace_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub account_id: Option<String>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// Up to `limit + 1` rows, so the caller knows whether there is a next page.
pub async fn eligibility(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    f: &EventFilter,
) -> Result<Vec<EligibilityEvent>, sqlx::Error> {
    sqlx::query_as!(
        EligibilityEvent,
        r#"
        SELECT id, account_id, transaction_id, outcome, reason, detail, amount, currency, narration,
               reference, source, trace_id, created_at
        FROM eligibility_events
        WHERE env_id = $1 AND org_id = $2
          AND ($3::text IS NULL OR account_id = $3)
          AND ($4::text IS NULL OR outcome = $4)
          AND ($5::text IS NULL OR reason = $5)
          AND ($6::int8 IS NULL OR id < $6)
        ORDER BY id DESC
        LIMIT $7
        "#,
        tenant.env_id,
        tenant.org_id,
        f.account_id,
        f.outcome,
        f.reason,
        f.before,
        f.limit + 1
    )
    .fetch_all(db)
    .await
}

pub async fn monitoring(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    kind: &str,
    f: &EventFilter,
) -> Result<Vec<MonitoringEvent>, sqlx::Error> {
    sqlx::query_as!(
        MonitoringEvent,
        r#"
        SELECT id, kind, account_id, transaction_id, reason, detail, trace_id, created_at
        FROM monitoring_events
        WHERE env_id = $1 AND org_id = $2 AND kind = $3
          AND ($4::text IS NULL OR account_id = $4)
          AND ($5::text IS NULL OR reason = $5)
          AND ($6::int8 IS NULL OR id < $6)
        ORDER BY id DESC
        LIMIT $7
        "#,
        tenant.env_id,
        tenant.org_id,
        kind,
        f.account_id,
        f.reason,
        f.before,
        f.limit + 1
    )
    .fetch_all(db)
    .await
}
