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

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::config::Settings;
use crate::db::retention::{self, Batch, Kind, UnattributedKind};
use crate::error::ApiError;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 1_000;
/// How long a purge rests after each batch, as a multiple of the time the batch took: at 1,
/// a purge keeps its PostgreSQL backend busy half the time at most, however slow the
/// database is at the moment, so the webhooks and syncs running beside it keep the rest of
/// a core (a purge of ten million rows at full speed added hundreds of milliseconds to their
/// p99 on two cores; `examples/purge_load.rs` measures it).
pub const REST: f64 = 1.0;

/// How a purge goes: rows a batch, and the rest after each batch as a multiple of its time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub batch: i64,
    pub rest: f64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            batch: BATCH,
            rest: REST,
        }
    }
}
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
/// `default_days`) at the default [`Pace`]; stops between batches once `stop` is cancelled.
pub async fn purge(
    db: &PgPool,
    default_days: Option<u32>,
    stop: &CancellationToken,
    dry_run: bool,
) -> Result<Vec<EnvPurge>, ApiError> {
    purge_paced(db, default_days, stop, dry_run, Pace::default()).await
}

/// [`purge`] at the given pace.
pub async fn purge_paced(
    db: &PgPool,
    default_days: Option<u32>,
    stop: &CancellationToken,
    dry_run: bool,
    pace: Pace,
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
                in_batches(stop, pace, |from| {
                    retention::delete_batch(db, kind, env.env_id, cutoff, from, pace.batch)
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

/// Runs `batch` (given where the previous one ended) until one comes back short or `stop` is
/// cancelled, resting after each as `pace` says; answers the rows in all.
async fn in_batches<F, Fut>(stop: &CancellationToken, pace: Pace, mut batch: F) -> Result<u64, ApiError>
where
    F: FnMut(Option<DateTime<Utc>>) -> Fut,
    Fut: std::future::Future<Output = Result<Batch, sqlx::Error>>,
{
    let mut total = 0;
    let mut from = None;
    loop {
        let started = Instant::now();
        let done = batch(from).await?;
        total += done.rows;
        if done.rows < pace.batch.max(1) as u64 || stop.is_cancelled() {
            return Ok(total);
        }
        from = done.last;
        let rest = started.elapsed().mul_f64(pace.rest.max(0.0));
        tokio::select! {
            _ = stop.cancelled() => return Ok(total),
            _ = tokio::time::sleep(rest) => {}
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
    let pace = Pace::default();
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
            in_batches(stop, pace, |_| async move {
                let rows = retention::delete_unattributed_batch(db, kind, cutoff, pace.batch).await?;
                Ok(Batch { rows, last: None })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[tokio::test]
    async fn batches_start_where_the_previous_ended_and_stop_at_a_short_one() {
        let stop = CancellationToken::new();
        let seen = Mutex::new(Vec::new());
        let pace = Pace { batch: 10, rest: 0.0 };
        let total = in_batches(&stop, pace, |from| {
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(from);
                seen.len() as i64
            };
            async move {
                Ok(Batch {
                    rows: if n < 3 { 10 } else { 4 },
                    last: Some(at(n)),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(total, 24);
        assert_eq!(*seen.lock().unwrap(), vec![None, Some(at(1)), Some(at(2))]);
    }

    #[tokio::test]
    async fn a_purge_resting_between_batches_stops_when_cancelled() {
        let stop = CancellationToken::new();
        let calls = Arc::new(AtomicU32::new(0));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        // A rest of a million times the batch's time: only the cancellation ends it.
        let pace = Pace { batch: 10, rest: 1e6 };
        let run = tokio::spawn({
            let (stop, calls) = (stop.clone(), calls.clone());
            async move {
                in_batches(&stop, pace, |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let done_tx = done_tx.clone();
                    async move {
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        // On this single-threaded runtime the test goes on only once the purge
                        // has started its rest.
                        let _ = done_tx.send(());
                        Ok(Batch { rows: 10, last: None })
                    }
                })
                .await
            }
        });
        done_rx.recv().await.unwrap();
        stop.cancel();
        // A bound for a failure to stop (the rest would be over half an hour), not a timing.
        let total = tokio::time::timeout(std::time::Duration::from_secs(60), run)
            .await
            .expect("the cancellation ends the rest")
            .unwrap()
            .unwrap();
        assert_eq!(total, 10);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no batch after the cancellation");
    }
}
