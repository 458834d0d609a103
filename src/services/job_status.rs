//! A background job as `GET /si/mono/jobs/{id}` shows it.

use uuid::Uuid;

use crate::db::queue as db;
pub use crate::db::queue::JobRow;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// A job of the caller's environment; 404 for any other.
pub async fn get(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<JobRow, ApiError> {
    db::get(&state.db, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("job {id} not found")))
}
