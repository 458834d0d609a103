//! A background job as `GET /si/mono/jobs/{id}` shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use crate::db::queue::{self as db, JobRow};
use crate::error::ApiError;
use crate::services::bulk_sign::Progress as BulkSignProgress;
use crate::services::dlq_replay::ReplayProgress;
use crate::services::sync::parts::StoredProgress;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// A background job and its progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    id: Uuid,
    #[schema(value_type = crate::vocab::JobKind)]
    kind: String,
    #[schema(value_type = crate::vocab::JobStatus)]
    status: String,
    progress: JobProgress,
    /// Runs begun so far.
    attempts: i32,
    /// Why the last run failed.
    #[serde(rename = "error", skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        JobView {
            id: r.id,
            kind: r.kind,
            status: r.status,
            progress: JobProgress(r.progress),
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// A job's progress: a bulk job's counts (by its kind), else what a single-item job's run
/// recorded, for people reading it.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct JobProgress(Value);

impl PartialSchema for JobProgress {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, AnyOfBuilder, ObjectBuilder};
        use utoipa::openapi::Ref;
        let notes = ObjectBuilder::new()
            .title(Some("JobNotes"))
            .description(Some(
                "What a single-item job's run recorded (a webhook delivery, a sync, an MBS submission)",
            ))
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)));
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(ReplayProgress::name()))
            .item(Ref::from_schema_name(BulkSignProgress::name()))
            .item(Ref::from_schema_name(StoredProgress::name()))
            .item(notes)
            .into()
    }
}

impl ToSchema for JobProgress {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ReplayProgress::name().into(), ReplayProgress::schema()));
        ReplayProgress::schemas(schemas);
        schemas.push((BulkSignProgress::name().into(), BulkSignProgress::schema()));
        BulkSignProgress::schemas(schemas);
        schemas.push((StoredProgress::name().into(), StoredProgress::schema()));
        StoredProgress::schemas(schemas);
    }
}

/// A job of the caller's environment; 404 for any other.
pub async fn get(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<JobView, ApiError> {
    db::get(&state.db, tenant, id)
        .await?
        .map(JobView::from)
        .ok_or_else(|| ApiError::not_found(format!("job {id} not found")))
}
