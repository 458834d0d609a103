//! Account linking: widget links (auth and reauth), the code exchange, storing a link Mono
//! completed, and queueing an account's first sync.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::db::accounts::{self as db, AccountRow, NewLinkRef};
use crate::error::ApiError;
use crate::services::accounts::{details_from_mono, AccountView, CustomerView};
use crate::state::AppState;
use crate::tenancy::Tenant;
use mono::{self, AuthInitiate, InitiateCustomer, InitiateMeta, InitiateRequest, MonoError, ReauthInitiate};

// ----- widget-link -------------------------------------------------------------------------

pub enum CustomerInput {
    New {
        name: String,
        email: String,
        identity: Option<(String, String)>,
    },
    Existing {
        id: String,
    },
}

pub struct WidgetLinkInput {
    pub scope: mono::Scope,
    pub customer: Option<CustomerInput>,
    pub redirect_url: Url,
    pub r#ref: Option<String>,
    pub institution: Option<(String, String)>,
    pub account: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetLink {
    pub mono_url: String,
    pub r#ref: String,
    #[schema(value_type = crate::vocab::LinkScope)]
    pub scope: mono::Scope,
    pub customer: CustomerView,
    pub created_at: DateTime<Utc>,
}

/// The ref Mono sees for a client's ref: prefixed with the organization's namespace (12 hex
/// digits of a hash of its id), so refs of different organizations never meet at Mono.
pub fn namespaced_ref(org_id: Uuid, client_ref: &str) -> String {
    use sha2::{Digest, Sha256};
    let ns = hex::encode(&Sha256::digest(org_id.as_bytes())[..6]);
    format!("{ns}.{client_ref}")
}

/// A ref Mono will echo back: 24 random hex digits after a readable prefix.
pub fn generate_ref() -> String {
    let n: u128 = rand::thread_rng().gen();
    format!("tpm_{:024x}", n & ((1u128 << 96) - 1))
}

pub async fn widget_link(
    state: &AppState,
    tenant: &Tenant,
    input: WidgetLinkInput,
) -> Result<WidgetLink, ApiError> {
    let r#ref = match input.r#ref {
        Some(r) => {
            if db::client_ref_exists(&state.db, tenant, &r).await? {
                return Err(ApiError::field("meta.ref", "is already used by another link"));
            }
            r
        }
        None => generate_ref(),
    };
    let mono_ref = namespaced_ref(tenant.org_id, &r#ref);
    if let Some(CustomerInput::Existing { id }) = input.customer.as_ref() {
        // The same answer for a customer of another organization as for one that never was.
        if !db::customer_seen(&state.db, tenant, id).await? {
            return Err(ApiError::field(
                "customer.id",
                "is not a customer of this organization",
            ));
        }
    }
    let request = match input.scope {
        mono::Scope::Auth => {
            let customer = match input.customer.as_ref() {
                Some(CustomerInput::New {
                    name,
                    email,
                    identity,
                }) => InitiateCustomer::New {
                    name: name.clone(),
                    email: email.clone(),
                    identity: identity.as_ref().map(|(kind, number)| mono::CustomerIdentity {
                        kind: kind.clone(),
                        number: number.clone(),
                    }),
                },
                Some(CustomerInput::Existing { id }) => InitiateCustomer::Existing { id: id.clone() },
                None => return Err(ApiError::field("customer", "is required")),
            };
            InitiateRequest::Auth(AuthInitiate {
                customer,
                meta: InitiateMeta {
                    reference: Some(mono_ref.clone()),
                },
                redirect_url: input.redirect_url.clone(),
                institution: input
                    .institution
                    .as_ref()
                    .map(|(id, auth_method)| mono::InitiateInstitution {
                        id: id.clone(),
                        auth_method: auth_method.clone(),
                    }),
            })
        }
        mono::Scope::Reauth => {
            let account = input
                .account
                .as_deref()
                .ok_or_else(|| ApiError::field("account", "is required when scope is reauth"))?;
            let linked = db::get(&state.db, tenant, account)
                .await?
                .is_some_and(|a| a.unlinked_at.is_none());
            if !linked {
                return Err(ApiError::field(
                    "account",
                    "must be an account linked in this environment",
                ));
            }
            InitiateRequest::Reauth(ReauthInitiate {
                account: account.to_string(),
                meta: InitiateMeta {
                    reference: Some(mono_ref.clone()),
                },
                redirect_url: Some(input.redirect_url.clone()),
            })
        }
    };
    let answer = state.mono.initiate(&request).await?;
    let mono_url = rewrite_widget_url(answer.mono_url, state.settings.mono.widget_base_url.as_ref());
    let (customer_id, customer_name, customer_email) = match &input.customer {
        Some(CustomerInput::New { name, email, .. }) => {
            (answer.customer.clone(), Some(name.clone()), Some(email.clone()))
        }
        Some(CustomerInput::Existing { id }) => (Some(id.clone()), None, None),
        None => (answer.customer.clone(), None, None),
    };
    let inserted = db::insert_link_ref(
        &state.db,
        tenant,
        NewLinkRef {
            r#ref: &mono_ref,
            client_ref: &r#ref,
            scope: match input.scope {
                mono::Scope::Auth => "auth",
                mono::Scope::Reauth => "reauth",
            },
            customer_id: customer_id.as_deref(),
            customer_name: customer_name.as_deref(),
            customer_email: customer_email.as_deref(),
            account_id: input.account.as_deref(),
            redirect_url: input.redirect_url.as_str(),
            mono_url: mono_url.as_str(),
        },
    )
    .await?;
    if !inserted {
        return Err(ApiError::field("meta.ref", "is already used by another link"));
    }
    Ok(WidgetLink {
        mono_url: mono_url.to_string(),
        r#ref,
        scope: input.scope,
        customer: CustomerView { id: customer_id },
        created_at: answer.created_at.unwrap_or_else(Utc::now),
    })
}

/// `MONO_WIDGET_BASE_URL` replaces the scheme, host and port; path and query stay.
pub fn rewrite_widget_url(mut url: Url, base: Option<&Url>) -> Url {
    if let Some(base) = base {
        let _ = url.set_scheme(base.scheme());
        let _ = url.set_host(base.host_str());
        let _ = url.set_port(base.port());
    }
    url
}

// ----- exchange ----------------------------------------------------------------------------

pub async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    code: &str,
    r#ref: Option<&str>,
) -> Result<AccountView, ApiError> {
    // The ref as the client named it, or as Mono echoed it; stored as Mono knows it.
    let link_ref = match r#ref {
        None => None,
        Some(r) => match db::find_link_ref_of(&state.db, tenant, r).await? {
            Some(mono_ref) => Some(mono_ref),
            None => return Err(ApiError::field("ref", "is not a ref issued to this environment")),
        },
    };
    let account_id = state.mono.exchange_code(code).await.map_err(|e| match e {
        MonoError::Api {
            status: 400 | 404 | 409 | 410 | 422,
            message,
        } => ApiError::BadRequest {
            code: "invalid_code",
            message: format!("Mono refused the code: {message}"),
            fields: [("code".to_string(), message)].into_iter().collect(),
        },
        other => other.into(),
    })?;
    ensure_not_elsewhere(state, tenant, &account_id).await?;
    let details = details_best_effort(state, &account_id).await;
    let mut tx = state.db.begin().await?;
    if !store_link(
        &mut tx,
        tenant,
        &account_id,
        link_ref.as_deref(),
        link_ref.as_deref(),
        details.as_ref(),
    )
    .await?
    {
        return Err(linked_elsewhere());
    }
    let row = db::get(&mut *tx, tenant, &account_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("linked account {account_id} not readable")))?;
    let queued = queue_first_sync(state, &mut tx, tenant, &row).await?;
    // Read again once the first sync is queued: the answer shows it (`sync.state`, `jobId`).
    let row = match queued {
        Some(_) => db::get(&mut *tx, tenant, &account_id).await?.unwrap_or(row),
        None => row,
    };
    tx.commit().await?;
    if queued.is_some() {
        state.sync_notify.notify_one();
    }
    Ok(row.into())
}

/// After a link, asks for the account's first sync when Mono already has its transactions
/// (`MONO_SYNC_ON_LINK`); later ones come from `account_updated` and the sweep. The job the
/// request rode on (new, or the account's unfinished sync: a re-link while it runs makes it
/// go round once more), or None when no sync was asked for. The caller wakes the sync lane
/// once its transaction commits.
pub async fn queue_first_sync(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    tenant: &Tenant,
    account: &AccountRow,
) -> Result<Option<uuid::Uuid>, ApiError> {
    if !state.settings.sync_on_link || account.unlinked_at.is_some() || !account.transactions_ready() {
        return Ok(None);
    }
    let asked = crate::services::sync::job::enqueue(tx, tenant, &account.id, "link").await?;
    Ok(Some(asked.id))
}

/// The account's details from Mono, or None (logged) when Mono cannot give them now: a link
/// Mono has made is never lost for want of them.
pub async fn details_best_effort(state: &AppState, account_id: &str) -> Option<db::DetailsUpdate> {
    match state.mono.account_details(account_id, false).await {
        Ok(d) => Some(details_from_mono(&d)),
        Err(err) => {
            tracing::warn!(account_id, error = %err, "account details unavailable after a link; stored without them");
            None
        }
    }
}

/// Stores a link Mono completed (the exchange, or the hosted-link webhook), inside the
/// caller's transaction: the account under the tenant, any reauth-required state ended, and
/// the widget-link ref `completed_ref` marked done. False when another organization or
/// environment holds the account.
pub async fn store_link(
    tx: &mut sqlx::PgConnection,
    tenant: &Tenant,
    account_id: &str,
    link_ref: Option<&str>,
    completed_ref: Option<&str>,
    details: Option<&db::DetailsUpdate>,
) -> Result<bool, ApiError> {
    if !db::link(&mut *tx, tenant, account_id, link_ref, details).await? {
        return Ok(false);
    }
    // A completed Mono authorisation (first link or reauth) ends any reauth-required state.
    db::set_reauth_required(&mut *tx, tenant, account_id, false).await?;
    if let Some(r) = completed_ref {
        db::complete_link_ref(&mut *tx, r).await?;
    }
    Ok(true)
}

fn linked_elsewhere() -> ApiError {
    ApiError::conflict(
        "account_linked_elsewhere",
        "this bank account is linked to another organization or environment",
    )
}

async fn ensure_not_elsewhere(state: &AppState, tenant: &Tenant, account_id: &str) -> Result<(), ApiError> {
    match db::owner(&state.db, account_id).await? {
        Some((org, env)) if org != tenant.org_id || env != tenant.env_id => Err(linked_elsewhere()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widget_base_url_replaces_scheme_and_host_only() {
        let url = Url::parse("https://connect.mono.co/abc?x=1").unwrap();
        let base = Url::parse("http://widget.local:9000").unwrap();
        assert_eq!(
            rewrite_widget_url(url, Some(&base)).as_str(),
            "http://widget.local:9000/abc?x=1"
        );
    }

    #[test]
    fn generated_refs_are_unique_and_long_enough() {
        let a = generate_ref();
        assert!(a.len() >= 10);
        assert_ne!(a, generate_ref());
    }
}
