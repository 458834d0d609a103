//! Retention (`MONO_DATA_RETENTION_DAYS`, or an environment's own `retentionDays`): per
//! environment, deletes in small batches what is older than its cutoff: Mono-derived invoices
//! never signed, DLQ records, eligibility and monitoring events, the transaction bodies the
//! ledger keeps and the bodies of webhook deliveries. Signed invoices, the ledger rows and the
//! delivery rows (their dedupe keys) stay.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::retention::{self, Kind};
use crate::error::ApiError;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 1_000;

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
        let cutoff = Utc::now() - Duration::days(days);
        let mut rows = BTreeMap::new();
        for kind in Kind::ALL {
            let n = if dry_run {
                retention::count(db, kind, env.env_id, cutoff).await? as u64
            } else {
                let mut total = 0;
                loop {
                    let n = retention::delete_batch(db, kind, env.env_id, cutoff, BATCH).await?;
                    total += n;
                    if n < BATCH as u64 || stop.is_cancelled() {
                        break;
                    }
                }
                total
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
