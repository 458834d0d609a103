//! What each Mono event does to the environment it belongs to: linking (`account_connected`),
//! account updates (details, reauth, a queued sync), the connection (reauthorisation required,
//! reauthorised, a failed sync at Mono), unlinking, recording income and Mono jobs,
//! and transactions (decided, then reconciled against invoices by `services::reconcile`).

use serde_json::{json, Value};

use crate::db::accounts::{self, DetailsUpdate};
use crate::db::ledger::PageContext;
use crate::db::webhooks::DeliveryRow;
use crate::domain::RecordReason;
use crate::error::ApiError;
use crate::services::accounts as accounts_view;
use crate::services::webhooks::delivery::{already, finish, finish_alone, finish_in, ignored, lock, typed};
use crate::services::{link, reconcile};
use crate::state::AppState;
use crate::tenancy::Tenant;
use mono::types::{events, AccountConnected, AccountIncome, AccountUpdated, DataStatus, JobsUpdate};
use mono::RawTransaction;

/// Processes one delivery by its event.
pub async fn process(state: &AppState, d: DeliveryRow) -> Result<Value, ApiError> {
    let Some(tenant) = d.tenant.clone() else {
        return finish_alone(state, &d, "ignored", json!({"ignored": "unknown_account"}), None).await;
    };
    let envelope: mono::types::WebhookEnvelope = serde_json::from_str(&d.body)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a stored webhook body does not parse: {e}")))?;
    let data = &envelope.data;
    match d.event.as_str() {
        events::TRANSACTION_UPDATED => on_transaction(state, &tenant, &d, data, false).await,
        events::TRANSACTION_SETTLED => on_transaction(state, &tenant, &d, data, true).await,
        events::ACCOUNT_CONNECTED => on_connected(state, &tenant, &d, data).await,
        events::ACCOUNT_UPDATED => on_updated(state, &tenant, &d, data).await,
        events::ACCOUNT_REAUTHORIZED => on_reauthorized(state, &tenant, &d).await,
        events::REAUTHORISATION_REQUIRED => on_reauth_required(state, &tenant, &d).await,
        events::SYNC_FAILED => on_sync_failed(state, &tenant, &d, data).await,
        events::ACCOUNT_UNLINKED => on_unlinked(state, &tenant, &d).await,
        events::ACCOUNT_INCOME => match typed::<AccountIncome>(data) {
            Ok(income) => {
                let result = json!({
                    "accountId": income.account,
                    "incomeSummary": income.income_summary,
                    "incomeStreams": income.income_streams,
                });
                on_recorded(state, &tenant, &d, result).await
            }
            Err(e) => finish_alone(state, &d, "failed", json!({}), Some(&e)).await,
        },
        events::JOBS_UPDATE => match typed::<JobsUpdate>(data) {
            Ok(job) => {
                let result = json!({"accountId": job.account, "monoJob": job});
                on_recorded(state, &tenant, &d, result).await
            }
            Err(e) => finish_alone(state, &d, "failed", json!({}), Some(&e)).await,
        },
        _ => finish_alone(state, &d, "ignored", json!({"ignored": "unknown_event"}), None).await,
    }
}

/// `account_income` and `mono.accounts.jobs.update`: recorded on the delivery when the
/// account is one of the environment's.
async fn on_recorded(
    state: &AppState,
    tenant: &Tenant,
    d: &DeliveryRow,
    result: Value,
) -> Result<Value, ApiError> {
    let account_id = result["accountId"].as_str().unwrap_or_default();
    if accounts::get(&state.db, tenant, account_id).await?.is_none() {
        return finish_alone(state, d, "ignored", ignored("unknown_account"), None).await;
    }
    finish_alone(state, d, "processed", result, None).await
}

/// `account_reauthorized`: the connection is `ok` again, and a sync is asked for (as
/// `account_updated` reaching AVAILABLE asks) when Mono has the account's transactions.
async fn on_reauthorized(state: &AppState, tenant: &Tenant, d: &DeliveryRow) -> Result<Value, ApiError> {
    let account_id = d.account_id.clone().unwrap_or_default();
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    if !accounts::update_details(
        &mut *tx,
        tenant,
        &account_id,
        &DetailsUpdate::default(),
        Some(false),
    )
    .await?
    {
        let result = ignored("unknown_account");
        return finish_in(tx, d, "ignored", result).await;
    }
    let account = accounts::get(&mut *tx, tenant, &account_id)
        .await?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("reauthorised account {account_id} not readable"))
        })?;
    let sync_job = if account.unlinked_at.is_none() && account.transactions_ready() {
        let asked =
            crate::services::sync::job::enqueue(&mut tx, tenant, &account_id, "account_reauthorized").await?;
        Some(asked.id)
    } else {
        None
    };
    let result = json!({
        "accountId": account_id,
        "reauthRequired": false,
        "connection": "ok",
        "syncQueued": sync_job.is_some(),
        "syncJobId": sync_job,
    });
    finish(&mut tx, d, "processed", &result, None).await?;
    tx.commit().await?;
    if sync_job.is_some() {
        state.sync_notify.notify_one();
    }
    Ok(result)
}

/// `reauthorisation_required`: no sync can succeed until the customer reauthorises.
async fn on_reauth_required(state: &AppState, tenant: &Tenant, d: &DeliveryRow) -> Result<Value, ApiError> {
    let account_id = d.account_id.clone().unwrap_or_default();
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    let found = accounts::update_details(
        &mut *tx,
        tenant,
        &account_id,
        &DetailsUpdate::default(),
        Some(true),
    )
    .await?;
    let (status, result) = if found {
        (
            "processed",
            json!({"accountId": account_id, "reauthRequired": true, "connection": "reauth_required"}),
        )
    } else {
        ("ignored", ignored("unknown_account"))
    };
    finish_in(tx, d, status, result).await
}

/// What `sync_failed` says went wrong: its message (top level or in `meta`), else its `meta`,
/// else a plain statement; at most 500 characters.
fn sync_failure_reason(data: &Value) -> String {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let reason = text(data.get("message"))
        .or_else(|| text(data.pointer("/meta/message")))
        .or_else(|| text(data.get("meta")))
        .or_else(|| {
            data.get("meta")
                .filter(|m| m.as_object().is_some_and(|o| !o.is_empty()))
                .map(Value::to_string)
        })
        .unwrap_or_else(|| "Mono reported a failed sync".to_owned());
    reason.chars().take(500).collect()
}

/// `sync_failed`: the connection is `sync_failed` with Mono's reason as `lastSyncError`.
async fn on_sync_failed(
    state: &AppState,
    tenant: &Tenant,
    d: &DeliveryRow,
    data: &Value,
) -> Result<Value, ApiError> {
    let account_id = d.account_id.clone().unwrap_or_default();
    let reason = sync_failure_reason(data);
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    let (status, result) = if accounts::mark_sync_failed(&mut *tx, tenant, &account_id, &reason).await? {
        (
            "processed",
            json!({"accountId": account_id, "connection": "sync_failed", "lastSyncError": reason}),
        )
    } else {
        ("ignored", ignored("unknown_account"))
    };
    finish_in(tx, d, status, result).await
}

async fn on_unlinked(state: &AppState, tenant: &Tenant, d: &DeliveryRow) -> Result<Value, ApiError> {
    let account_id = d.account_id.clone().unwrap_or_default();
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    let (status, result) = if accounts::mark_unlinked(&mut *tx, tenant, &account_id).await? {
        ("processed", json!({"accountId": account_id, "unlinked": true}))
    } else {
        ("ignored", ignored("unknown_account"))
    };
    finish_in(tx, d, status, result).await
}

/// The widget-link ref, when it was issued to this tenant's environment.
async fn ref_of_tenant(
    state: &AppState,
    tenant: &Tenant,
    r: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(r) = r else { return Ok(None) };
    Ok(accounts::find_link_ref(&state.db, r)
        .await?
        .filter(|l| l.org_id == tenant.org_id && l.env_id == tenant.env_id)
        .map(|_| r.to_owned()))
}

/// `account_connected`: the hosted-link flow. The ref names the organization and environment;
/// the account is stored as the exchange stores it, with its details from Mono, unless it was
/// unlinked after the ref was issued (ignored: `unlinked_after_ref`).
async fn on_connected(
    state: &AppState,
    tenant: &Tenant,
    d: &DeliveryRow,
    data: &Value,
) -> Result<Value, ApiError> {
    let event = match typed::<AccountConnected>(data) {
        Ok(e) => e,
        Err(e) => return finish_alone(state, d, "failed", json!({}), Some(&e)).await,
    };
    let account_id = event.id.trim().to_owned();
    let from_meta = DetailsUpdate {
        customer_id: event.customer.clone(),
        data_status: event.meta.data_status.map(|s| s.as_str().to_owned()),
        auth_method: event.meta.auth_method.clone(),
        ..DetailsUpdate::default()
    };
    let Some(r) = ref_of_tenant(state, tenant, event.meta.reference.as_deref()).await? else {
        // Not a link this service started: an account already stored here takes the status.
        let Some(mut tx) = lock(state, d).await? else {
            return Ok(already());
        };
        let (status, result) =
            if accounts::update_details(&mut *tx, tenant, &account_id, &from_meta, None).await? {
                ("processed", json!({"accountId": account_id, "updated": true}))
            } else {
                ("ignored", ignored("unknown_ref"))
            };
        return finish_in(tx, d, status, result).await;
    };
    if accounts::owner(&state.db, &account_id)
        .await?
        .is_some_and(|(org, env)| org != tenant.org_id || env != tenant.env_id)
    {
        return finish_alone(state, d, "ignored", ignored("linked_elsewhere"), None).await;
    }
    let details = link::details_best_effort(state, &account_id)
        .await
        .unwrap_or(from_meta);
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    // Unlinked by the customer since this link began: a late (or redelivered) event of that
    // link does not undo the unlink.
    if accounts::unlinked_since_ref(&mut *tx, tenant, &account_id, &r).await? {
        let result = ignored("unlinked_after_ref");
        return finish_in(tx, d, "ignored", result).await;
    }
    let mut sync_job = None;
    let (status, result) =
        if link::store_link(&mut tx, tenant, &account_id, Some(&r), Some(&r), Some(&details)).await? {
            let account = accounts::get(&mut *tx, tenant, &account_id)
                .await?
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("linked account {account_id} not readable"))
                })?;
            sync_job = link::queue_first_sync(state, &mut tx, tenant, &account).await?;
            (
                "processed",
                json!({"accountId": account_id, "linked": true, "ref": r,
                       "syncQueued": sync_job.is_some(), "syncJobId": sync_job}),
            )
        } else {
            ("ignored", ignored("linked_elsewhere"))
        };
    finish(&mut tx, d, status, &result, None).await?;
    tx.commit().await?;
    if sync_job.is_some() {
        state.sync_notify.notify_one();
    }
    Ok(result)
}

/// `account_updated`: the stored account refreshed from the payload (camelCase keys), reauth
/// marked, and a sync asked for when the data is AVAILABLE or Mono has new data: the result
/// names the job it rode on (`syncJobId`: new, or the account's queued or running sync, which
/// then goes round once more).
async fn on_updated(
    state: &AppState,
    tenant: &Tenant,
    d: &DeliveryRow,
    data: &Value,
) -> Result<Value, ApiError> {
    let event = match typed::<AccountUpdated>(data) {
        Ok(e) => e,
        Err(e) => return finish_alone(state, d, "failed", json!({}), Some(&e)).await,
    };
    let a = &event.account;
    let account_id = a.id.trim().to_owned();
    let update = DetailsUpdate {
        name: a.name.clone(),
        account_number: a.account_number.clone(),
        currency: a.currency.clone(),
        r#type: a.account_type.clone(),
        balance: a.balance,
        bvn_last4: accounts_view::bvn_last4(a.bvn.as_deref()),
        institution_name: a.institution.as_ref().map(|i| i.name.clone()),
        bank_code: a.institution.as_ref().and_then(|i| i.bank_code.clone()),
        institution_type: a.institution.as_ref().and_then(|i| i.kind.clone()),
        customer_id: None,
        data_status: event.meta.data_status.map(|s| s.as_str().to_owned()),
        auth_method: a.auth_method.clone().or_else(|| event.meta.auth_method.clone()),
        retrieved_data: (!event.meta.retrieved_data.is_empty()).then(|| event.meta.retrieved_data.clone()),
    };
    let reauth = event.meta.reauth_required().then_some(true);
    // Resolved before the lock: an update can overtake its `account_connected`.
    let link_ref = ref_of_tenant(state, tenant, event.meta.reference.as_deref()).await?;
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    let mut stored = accounts::update_details(&mut *tx, tenant, &account_id, &update, reauth).await?;
    if !stored {
        if let Some(r) = link_ref.as_deref() {
            stored = link::store_link(&mut tx, tenant, &account_id, Some(r), Some(r), Some(&update)).await?
                && (reauth.is_none()
                    || accounts::update_details(&mut *tx, tenant, &account_id, &update, reauth).await?);
        }
    }
    if !stored {
        let result = ignored("unknown_account");
        return finish_in(tx, d, "ignored", result).await;
    }
    let account = accounts::get(&mut *tx, tenant, &account_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("updated account {account_id} not readable")))?;
    let wanted = matches!(
        event.meta.data_status,
        Some(DataStatus::Available | DataStatus::Partial)
    ) || event.meta.has_new_data == Some(true);
    let can_sync = account.unlinked_at.is_none() && account.transactions_ready();
    // The job the sync rode on: new, or the account's unfinished one (which, running, goes
    // round once more when it ends); never "queued" without a job.
    let sync_job = if wanted && can_sync {
        let asked =
            crate::services::sync::job::enqueue(&mut tx, tenant, &account_id, "account_updated").await?;
        Some(asked.id)
    } else {
        None
    };
    let result = json!({
        "accountId": account_id,
        "dataStatus": account.data_status,
        "reauthRequired": account.reauth_required,
        "syncQueued": sync_job.is_some(),
        "syncJobId": sync_job,
    });
    finish(&mut tx, d, "processed", &result, None).await?;
    tx.commit().await?;
    if sync_job.is_some() {
        state.sync_notify.notify_one();
    }
    Ok(result)
}

/// `transaction.updated` / `transaction.settled`: reconciliation (ELIGIBILITY.md). The engine
/// decides; a draft-worthy transaction whose reference names another invoice of the
/// environment must match its amount and currency (else the DLQ) and then moves its payment
/// status; otherwise the decision is stored as a sync would store it. The ledger key makes
/// it once per transaction, whether a sync or a webhook saw it first.
async fn on_transaction(
    state: &AppState,
    tenant: &Tenant,
    d: &DeliveryRow,
    data: &Value,
    settled: bool,
) -> Result<Value, ApiError> {
    let Some(raw) = data.get("transaction") else {
        return finish_alone(state, d, "failed", json!({}), Some("data.transaction is missing")).await;
    };
    let account_id = d.account_id.clone().unwrap_or_default();
    let account = match accounts::get(&state.db, tenant, &account_id).await? {
        None => return finish_alone(state, d, "ignored", ignored("unknown_account"), None).await,
        Some(a) if a.unlinked_at.is_some() => {
            return finish_alone(state, d, "ignored", ignored("account_unlinked"), None).await
        }
        Some(a) => a,
    };
    let policy = crate::services::settings::load_policy(state, tenant).await?;
    let raw = serde_json::value::to_raw_value(raw).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let item = RawTransaction::decode(raw);
    let decided = crate::services::sync::decide::decide_item(
        &policy.compiled,
        &account.id,
        account.currency.as_deref(),
        item,
    );
    let Some(row) = decided else {
        return finish_alone(state, d, "failed", json!({}), Some("the transaction has no id")).await;
    };
    let transaction_id = row.transaction_id.clone();
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    let ctx = PageContext {
        org_id: tenant.org_id,
        env_id: tenant.env_id,
        account_id: &account.id,
        source: "webhook",
        trace_id: &d.trace_id,
        policy_version: &policy.version,
    };
    let written = reconcile::write(&mut tx, tenant, &ctx, vec![row], settled).await?;
    let result = if written.fresh.contains(&transaction_id) {
        let (outcome, reason) = (written.rows.outcome[0], written.rows.reason[0]);
        json!({
            "transactionId": transaction_id,
            "outcome": if reason == RecordReason::Reconciled { "reconciled" } else { outcome.as_str() },
            "reason": reason.as_str(),
            "invoiceId": written.matched[0],
        })
    } else if let Some(invoice_id) = written.repeated.get(&transaction_id) {
        // Held already and paying an invoice: its payment moved forward (never back).
        json!({
            "transactionId": transaction_id,
            "outcome": "reconciled",
            "reason": RecordReason::Reconciled.as_str(),
            "invoiceId": invoice_id,
            "repeat": true,
        })
    } else {
        json!({
            "transactionId": transaction_id,
            "outcome": "duplicate",
            "reason": RecordReason::Duplicate.as_str(),
            "invoiceId": null,
        })
    };
    finish_in(tx, d, "processed", result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sync_names_monos_reason_or_says_plainly() {
        assert_eq!(
            sync_failure_reason(&json!({"account": {"_id": "a"}, "message": "bank timeout"})),
            "bank timeout"
        );
        assert_eq!(
            sync_failure_reason(&json!({"account": {"_id": "a"}, "meta": {"message": "MFA"}})),
            "MFA"
        );
        assert_eq!(
            sync_failure_reason(&json!({"account": {"_id": "a"}, "meta": {"code": 1}})),
            r#"{"code":1}"#
        );
        assert_eq!(
            sync_failure_reason(&json!({"account": {"_id": "a"}})),
            "Mono reported a failed sync"
        );
    }
}
