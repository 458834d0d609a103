//! Linked accounts as the API shows them (the account object), read from storage or refreshed
//! from Mono, and Mono's own account list.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::accounts::{self as db, AccountRow};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The account object of the contract: Mono's snake_case shape plus the service's own fields.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: Option<String>,
    pub account_number: Option<String>,
    pub currency: Option<String>,
    #[serde(rename = "type")]
    pub account_type: Option<String>,
    pub balance: Option<i64>,
    /// Never more than the last 4 digits.
    pub bvn: Option<String>,
    pub institution: InstitutionView,
    pub customer: CustomerView,
    #[schema(value_type = Option<crate::vocab::DataStatus>)]
    pub data_status: Option<String>,
    pub auth_method: Option<String>,
    #[serde(rename = "envId")]
    pub env_id: Uuid,
    #[serde(rename = "linkedAt")]
    pub linked_at: DateTime<Utc>,
    #[serde(rename = "unlinkedAt")]
    pub unlinked_at: Option<DateTime<Utc>>,
    #[serde(rename = "lastSyncedAt")]
    pub last_synced_at: Option<DateTime<Utc>>,
    #[serde(rename = "reauthRequired")]
    pub reauth_required: bool,
    /// Why the last background sync failed; null once one succeeds.
    #[serde(rename = "lastSyncError")]
    pub last_sync_error: Option<String>,
    /// After failed background syncs, when the account is synced again (backoff); null when
    /// it is not backed off.
    #[serde(rename = "nextSyncAt")]
    pub next_sync_at: Option<DateTime<Utc>>,
    /// The account's connection to its bank.
    pub connection: Connection,
    /// The account's background sync, so a dashboard can show "syncing" from the moment a
    /// link queues the first one.
    pub sync: SyncView,
}

/// The account's connection: `unlinked` once unlinked, whatever else is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    Ok,
    /// The customer must reauthorise (a widget-link with `scope: reauth`) before data flows.
    ReauthRequired,
    /// Mono reported a failed sync; the next successful sync ends it.
    SyncFailed,
    Unlinked,
}

impl Connection {
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Ok => "ok",
            Connection::ReauthRequired => "reauth_required",
            Connection::SyncFailed => "sync_failed",
            Connection::Unlinked => "unlinked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Connection::Ok,
            Connection::ReauthRequired,
            Connection::SyncFailed,
            Connection::Unlinked,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Where the account's background sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Idle,
    Queued,
    Running,
    /// Queued syncs leave the account alone until `nextSyncAt` after failures.
    Backoff,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncView {
    pub state: SyncState,
    /// The queued or running sync job (`GET /si/mono/jobs/{id}`).
    #[serde(rename = "jobId", default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
}

impl SyncView {
    fn of(a: &AccountRow, now: DateTime<Utc>) -> Self {
        let state = match (a.sync_job_id, a.sync_job_status.as_deref()) {
            (Some(_), Some("running")) => SyncState::Running,
            (Some(_), _) => SyncState::Queued,
            (None, _) if a.last_sync_error.is_some() && a.next_sync_at.is_some_and(|t| t > now) => {
                SyncState::Backoff
            }
            (None, _) => SyncState::Idle,
        };
        SyncView {
            state,
            job_id: a.sync_job_id,
        }
    }
}

redact::debug_redacted!(AccountView { id, name, currency, account_type, balance, institution, customer, data_status, auth_method, env_id, linked_at, unlinked_at, last_synced_at, reauth_required, last_sync_error, next_sync_at, connection, sync; account_number, bvn });

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstitutionView {
    pub name: Option<String>,
    pub bank_code: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerView {
    pub id: Option<String>,
}

impl From<AccountRow> for AccountView {
    fn from(a: AccountRow) -> Self {
        let connection = if a.unlinked_at.is_some() {
            Connection::Unlinked
        } else {
            Connection::parse(&a.connection).unwrap_or(Connection::Ok)
        };
        let sync = SyncView::of(&a, Utc::now());
        AccountView {
            id: a.id,
            name: a.name,
            account_number: a.account_number,
            currency: a.currency,
            account_type: a.r#type,
            balance: a.balance,
            bvn: a.bvn_last4,
            institution: InstitutionView {
                name: a.institution_name,
                bank_code: a.bank_code,
                kind: a.institution_type,
            },
            customer: CustomerView { id: a.customer_id },
            data_status: a.data_status,
            auth_method: a.auth_method,
            env_id: a.env_id,
            linked_at: a.linked_at,
            unlinked_at: a.unlinked_at,
            last_synced_at: a.last_synced_at,
            reauth_required: a.reauth_required,
            last_sync_error: a.last_sync_error,
            next_sync_at: a.next_sync_at,
            connection,
            sync,
        }
    }
}

/// The last 4 digits of whatever Mono sent (full or masked); never more.
pub fn bvn_last4(bvn: Option<&str>) -> Option<String> {
    let digits: Vec<char> = bvn?.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits[digits.len().saturating_sub(4)..].iter().collect())
}

pub fn details_from_mono(d: &mono::AccountDetails) -> db::DetailsUpdate {
    db::DetailsUpdate {
        name: Some(d.account.name.clone()),
        account_number: Some(d.account.account_number.clone()),
        currency: Some(d.account.currency.clone()),
        r#type: d.account.account_type.clone(),
        balance: Some(d.account.balance),
        bvn_last4: bvn_last4(d.account.bvn.as_deref()),
        institution_name: Some(d.account.institution.name.clone()),
        bank_code: d.account.institution.bank_code.clone(),
        institution_type: d.account.institution.kind.clone(),
        customer_id: d.customer.as_ref().map(|c| c.id.clone()),
        data_status: Some(d.meta.data_status.as_str().to_string()),
        auth_method: d.meta.auth_method.clone(),
        retrieved_data: Some(d.meta.retrieved_data.clone()),
    }
}

pub async fn get_account(
    state: &AppState,
    tenant: &Tenant,
    account_id: &str,
    refresh: bool,
) -> Result<AccountView, ApiError> {
    let row = db::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    if !refresh {
        return Ok(row.into());
    }
    if row.unlinked_at.is_some() {
        return Err(ApiError::conflict(
            "account_unlinked",
            "the account is unlinked; it cannot be refreshed",
        ));
    }
    let cooldown = state.settings.refresh_cooldown;
    if !cooldown.is_zero() {
        let claim = db::claim_realtime_refresh(&state.db, tenant, account_id, cooldown.as_secs_f64())
            .await?
            .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
        if let Some(last) = claim {
            return Err(crate::services::limits::refresh_refused(cooldown, last));
        }
    }
    Ok(refresh_from_mono(state, tenant, account_id, true).await?.into())
}

/// Fetches the account's details from Mono (`realtime`: ask Mono for a live pull), stores
/// them, and answers the stored row as it now is.
pub async fn refresh_from_mono(
    state: &AppState,
    tenant: &Tenant,
    account_id: &str,
    realtime: bool,
) -> Result<AccountRow, ApiError> {
    let details = state.mono.account_details(account_id, realtime).await?;
    let reauth = details.meta.reauth_required();
    db::update_details(
        &state.db,
        tenant,
        account_id,
        &details_from_mono(&details),
        reauth.then_some(true),
    )
    .await?;
    db::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))
}

/// The environment's linked accounts; `connection` Some keeps those in that state.
pub async fn list_linked(
    state: &AppState,
    tenant: &Tenant,
    connection: Option<Connection>,
) -> Result<Vec<AccountView>, ApiError> {
    Ok(
        db::list_linked(&state.db, tenant, connection.map(Connection::as_str))
            .await?
            .into_iter()
            .map(AccountView::from)
            .collect(),
    )
}

/// `GET /si/mono/accounts`'s `data`: the environment's linked accounts (`linkedOnly=true`),
/// or a page of Mono's own list (an admin key), each in its own shape.
pub struct AccountList;

impl utoipa::PartialSchema for AccountList {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder};
        use utoipa::openapi::Ref;
        use utoipa::ToSchema;
        let array_of =
            |name: std::borrow::Cow<'static, str>| ArrayBuilder::new().items(Ref::from_schema_name(name));
        AnyOfBuilder::new()
            .item(array_of(AccountView::name()))
            .item(array_of(mono::AccountSummary::name()))
            .description(Some(
                "With `linkedOnly=true`: the linked accounts (the account object). Otherwise \
                 (an admin key): a page of Mono's own list, as Mono describes each account.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for AccountList {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push((AccountView::name().into(), AccountView::schema()));
        AccountView::schemas(schemas);
        schemas.push((
            mono::AccountSummary::name().into(),
            mono::AccountSummary::schema(),
        ));
        mono::AccountSummary::schemas(schemas);
    }
}

/// Mono's own account list, one page (every customer of the Mono app: callers check the role).
pub async fn list_upstream(
    state: &AppState,
    page: u32,
) -> Result<(Vec<mono::AccountSummary>, mono::Paging), ApiError> {
    let (mut accounts, paging) = state.mono.list_accounts(Some(page)).await?;
    // Mono may send a BVN here too: it leaves the service as its last 4 digits, like ours.
    for a in &mut accounts {
        a.bvn = bvn_last4(a.bvn.as_deref());
    }
    Ok((accounts, paging))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bvn_keeps_at_most_four_digits() {
        assert_eq!(bvn_last4(Some("22212345678")).as_deref(), Some("5678"));
        assert_eq!(bvn_last4(Some("*******4321")).as_deref(), Some("4321"));
        assert_eq!(bvn_last4(Some("12")).as_deref(), Some("12"));
        assert_eq!(bvn_last4(Some("")), None);
        assert_eq!(bvn_last4(None), None);
    }

    #[test]
    fn the_account_object_keeps_monos_snake_case() {
        let now = Utc::now();
        let view = AccountView {
            id: "a".into(),
            name: None,
            account_number: Some("0123".into()),
            currency: None,
            account_type: None,
            balance: None,
            bvn: None,
            institution: InstitutionView {
                name: None,
                bank_code: Some("058".into()),
                kind: None,
            },
            customer: CustomerView { id: None },
            data_status: Some("AVAILABLE".into()),
            auth_method: None,
            env_id: Uuid::nil(),
            linked_at: now,
            unlinked_at: None,
            last_synced_at: None,
            reauth_required: false,
            last_sync_error: None,
            next_sync_at: None,
            connection: Connection::Ok,
            sync: SyncView {
                state: SyncState::Idle,
                job_id: None,
            },
        };
        let json = serde_json::to_value(&view).unwrap();
        for key in [
            "account_number",
            "data_status",
            "envId",
            "linkedAt",
            "reauthRequired",
            "type",
            "connection",
            "sync",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert_eq!(json["institution"]["bank_code"], "058");
        assert_eq!(json["connection"], "ok");
        assert_eq!(json["sync"], serde_json::json!({"state": "idle"}));
    }
}
