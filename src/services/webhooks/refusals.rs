//! Refused deliveries: each is answered (401, or 429 once its source address has been refused
//! more than `MONO_WEBHOOK_REFUSAL_BURST` at once or `MONO_WEBHOOK_REFUSAL_LIMIT` a minute)
//! and counted in memory and in `webhook_refusals_total`, never written on its own: anyone
//! who knows the URL can be refused, and a refusal must not cost the database a row. `run`
//! writes the tallies once a period (`MONO_WEBHOOK_REFUSAL_FLUSH_SECS`), one statement for all
//! reasons, so every replica's webhook-status reads them; `flush` runs once more at shutdown.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::db::webhooks::{self as db, RefusalTally};
use crate::error::ApiError;
use crate::state::AppState;

/// The answer to a delivery whose credential did not authenticate it (`reason`, as
/// webhook-status names it). Only refusals take from the source's bucket, so a delivery that
/// authenticates is never throttled, whoever shares its address.
pub fn refuse(state: &AppState, reason: &'static str, source: Option<IpAddr>) -> ApiError {
    let throttled = state.refusals.admit(source, Instant::now()).err();
    count(
        state,
        reason,
        source,
        if throttled.is_some() { "429" } else { "401" },
    );
    match throttled {
        Some(wait) => ApiError::RateLimited {
            message:
                "too many refused webhook deliveries from this address; retry after the time in Retry-After"
                    .into(),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        },
        None => ApiError::Unauthorized(format!(
            "webhook authentication failed: {}",
            reason.replace('_', " ")
        )),
    }
}

/// Counts a body that authenticated but is no Mono event (`malformed_body`) and answers its
/// error. Not throttled: its sender holds the secret (or verification is off).
pub fn malformed(state: &AppState, source: Option<IpAddr>, error: ApiError) -> ApiError {
    count(state, "malformed_body", source, "400");
    error
}

/// Counts one refusal, answered with `status`.
fn count(state: &AppState, reason: &'static str, source: Option<IpAddr>, status: &'static str) {
    let throttled = status == "429";
    state
        .refusals
        .record(reason, source, crate::telemetry::current_trace_id(), throttled);
    metrics::counter!("webhook_deliveries_total", "outcome" => "rejected").increment(1);
    metrics::counter!("webhook_refusals_total", "reason" => reason, "status" => status).increment(1);
    // Per refusal at debug only: a flood of them must not flood the log either (the flush
    // logs each period's tallies).
    tracing::debug!(reason, source = ?source, throttled, "webhook refused");
}

/// Writes the refusals counted since the last flush, one receipt per reason; answers how many
/// refusals they were. When the write fails they are kept for the next.
pub async fn flush(state: &AppState) -> Result<u64, ApiError> {
    let taken = state.refusals.take();
    if taken.is_empty() {
        return Ok(0);
    }
    let rows: Vec<RefusalTally> = taken
        .iter()
        .map(|(reason, t)| RefusalTally {
            reason: (*reason).to_owned(),
            count: i32::try_from(t.count).unwrap_or(i32::MAX),
            last_at: t.last_at,
            trace_id: t.sample.back().map(|s| s.trace_id.clone()),
            sample: serde_json::to_value(&t.sample).unwrap_or_default(),
        })
        .collect();
    if let Err(e) = db::record_refusals(&state.db, &rows).await {
        state.refusals.restore(taken);
        return Err(e.into());
    }
    let mut total = 0;
    for (reason, t) in &taken {
        total += t.count;
        let sources: BTreeSet<String> = t
            .sample
            .iter()
            .map(|s| s.source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()))
            .collect();
        tracing::warn!(
            reason,
            count = t.count,
            throttled = t.throttled,
            sources = ?sources,
            "webhook deliveries refused"
        );
    }
    Ok(total)
}

/// Flushes every `MONO_WEBHOOK_REFUSAL_FLUSH_SECS` until shutdown (whose last flush is the
/// server's, once requests have finished).
pub async fn run(state: AppState) {
    let token = state.shutdown.clone();
    let mut ticker = tokio::time::interval(state.settings.webhook_refusals.flush_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if let Err(e) = flush(&state).await {
            tracing::warn!(error = %e, "could not write the refused webhooks; they are kept for the next flush");
        }
    }
}

/// The flush at shutdown, bounded so a database that is away does not hold the exit.
pub async fn flush_at_shutdown(state: &AppState) {
    match tokio::time::timeout(Duration::from_secs(5), flush(state)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the refused webhooks of this run could not be written"),
        Err(_) => tracing::warn!("the refused webhooks of this run could not be written in time"),
    }
}
