//! `GET /si/mono/webhook-status`: what arrived, what was processed, refused or failed.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::webhooks as db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    pub signature_verification: bool,
    pub last_received_at: Option<DateTime<Utc>>,
    pub last_processed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failure>,
    pub pending: i64,
    pub last24h: Last24h,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Last24h {
    pub received: i64,
    pub processed: i64,
    pub duplicate: i64,
    pub rejected: i64,
    pub ignored: i64,
    pub failed: i64,
}

/// The caller's environment; an admin key: every environment, and the deliveries (and
/// refusals) no environment claims. Refusals are the flushed ones of every replica and this
/// replica's not flushed yet: another replica's appear within its flush period.
pub async fn status(state: &AppState, tenant: &Tenant) -> Result<WebhookStatus, ApiError> {
    let scope = (!tenant.is_admin()).then_some(tenant.env_id);
    let mut f = db::status(&state.db, scope).await?;
    if scope.is_none() {
        let unflushed = state.refusals.unflushed();
        f.rejected += i64::try_from(unflushed.count).unwrap_or(i64::MAX);
        if let Some((at, reason)) = unflushed.last {
            if f.last_failure.as_ref().is_none_or(|(last, _)| at >= *last) {
                f.last_failure = Some((at, reason.to_owned()));
            }
        }
    }
    Ok(WebhookStatus {
        signature_verification: state.settings.mono.verify_signature,
        last_received_at: f.last_received_at,
        last_processed_at: f.last_processed_at,
        last_failure: f.last_failure.map(|(at, reason)| Failure { at, reason }),
        pending: f.pending,
        last24h: Last24h {
            received: f.received,
            processed: f.processed,
            duplicate: f.duplicate,
            rejected: f.rejected,
            ignored: f.ignored,
            failed: f.failed,
        },
    })
}
