//! The `webhook` job: processes the deliveries of one intake batch and environment, in arrival
//! order, each once; when the job runs out of attempts its still-queued deliveries fail, each
//! with its own last error.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::webhooks as db;
use crate::error::ApiError;
use crate::jobs::{BackgroundJob, JobContext, Ran};
use crate::services::webhooks::events;
use crate::state::AppState;

/// Processes the deliveries of one intake batch and environment. Intake queues these in its
/// own statement (`db::webhooks::intake_batch`, with this kind's `jobs::spec`), writing the
/// payload `{"deliveryIds": [...]}` this type reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WebhookPayload", rename_all = "camelCase")]
pub struct WebhookJob {
    pub delivery_ids: Vec<Uuid>,
}

/// A webhook job's payload as stored: `deliveryIds` (one job per intake batch), or the single
/// `deliveryId` of a job queued before jobs were batched.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookPayload {
    delivery_ids: Option<Vec<Uuid>>,
    delivery_id: Option<Uuid>,
}

impl TryFrom<WebhookPayload> for WebhookJob {
    type Error = &'static str;

    fn try_from(p: WebhookPayload) -> Result<Self, Self::Error> {
        match (p.delivery_ids, p.delivery_id) {
            (Some(ids), _) if !ids.is_empty() => Ok(WebhookJob { delivery_ids: ids }),
            (Some(_), _) => Err("deliveryIds is empty"),
            (None, Some(id)) => Ok(WebhookJob {
                delivery_ids: vec![id],
            }),
            (None, None) => Err("the job names no deliveries"),
        }
    }
}

impl BackgroundJob for WebhookJob {
    const KIND: &'static str = "webhook";
    /// Attempts before the job's still-queued deliveries are `failed`.
    const MAX_ATTEMPTS: i32 = 8;

    async fn run(self, ctx: JobContext) -> Result<Ran, ApiError> {
        // Processing's own connections (`db::hot_statement_pool`): the same few statements
        // for every delivery, planned once per connection.
        let state = AppState {
            db: ctx.state.webhook_db.clone(),
            ..ctx.state.clone()
        };
        let ids = &self.delivery_ids;
        let run = process_deliveries(&state, ids).await;
        let progress = json!({"deliveries": run.results});
        match run.first_error {
            None => Ok(Ran::Done(progress)),
            Some(e) if ids.len() == 1 => Err(e),
            Some(e) => Ok(Ran::Retry {
                code: e.code(),
                error: format!(
                    "{} of {} deliveries failed; the first: {e}",
                    run.failed,
                    ids.len()
                ),
                after: ctx.backoff(),
            }),
        }
    }

    /// Marks the deliveries still queued `failed`, each with the error of its own last
    /// attempt (else `error`); the ones already finished keep their outcome.
    async fn gave_up(&self, conn: &mut PgConnection, error: &str) -> Result<(), ApiError> {
        db::fail_queued(conn, &self.delivery_ids, error).await?;
        Ok(())
    }
}

/// What processing a job's deliveries came to.
#[derive(Debug)]
pub struct BatchRun {
    /// Each delivery with what processing it answered (`{"error": …}` for one that failed).
    pub results: Vec<Value>,
    /// The deliveries that failed and stay queued, with the first error.
    pub failed: usize,
    pub first_error: Option<ApiError>,
}

/// Processes a job's deliveries in their order, each once. A delivery that fails does not
/// stop the others: it stays queued, and the job's next attempt takes it again while the
/// ones already finished are skipped.
pub async fn process_deliveries(state: &AppState, ids: &[Uuid]) -> BatchRun {
    let mut run = BatchRun {
        results: Vec::with_capacity(ids.len()),
        failed: 0,
        first_error: None,
    };
    for &id in ids {
        let result = match process_delivery(state, id).await {
            Ok(result) => result,
            Err(e) => {
                tracing::warn!(delivery_id = %id, error = %e, "webhook delivery failed; it is retried with its job");
                if let Err(note) = db::note_error(&state.db, id, &e.to_string()).await {
                    tracing::warn!(delivery_id = %id, error = %note, "could not keep a webhook delivery's error");
                }
                let shown = json!({"error": e.to_string()});
                run.failed += 1;
                run.first_error.get_or_insert(e);
                shown
            }
        };
        run.results.push(json!({"deliveryId": id, "result": result}));
    }
    run
}

/// Processes a stored delivery once; answers what happened (the job's progress). Errors are
/// worth a retry (Mono or the database away); a delivery that can never be processed is
/// finished `failed` or `ignored` and answers Ok.
pub async fn process_delivery(state: &AppState, delivery_id: Uuid) -> Result<Value, ApiError> {
    let Some(d) = db::get(&state.db, delivery_id, false).await? else {
        return Ok(json!({"skipped": "no such delivery"}));
    };
    if d.status != "queued" {
        return Ok(json!({"skipped": format!("already {}", d.status)}));
    }
    let trace_id = d.trace_id.clone();
    crate::telemetry::with_trace_id(trace_id, events::process(state, d)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_deliveries(payload: &Value) -> Option<Vec<Uuid>> {
        serde_json::from_value::<WebhookJob>(payload.clone())
            .ok()
            .map(|j| j.delivery_ids)
    }

    #[test]
    fn a_webhook_job_names_its_deliveries_in_either_payload() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            job_deliveries(&json!({"deliveryIds": [a.to_string(), b.to_string()]})),
            Some(vec![a, b])
        );
        // A job queued before jobs were batched.
        assert_eq!(
            job_deliveries(&json!({"deliveryId": a.to_string()})),
            Some(vec![a])
        );
        // What intake and this type write is what this type reads.
        let job = WebhookJob {
            delivery_ids: vec![a, b],
        };
        let stored = serde_json::to_value(&job).unwrap();
        assert_eq!(stored, json!({"deliveryIds": [a.to_string(), b.to_string()]}));
        assert_eq!(job_deliveries(&stored), Some(vec![a, b]));
        for broken in [
            json!({}),
            json!({"deliveryIds": []}),
            json!({"deliveryIds": "x"}),
            json!({"deliveryIds": [a.to_string(), "not-a-uuid"]}),
            json!({"deliveryId": 7}),
        ] {
            assert_eq!(job_deliveries(&broken), None, "{broken}");
        }
    }
}
