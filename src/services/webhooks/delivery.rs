//! One delivery's processing transaction: its row lock (taken only while it is still queued),
//! and finishing it with its status and result, counted in `webhook_processed_total`.

use serde_json::{json, Value};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::db::webhooks::{self as db, DeliveryRow};
use crate::error::ApiError;
use crate::state::AppState;

pub fn typed<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(data).map_err(|e| {
        format!(
            "data.{}: {}",
            e.path(),
            redact::serde_problem(&e.inner().to_string())
        )
    })
}

/// A transaction with the delivery's row lock taken; None when the delivery is no longer
/// queued (another run finished it).
pub async fn lock(
    state: &AppState,
    d: &DeliveryRow,
) -> Result<Option<Transaction<'static, Postgres>>, ApiError> {
    let mut tx = state.db.begin().await?;
    match db::get(&mut *tx, d.id, true).await? {
        Some(row) if row.status == "queued" => Ok(Some(tx)),
        _ => {
            tx.rollback().await?;
            Ok(None)
        }
    }
}

pub async fn finish(
    tx: &mut PgConnection,
    d: &DeliveryRow,
    status: &str,
    result: &Value,
    error: Option<&str>,
) -> Result<(), ApiError> {
    db::finish(&mut *tx, d.id, status, result, error).await?;
    metrics::counter!("webhook_processed_total", "event" => d.event.clone(), "status" => status.to_owned())
        .increment(1);
    Ok(())
}

/// Finishes a delivery in the transaction that did its work, and commits that transaction:
/// answers `result`.
pub async fn finish_in(
    mut tx: Transaction<'static, Postgres>,
    d: &DeliveryRow,
    status: &str,
    result: Value,
) -> Result<Value, ApiError> {
    finish(&mut tx, d, status, &result, None).await?;
    tx.commit().await?;
    Ok(result)
}

/// Finishes a delivery that has no other effect.
pub async fn finish_alone(
    state: &AppState,
    d: &DeliveryRow,
    status: &str,
    result: Value,
    error: Option<&str>,
) -> Result<Value, ApiError> {
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    finish(&mut tx, d, status, &result, error).await?;
    tx.commit().await?;
    if let Some(e) = error {
        tracing::warn!(delivery_id = %d.id, event = %d.event, error = e, "webhook could not be processed");
    }
    Ok(result)
}

pub fn already() -> Value {
    json!({"skipped": "already processed"})
}

pub fn ignored(why: &str) -> Value {
    json!({"ignored": why})
}
