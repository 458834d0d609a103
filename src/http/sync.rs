//! `/si/mono/sync`, `/si/mono/sync-stored`, `/si/mono/cursor`, `/si/mono/events`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Tenant;
use crate::db::events::EventFilter;
use crate::error::ApiError;
use crate::http::envelope::{Envelope, PageMeta};
use crate::http::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::services::cursor::Cursor;
use crate::services::sync::{
    self, StoredOutcome, SyncOutcome, SyncRequest, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncBody {
    account_id: String,
    cursor: Option<String>,
    page_size: Option<i64>,
    #[serde(default, rename = "envId")]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    _env: Option<Value>,
}

fn page_size(v: Option<i64>) -> Result<u32, ApiError> {
    match v {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE as i64).contains(&n) => Ok(n as u32),
        Some(_) => Err(ApiError::field(
            "pageSize",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        )),
    }
}

pub async fn sync(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<SyncBody>,
) -> Result<Envelope<SyncOutcome>, ApiError> {
    let account_id = body.account_id.trim().to_string();
    if account_id.is_empty() {
        return Err(ApiError::field("accountId", "must not be empty"));
    }
    let cursor = match body.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            Cursor::parse(c)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this service issued"))?,
        ),
    };
    let req = SyncRequest {
        account_id,
        cursor,
        page_size: page_size(body.page_size)?,
    };
    let outcome = sync::sync_account(&state, &tenant, req).await?;
    Ok(Envelope::ok("sync completed", outcome))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncStoredBody {
    page_size: Option<i64>,
    #[serde(default, rename = "envId")]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    _env: Option<Value>,
}

pub async fn sync_stored(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<SyncStoredBody>,
) -> Result<Envelope<StoredOutcome>, ApiError> {
    let outcome = sync::sync_stored(&state, &tenant, page_size(body.page_size)?).await?;
    Ok(Envelope::ok("stored accounts synced", outcome))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorQuery {
    account_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorView {
    account_id: String,
    cursor: Option<String>,
    updated_at: Option<DateTime<Utc>>,
}

pub async fn cursor(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<CursorQuery>,
) -> Result<Envelope<CursorView>, ApiError> {
    let account_id = q
        .account_id
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ApiError::field("accountId", "is required"))?;
    let account = crate::db::accounts::get(&state.db, &tenant, &account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    Ok(Envelope::ok(
        "cursor retrieved",
        CursorView {
            account_id: account.id,
            cursor: account.sync_cursor,
            updated_at: account.cursor_updated_at,
        },
    ))
}

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

pub async fn events(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Envelope<Value>, ApiError> {
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=200).contains(&n) => n,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 200")),
    };
    let before = match q.before.as_deref().filter(|b| !b.is_empty()) {
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
        reason: q.reason.filter(|r| !r.is_empty()),
        before,
        limit,
    };
    let (data, next) = match q.kind.as_deref().unwrap_or("eligibility") {
        "eligibility" => {
            let mut rows = crate::db::events::eligibility(&state.db, &tenant, &filter).await?;
            let next = page_end(&mut rows, limit, |e| e.id);
            (serde_json::to_value(rows).map_err(ApiError::internal)?, next)
        }
        "invoice_failed" => {
            let mut rows =
                crate::db::events::monitoring(&state.db, &tenant, "invoice_failed", &filter).await?;
            let next = page_end(&mut rows, limit, |e| e.id);
            (serde_json::to_value(rows).map_err(ApiError::internal)?, next)
        }
        _ => return Err(ApiError::field("kind", "must be eligibility or invoice_failed")),
    };
    Ok(Envelope::ok("events retrieved", data).with_meta(PageMeta {
        total: None,
        pages: None,
        previous: None,
        next,
    }))
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
