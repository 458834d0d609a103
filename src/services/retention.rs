//! Retention (`MONO_DATA_RETENTION_DAYS`, or an environment's own `retentionDays`): per
//! environment, deletes in small batches what is older than its cutoff: Mono-derived invoices
//! never signed, DLQ records, eligibility and monitoring events, the transaction bodies the
//! ledger keeps and the bodies of webhook deliveries. Signed invoices, the ledger rows and the
//! delivery rows (their dedupe keys) stay.
//!
//! What no environment owns has retentions of its own, applied whether or not the others are
//! set: webhook receipts (refusals, duplicates) after `MONO_DATA_RETENTION_DAYS`, else
//! [`DEFAULT_RECEIPT_RETENTION_DAYS`]; deliveries no environment claims, whose bodies may
//! carry account numbers, after `MONO_UNCLAIMED_RETENTION_DAYS`.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::config::Settings;
use crate::db::retention::{self, Kind, UnattributedKind};
use crate::error::ApiError;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 1_000;
/// Days webhook receipts are kept while `MONO_DATA_RETENTION_DAYS` is unset: webhook-status
/// reads only the last day of them.
pub const DEFAULT_RECEIPT_RETENTION_DAYS: u32 = 30;

/// What retention did (or, in a dry run, would do) in one environment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvPurge {
    pub org_id: Uuid,
    pub env_id: Uuid,
    pub env: String,
    pub retention_days: i64,
    pub dry_run: bool,
    /// Rows per kind (`invoices`, `dlqRecords`, `eligibilityEvents`, `monitoringEvents`,
    /// `transactionBodies`, `webhookBodies`).
    pub rows: BTreeMap<&'static str, u64>,
}

/// One pass over every environment that has a retention (its own `retentionDays`, else
/// `default_days`); stops between batches once `stop` is cancelled.
pub async fn purge(
    db: &PgPool,
    default_days: Option<u32>,
    stop: &CancellationToken,
    dry_run: bool,
) -> Result<Vec<EnvPurge>, ApiError> {
    let default_days = default_days.map(i64::from);
    let mut report = Vec::new();
    for env in retention::environments(db).await? {
        let Some(days) = env.retention_days.map(i64::from).or(default_days) else {
            continue;
        };
        // Settings bound every retention; one no date can hold would keep everything.
        let Some(cutoff) = cutoff(days) else {
            tracing::warn!(env_id = %env.env_id, days, "a retention reaching before any date keeps everything");
            continue;
        };
        let mut rows = BTreeMap::new();
        for kind in Kind::ALL {
            let n = if dry_run {
                retention::count(db, kind, env.env_id, cutoff).await? as u64
            } else {
                in_batches(stop, || {
                    retention::delete_batch(db, kind, env.env_id, cutoff, BATCH)
                })
                .await?
            };
            rows.insert(kind.as_str(), n);
        }
        report.push(EnvPurge {
            org_id: env.org_id,
            env_id: env.env_id,
            env: env.name,
            retention_days: days,
            dry_run,
            rows,
        });
    }
    Ok(report)
}

/// Now less `days`, when that is a date.
fn cutoff(days: i64) -> Option<chrono::DateTime<Utc>> {
    Utc::now().checked_sub_signed(Duration::try_days(days)?)
}

/// Runs `batch` until one comes back short or `stop` is cancelled; answers the rows in all.
async fn in_batches<F, Fut>(stop: &CancellationToken, mut batch: F) -> Result<u64, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < BATCH as u64 || stop.is_cancelled() {
            return Ok(total);
        }
    }
}

/// The retentions of what no environment owns, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnattributedRetention {
    /// Webhook receipts: `MONO_DATA_RETENTION_DAYS`, else [`DEFAULT_RECEIPT_RETENTION_DAYS`].
    pub receipt_days: u32,
    /// Deliveries no environment claims: `MONO_UNCLAIMED_RETENTION_DAYS`.
    pub unclaimed_days: u32,
}

impl UnattributedRetention {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            receipt_days: settings.retention_days.unwrap_or(DEFAULT_RECEIPT_RETENTION_DAYS),
            unclaimed_days: settings.unclaimed_retention_days,
        }
    }

    fn days(self, kind: UnattributedKind) -> u32 {
        match kind {
            UnattributedKind::WebhookReceipts => self.receipt_days,
            UnattributedKind::UnclaimedDeliveries => self.unclaimed_days,
        }
    }
}

/// What retention did (or would do) to what no environment owns.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UnattributedPurge {
    pub receipt_days: u32,
    pub unclaimed_days: u32,
    pub dry_run: bool,
    /// Rows per kind (`webhookReceipts`, `unclaimedDeliveries`).
    pub rows: BTreeMap<&'static str, u64>,
}

/// One pass over what no environment owns; stops between batches once `stop` is cancelled.
pub async fn purge_unattributed(
    db: &PgPool,
    keep: UnattributedRetention,
    stop: &CancellationToken,
    dry_run: bool,
) -> Result<UnattributedPurge, ApiError> {
    let mut rows = BTreeMap::new();
    for kind in UnattributedKind::ALL {
        let days = keep.days(kind);
        let Some(cutoff) = cutoff(i64::from(days)) else {
            tracing::warn!(
                kind = kind.as_str(),
                days,
                "a retention reaching before any date keeps everything"
            );
            continue;
        };
        let n = if dry_run {
            retention::count_unattributed(db, kind, cutoff).await? as u64
        } else {
            in_batches(stop, || {
                retention::delete_unattributed_batch(db, kind, cutoff, BATCH)
            })
            .await?
        };
        rows.insert(kind.as_str(), n);
    }
    Ok(UnattributedPurge {
        receipt_days: keep.receipt_days,
        unclaimed_days: keep.unclaimed_days,
        dry_run,
        rows,
    })
}
