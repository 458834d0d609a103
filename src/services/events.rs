//! Eligibility events (why each transaction went where it did) and monitoring events
//! (`invoice_failed`), newest first, paged by id.

use serde::{Deserialize, Serialize};

use crate::db::events::{self as db, EventFilter};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    account_id: Option<String>,
    outcome: Option<String>,
    reason: Option<String>,
    kind: Option<String>,
    limit: Option<i64>,
    before: Option<String>,
}

/// One entry of the event log; `kind` says which (the list's `kind` filter).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Eligibility(db::EligibilityEvent),
    InvoiceFailed(db::MonitoringEvent),
}

/// One page of events, newest first, and the `before` of the next page.
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    q: EventsQuery,
) -> Result<(Vec<Event>, Option<String>), ApiError> {
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=200).contains(&n) => n,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 200")),
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
    if let Some(o) = q.outcome.as_deref() {
        if !matches!(o, "draft" | "dlq" | "skipped") {
            return Err(ApiError::field("outcome", "must be draft, dlq or skipped"));
        }
    }
    let filter = EventFilter {
        account_id: q.account_id.filter(|a| !a.is_empty()),
        outcome: q.outcome,
        reason: q
            .reason
            .as_deref()
            .map(crate::services::dlq::reason_filter)
            .transpose()?,
        before,
        limit,
    };
    let (data, next) = match q.kind.as_deref().unwrap_or("eligibility") {
        "eligibility" => {
            let mut rows = db::eligibility(&state.db, tenant, &filter).await?;
            let next = page_end(&mut rows, limit, |e| e.id);
            (rows.into_iter().map(Event::Eligibility).collect(), next)
        }
        "invoice_failed" => {
            let mut rows = db::monitoring(&state.db, tenant, "invoice_failed", &filter).await?;
            let next = page_end(&mut rows, limit, |e| e.id);
            (rows.into_iter().map(Event::InvoiceFailed).collect(), next)
        }
        _ => return Err(ApiError::field("kind", "must be eligibility or invoice_failed")),
    };
    Ok((data, next))
}

/// Trims the look-ahead row; the last kept id is the next page's `before`.
fn page_end<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Option<String> {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| id(r).to_string())
    } else {
        None
    }
}
