//! Unlinking an account: at Mono first, then here, with an optional purge of what it brought,
//! in one transaction (a SIGNED invoice is never purged).

use serde::{Deserialize, Serialize};

use crate::db::accounts::{self as db, Purged};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unlinked {
    pub account_id: String,
    pub unlinked: bool,
    pub purged: Purged,
}

pub async fn unlink(
    state: &AppState,
    tenant: &Tenant,
    account_id: &str,
    purge: bool,
) -> Result<Unlinked, ApiError> {
    let row = db::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    if row.unlinked_at.is_none() {
        // Mono's 404 means already gone; anything else leaves the account linked here, so the
        // caller can retry.
        let outcome = state.mono.unlink(account_id).await?;
        tracing::info!(account_id, ?outcome, "account unlinked at Mono");
    }
    let mut tx = state.db.begin().await?;
    db::mark_unlinked(&mut *tx, tenant, account_id).await?;
    let purged = if purge {
        db::purge(&mut tx, tenant, account_id).await?
    } else {
        Purged::default()
    };
    tx.commit().await?;
    Ok(Unlinked {
        account_id: account_id.to_string(),
        unlinked: true,
        purged,
    })
}
