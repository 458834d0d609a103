//! MBS's code lists (`GET /si/mbs/resources/{name}`, and the codes a profile or an invoice is
//! checked against): kept in PostgreSQL as MBS last sent them, refreshed in the background
//! once a day, and still served, marked stale, when MBS is down. A list never fetched is
//! fetched on first use; only then does MBS being down fail a request.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// The lists the dashboard's pickers and the service's checks use, as MBS names them (the
/// eight of the contract, and `vat-exemptions`).
pub const NAMES: [&str; 9] = mbs::RESOURCES;

/// A list older than this is refreshed.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// A refresh another replica began this recently is left to it.
pub const RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

/// One entry of an MBS code list, as MBS sent it: which members it has depends on the list
/// (`{code, value}`, `{code, value, percent}`, `{code, description}`, a country's
/// `alpha_2`, ...), and MBS may send more.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes entries kept as MBS sent them
pub struct ResourceItem {
    code: Option<String>,
    value: Option<String>,
    description: Option<String>,
    /// A tax category's percent, as text.
    percent: Option<String>,
    name: Option<String>,
    alpha_2: Option<String>,
}

/// A list as `GET /si/mbs/resources/{name}` answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceList {
    /// The list's name at MBS (`tax-categories`, …).
    pub name: String,
    /// The entries exactly as MBS sent them (`{code, value, percent}` for tax categories, …).
    #[schema(value_type = Vec<ResourceItem>)]
    pub items: Vec<Value>,
    /// When MBS sent them.
    pub fetched_at: DateTime<Utc>,
    /// True when the list is older than a day and its refresh has not succeeded yet (MBS
    /// down): still the last list MBS sent.
    pub stale: bool,
}

/// The list `name`, from the cache; fetched from MBS when never fetched. A stale list is
/// answered at once and refreshed in the background.
pub async fn get(state: &AppState, name: &str) -> Result<ResourceList, ApiError> {
    let Some(name) = NAMES.iter().find(|n| **n == name) else {
        return Err(ApiError::not_found(format!(
            "no MBS resource list named `{name}`; the lists are {}",
            NAMES.join(", ")
        )));
    };
    if let Some(stored) = db::mbs::list(&state.db, name).await? {
        let stale = is_stale(stored.fetched_at, Utc::now());
        if stale {
            let state = state.clone();
            tokio::spawn(async move { refresh_due(&state).await });
        }
        return Ok(view(name, stored.items, stored.fetched_at, stale));
    }
    let client = client(state)?;
    let items = client.resources(name).await.map_err(|e| {
        tracing::warn!(list = name, error = %e, "an MBS resource list could not be fetched");
        mbs_unavailable(&e)
    })?;
    let items = Value::Array(items);
    let fetched_at = db::mbs::store_list(&state.db, name, &items).await?;
    Ok(view(name, items, fetched_at, false))
}

impl ResourceList {
    /// Its entries' codes (each entry's `code`, or `alpha_2` for countries), for checking a
    /// value against MBS's list.
    pub fn codes(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|item| {
                let code = if self.name == "countries" {
                    item.get("alpha_2").or_else(|| item.get("code"))
                } else {
                    item.get("code")
                };
                match code? {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            })
            .collect()
    }

    /// Of the `tax-categories` list: whether `category` is in it, and its percent in
    /// hundredths (`"7.5"` → 750; None when MBS gives it none, "Not Available" say). None: not
    /// in the list.
    pub fn tax_percent_bp(&self, category: &str) -> Option<Option<i32>> {
        self.items
            .iter()
            .find(|item| item.get("code").and_then(Value::as_str) == Some(category))
            .map(|item| {
                item.get("percent")
                    .and_then(Value::as_str)
                    .and_then(crate::einvoice::Percent::parse)
                    .and_then(|p| i32::try_from(p.basis_points()).ok())
            })
    }

    /// The `description` of the entry with `code` (a service category, in `services-codes`).
    pub fn description_of(&self, code: &str) -> Option<String> {
        self.items
            .iter()
            .find(|i| i.get("code").and_then(Value::as_str) == Some(code))
            .and_then(|i| i.get("description").and_then(Value::as_str))
            .map(str::to_owned)
    }
}

/// The codes of list `name` ([`ResourceList::codes`]).
pub async fn codes(state: &AppState, name: &str) -> Result<Vec<String>, ApiError> {
    Ok(get(state, name).await?.codes())
}

/// [`ResourceList::tax_percent_bp`] of the cached `tax-categories` list.
pub async fn tax_percent_bp(state: &AppState, category: &str) -> Result<Option<Option<i32>>, ApiError> {
    Ok(get(state, "tax-categories").await?.tax_percent_bp(category))
}

/// Refreshes every list due (never fetched, or older than [`MAX_AGE`]) that no other replica
/// is refreshing; a failure is recorded beside the list kept. Answers how many were stored.
pub async fn refresh_due(state: &AppState) -> usize {
    let Some(client) = state.mbs.as_ref() else {
        return 0;
    };
    let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    let due = match db::mbs::claim_due(
        &state.db,
        &names,
        MAX_AGE.as_secs() as i64,
        RETRY_AFTER.as_secs() as i64,
    )
    .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "MBS resource lists: the cache could not be read");
            return 0;
        }
    };
    let mut stored = 0;
    for name in due {
        match client.resources(&name).await {
            Ok(items) => match db::mbs::store_list(&state.db, &name, &Value::Array(items)).await {
                Ok(_) => stored += 1,
                Err(e) => {
                    tracing::warn!(list = %name, error = %e, "an MBS resource list could not be stored")
                }
            },
            Err(e) => {
                tracing::warn!(list = %name, error = %e, "an MBS resource list could not be refreshed; the one kept is served");
                metrics::counter!("mbs_resource_refresh_failures_total").increment(1);
                let _ = db::mbs::refresh_failed(&state.db, &name, &e.to_string()).await;
            }
        }
    }
    stored
}

/// Refreshes the lists at start and then every `MBS_RESOURCES_CHECK_SECS`, until shutdown.
pub async fn run(state: AppState) {
    let Some(every) = state.settings.mbs.resources_check_every else {
        return;
    };
    if state.mbs.is_none() {
        return;
    }
    loop {
        let stored = refresh_due(&state).await;
        if stored > 0 {
            tracing::info!(lists = stored, "MBS resource lists refreshed");
        }
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

fn is_stale(fetched_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now.signed_duration_since(fetched_at)
        .to_std()
        .is_ok_and(|age| age > MAX_AGE)
}

fn view(name: &str, items: Value, fetched_at: DateTime<Utc>, stale: bool) -> ResourceList {
    let items = match items {
        Value::Array(items) => items,
        other => vec![other],
    };
    ResourceList {
        name: name.to_owned(),
        items,
        fetched_at,
        stale,
    }
}

/// The MBS client, or 503 naming the setting that is missing.
pub fn client(state: &AppState) -> Result<&mbs::MbsClient, ApiError> {
    state.mbs.as_ref().ok_or_else(|| ApiError::Unavailable {
        code: "mbs_not_configured",
        message: "MBS is not configured: set MBS_BASE_URL, MBS_API_KEY and MBS_API_SECRET".into(),
    })
}

/// 503 for a call to MBS that failed without an answer worth passing on.
pub fn mbs_unavailable(e: &mbs::MbsError) -> ApiError {
    ApiError::Unavailable {
        code: "mbs_unavailable",
        message: format!("the e-invoicing platform could not be reached: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_stale_past_a_day_only() {
        let now = Utc::now();
        assert!(!is_stale(now, now));
        assert!(!is_stale(now - chrono::Duration::hours(23), now));
        assert!(is_stale(now - chrono::Duration::hours(25), now));
        // A clock that went back does not make a list stale.
        assert!(!is_stale(now + chrono::Duration::hours(1), now));
    }
}
