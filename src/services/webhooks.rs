//! Mono webhooks: authenticated intake that commits each delivery (and its job) before the
//! 2xx, exactly once per dedupe key; the processing of each event (linking, account updates,
//! reconciliation of transactions against invoices); and `webhook-status`.
//!
//! Processing runs in a job (`jobs` table): one per intake batch and environment, naming its
//! deliveries in arrival order. Each event's effects commit in one transaction together with
//! the delivery leaving `queued`, under the delivery's row lock, so a job run twice (a worker
//! died after the commit, or one of its deliveries failed) finds the finished deliveries done
//! and redoes only the rest.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::db::accounts::{self, DetailsUpdate};
use crate::db::ledger::{self, PageContext, PageRows};
use crate::db::payments;
use crate::db::webhooks::{self as db, DeliveryRow, Intake, PendingDelivery};
use crate::domain::RecordReason;
use crate::error::ApiError;
use crate::services::link;
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::{normalize_currency, Outcome, Reason};
use mono::signature::{self, PresentedAuth, SignatureError};
use mono::types::{events, AccountConnected, AccountIncome, AccountUpdated, DataStatus, JobsUpdate};
use mono::RawTransaction;

/// Attempts a webhook job gets before its delivery is `failed`.
pub const MAX_ATTEMPTS: i32 = 8;

const KNOWN_EVENTS: [&str; 8] = [
    events::ACCOUNT_CONNECTED,
    events::ACCOUNT_UPDATED,
    events::ACCOUNT_REAUTHORIZED,
    events::ACCOUNT_UNLINKED,
    events::ACCOUNT_INCOME,
    events::JOBS_UPDATE,
    events::TRANSACTION_UPDATED,
    events::TRANSACTION_SETTLED,
];

/// The answer to Mono: `data` of a 200.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub delivery_id: Uuid,
    pub event: String,
    pub duplicate: bool,
    /// `queued`, `ignored`, and for a duplicate the first copy's state (`processed`,
    /// `queued`, `ignored`, `failed`).
    pub outcome: String,
}

// ----- intake ------------------------------------------------------------------------------

/// Authenticates, stores and acknowledges one delivery. The delivery (and its job) is
/// committed before this returns, so a 2xx means it is durable.
pub async fn receive(state: &AppState, auth: PresentedAuth<'_>, body: &[u8]) -> Result<Receipt, ApiError> {
    let trace_id = crate::telemetry::current_trace_id();
    if let Err(reason) = authenticate(state, auth, body) {
        metrics::counter!("webhook_deliveries_total", "outcome" => "rejected").increment(1);
        tracing::warn!(reason, "webhook refused");
        // Counting is best effort: a refusal stays a 401 even when the database is away.
        if let Err(e) = db::record_rejection(&state.db, reason, &trace_id).await {
            tracing::warn!(error = %e, "could not record a refused webhook");
        }
        return Err(ApiError::Unauthorized(format!(
            "webhook authentication failed: {}",
            reason.replace('_', " ")
        )));
    }
    let (text, envelope) = match parse_envelope(body) {
        Ok(parsed) => parsed,
        Err(e) => {
            metrics::counter!("webhook_deliveries_total", "outcome" => "rejected").increment(1);
            if let Err(e) = db::record_rejection(&state.db, "malformed_body", &trace_id).await {
                tracing::warn!(error = %e, "could not record a refused webhook");
            }
            return Err(e);
        }
    };
    let event = envelope.event.as_str();
    let event_id = envelope
        .event_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty());
    let dedupe_key = match event_id {
        Some(id) => format!("event:{id}"),
        None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    };
    let (account_id, link_ref) = attribution(event, &envelope.data);
    let intake = state
        .intake
        .submit(PendingDelivery {
            dedupe_key,
            event: event.to_owned(),
            event_id: event_id.map(str::to_owned),
            account_id,
            link_ref,
            body: text.to_owned(),
            trace_id,
            known_event: KNOWN_EVENTS.contains(&event),
        })
        .await?;
    let outcome = if intake.inserted {
        intake.status.as_str()
    } else {
        "duplicate"
    };
    metrics::counter!("webhook_deliveries_total", "outcome" => outcome.to_owned()).increment(1);
    if intake.inserted && intake.status == "queued" {
        state.jobs_notify.notify_one();
    }
    Ok(Receipt {
        delivery_id: intake.id,
        event: intake.event,
        duplicate: !intake.inserted,
        outcome: intake.status,
    })
}

/// Durable intake in batches. Each delivery waits for the commit that stores it, but
/// deliveries that arrive while a commit is in flight are stored together by the next one: one
/// statement and one WAL flush for many, which is what lets intake keep up with many
/// concurrent senders on one PostgreSQL (group commit done by the service rather than left to
/// chance). A batch holds at most `INTAKE_BATCH` deliveries and `INTAKE_BATCH_BYTES` of
/// bodies. One batch commits at a time, stored by the batching task itself (no task hand-off
/// between two commits): the measured best (README, "Webhook intake"). With two at a time,
/// batches are half the size and PostgreSQL spends ~45 % more per delivery on statements and
/// commits, for lower throughput; a batch of up to 128 per commit is far from being the limit
/// (a commit takes 1-2 ms). The pool still holds two connections: a connection goes back to
/// its pool after use by a task of its own, and with only one the next batch would wait for
/// that hand-back every time (measured: ~6,000 against ~7,900 deliveries/s).
pub struct IntakeBatcher {
    queue: tokio::sync::mpsc::Sender<Submitted>,
}

struct Submitted {
    delivery: PendingDelivery,
    reply: tokio::sync::oneshot::Sender<Result<Intake, ApiError>>,
}

pub const INTAKE_BATCH: usize = 128;
pub const INTAKE_BATCH_BYTES: usize = 8 << 20;

impl IntakeBatcher {
    /// Starts the batching task on a pool of its own (see `db::hot_statement_pool`); it ends
    /// when the last handle is dropped.
    pub fn start(db: &sqlx::PgPool) -> Self {
        let (queue, rx) = tokio::sync::mpsc::channel(4 * INTAKE_BATCH);
        let pool = crate::db::hot_statement_pool(db, 2);
        tokio::spawn(run_intake(pool, rx));
        Self { queue }
    }

    /// Stores one delivery; answers once the commit that holds it is done.
    pub async fn submit(&self, delivery: PendingDelivery) -> Result<Intake, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || ApiError::internal(anyhow::anyhow!("webhook intake has stopped"));
        self.queue
            .send(Submitted { delivery, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run_intake(db: sqlx::PgPool, mut rx: tokio::sync::mpsc::Receiver<Submitted>) {
    use futures::FutureExt;
    while let Some(first) = rx.recv().await {
        let mut bytes = first.delivery.body.len();
        let mut batch = vec![first];
        while batch.len() < INTAKE_BATCH && bytes < INTAKE_BATCH_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    bytes += next.delivery.body.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        // A panic storing one batch fails its senders (their replies are dropped: a 500, so
        // Mono sends again), never the intake of the batches after it.
        if std::panic::AssertUnwindSafe(store_batch(&db, batch))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("storing a webhook batch panicked; its deliveries were answered 500");
        }
    }
}

/// Stores a batch and answers each sender. A batch the database refuses for one bad row is
/// stored again one delivery at a time, so one delivery cannot fail the others.
async fn store_batch(db: &sqlx::PgPool, batch: Vec<Submitted>) {
    metrics::histogram!("webhook_intake_batch_size").record(batch.len() as f64);
    let mut unique: Vec<PendingDelivery> = Vec::with_capacity(batch.len());
    let mut repeats: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    let firsts: Vec<bool> = batch
        .iter()
        .map(|b| {
            let first = seen.insert(b.delivery.dedupe_key.as_str());
            if first {
                unique.push(b.delivery.clone());
            } else {
                repeats.push((b.delivery.dedupe_key.clone(), b.delivery.trace_id.clone()));
            }
            first
        })
        .collect();
    let mut stored = db::intake_batch(db, &unique, &repeats, MAX_ATTEMPTS).await;
    if matches!(&stored, Err(e) if crate::error::is_unavailable(e) && !matches!(e, sqlx::Error::PoolTimedOut))
    {
        // A connection the database dropped (say, after a restart) fails its first use; a
        // fresh one decides whether the database is really away.
        stored = db::intake_batch(db, &unique, &repeats, MAX_ATTEMPTS).await;
    }
    match stored {
        Ok(rows) => {
            let by_key: std::collections::HashMap<String, Intake> =
                rows.into_iter().map(|r| (r.dedupe_key, r.intake)).collect();
            for (Submitted { delivery, reply }, first) in batch.into_iter().zip(firsts) {
                let answer = match by_key.get(&delivery.dedupe_key) {
                    Some(intake) => Ok(Intake {
                        // A second copy in the same batch is a duplicate of the first.
                        inserted: intake.inserted && first,
                        ..intake.clone()
                    }),
                    None => Err(ApiError::internal(anyhow::anyhow!(
                        "webhook intake stored no row for a delivery"
                    ))),
                };
                let _ = reply.send(answer);
            }
        }
        Err(e) if batch.len() > 1 && !crate::error::is_unavailable(&e) => {
            tracing::warn!(error = %e, deliveries = batch.len(), "webhook intake batch refused; storing one by one");
            // In arrival order: the first copy of a key is stored, later ones are its duplicates.
            for Submitted { delivery, reply } in batch {
                let _ = reply.send(single(db, delivery).await);
            }
        }
        Err(e) => {
            let unavailable = crate::error::is_unavailable(&e);
            let message = e.to_string();
            for Submitted { reply, .. } in batch {
                let err = if unavailable {
                    ApiError::DatabaseUnavailable(sqlx::Error::Io(std::io::Error::other(message.clone())))
                } else {
                    ApiError::internal(anyhow::anyhow!("webhook intake failed: {message}"))
                };
                let _ = reply.send(Err(err));
            }
        }
    }
}

async fn single(db: &sqlx::PgPool, delivery: PendingDelivery) -> Result<Intake, ApiError> {
    let key = delivery.dedupe_key.clone();
    db::intake_batch(db, std::slice::from_ref(&delivery), &[], MAX_ATTEMPTS)
        .await?
        .into_iter()
        .find(|r| r.dedupe_key == key)
        .map(|r| r.intake)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("webhook intake stored no row for a delivery")))
}

/// Ok when verification is off, or either form of MONO.md authenticates the body; else the
/// reason counted in webhook-status.
fn authenticate(state: &AppState, auth: PresentedAuth<'_>, body: &[u8]) -> Result<(), &'static str> {
    let mono = &state.settings.mono;
    if !mono.verify_signature {
        return Ok(());
    }
    let Some(secret) = mono.webhook_secret.as_ref() else {
        return Err("no_secret_configured");
    };
    signature::verify(
        secret.expose_secret().as_bytes(),
        auth,
        body,
        Utc::now().timestamp(),
        signature::DEFAULT_TOLERANCE_SECS,
    )
    .map(|_| ())
    .map_err(|e| match e {
        SignatureError::Missing => "missing_credentials",
        SignatureError::SecretMismatch => "secret_mismatch",
        SignatureError::MalformedTimestamp => "malformed_timestamp",
        SignatureError::StaleTimestamp { .. } => "stale_timestamp",
        SignatureError::MalformedSignature => "malformed_signature",
        SignatureError::SignatureMismatch => "signature_mismatch",
    })
}

/// The body as text and its envelope; 400 naming the field when it is not one. NUL escapes
/// are accepted (Mono data is cleaned of them when it is decided). Public for the fuzz targets.
pub fn parse_envelope(body: &[u8]) -> Result<(&str, mono::types::WebhookEnvelope), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("malformed_json", "the webhook body is not UTF-8 JSON"))?;
    let refuse = |path: String, inner: serde_json::Error| {
        if inner.is_data() {
            let field = if path == "." {
                inner.to_string().split('`').nth(1).unwrap_or("body").to_owned()
            } else {
                path
            };
            ApiError::field(field, "is missing or not of the right type")
        } else {
            ApiError::bad_request(
                "malformed_json",
                format!("the webhook body is not valid JSON: {inner}"),
            )
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let envelope = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        refuse(path, e.into_inner())
    })?;
    de.end().map_err(|e| refuse(".".into(), e))?;
    Ok((text, envelope))
}

/// The account an event is about and the widget-link ref it carries, read leniently (a
/// delivery whose data does not decode is still attributed when it can be).
pub fn attribution(event: &str, data: &Value) -> (Option<String>, Option<String>) {
    let id_of = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Object(o) => o
            .get("_id")
            .or_else(|| o.get("id"))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_owned()),
        _ => None,
    };
    let account = if event == events::ACCOUNT_CONNECTED {
        id_of(data)
    } else {
        data.get("account").and_then(id_of)
    }
    .filter(|s| !s.is_empty());
    let reference = data
        .pointer("/meta/ref")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    (account, reference)
}

// ----- processing --------------------------------------------------------------------------

/// The deliveries a `webhook` job names: `deliveryIds` (one job per intake batch), or the
/// single `deliveryId` of a job queued before jobs were batched. None when the payload is
/// neither.
pub fn job_deliveries(payload: &Value) -> Option<Vec<Uuid>> {
    let parse = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    match payload.get("deliveryIds") {
        Some(Value::Array(ids)) if !ids.is_empty() => ids.iter().map(parse).collect(),
        Some(_) => None,
        None => payload.get("deliveryId").and_then(parse).map(|id| vec![id]),
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
    crate::telemetry::with_trace_id(trace_id, process(state, d)).await
}

async fn process(state: &AppState, d: DeliveryRow) -> Result<Value, ApiError> {
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

fn typed<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T, String> {
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
async fn lock(state: &AppState, d: &DeliveryRow) -> Result<Option<Transaction<'static, Postgres>>, ApiError> {
    let mut tx = state.db.begin().await?;
    match db::get(&mut *tx, d.id, true).await? {
        Some(row) if row.status == "queued" => Ok(Some(tx)),
        _ => {
            tx.rollback().await?;
            Ok(None)
        }
    }
}

async fn finish(
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

/// Finishes a delivery that has no other effect.
async fn finish_alone(
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

fn already() -> Value {
    json!({"skipped": "already processed"})
}

fn ignored(why: &str) -> Value {
    json!({"ignored": why})
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

async fn on_reauthorized(state: &AppState, tenant: &Tenant, d: &DeliveryRow) -> Result<Value, ApiError> {
    let account_id = d.account_id.clone().unwrap_or_default();
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };
    let found = accounts::update_details(
        &mut *tx,
        tenant,
        &account_id,
        &DetailsUpdate::default(),
        Some(false),
    )
    .await?;
    let (status, result) = if found {
        (
            "processed",
            json!({"accountId": account_id, "reauthRequired": false}),
        )
    } else {
        ("ignored", ignored("unknown_account"))
    };
    finish(&mut tx, d, status, &result, None).await?;
    tx.commit().await?;
    Ok(result)
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
    finish(&mut tx, d, status, &result, None).await?;
    tx.commit().await?;
    Ok(result)
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
/// the account is stored as the exchange stores it, with its details from Mono.
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
        finish(&mut tx, d, status, &result, None).await?;
        tx.commit().await?;
        return Ok(result);
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
    let mut sync_queued = false;
    let (status, result) =
        if link::store_link(&mut tx, tenant, &account_id, Some(&r), Some(&r), Some(&details)).await? {
            let account = accounts::get(&mut *tx, tenant, &account_id)
                .await?
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("linked account {account_id} not readable"))
                })?;
            sync_queued = link::queue_first_sync(state, &mut tx, tenant, &account).await?;
            (
                "processed",
                json!({"accountId": account_id, "linked": true, "ref": r, "syncQueued": sync_queued}),
            )
        } else {
            ("ignored", ignored("linked_elsewhere"))
        };
    finish(&mut tx, d, status, &result, None).await?;
    tx.commit().await?;
    if sync_queued {
        state.sync_notify.notify_one();
    }
    Ok(result)
}

/// `account_updated`: the stored account refreshed from the payload (camelCase keys), reauth
/// marked, and a sync queued when the data is AVAILABLE or Mono has new data.
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
        bvn_last4: link::bvn_last4(a.bvn.as_deref()),
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
        finish(&mut tx, d, "ignored", &result, None).await?;
        tx.commit().await?;
        return Ok(result);
    }
    let account = accounts::get(&mut *tx, tenant, &account_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("updated account {account_id} not readable")))?;
    let wanted = matches!(
        event.meta.data_status,
        Some(DataStatus::Available | DataStatus::Partial)
    ) || event.meta.has_new_data == Some(true);
    let can_sync = account.unlinked_at.is_none() && account.transactions_ready();
    let sync_job = if wanted && can_sync {
        crate::services::jobs::enqueue_sync(&mut tx, tenant, &account_id, "account_updated").await?
    } else {
        None
    };
    let result = json!({
        "accountId": account_id,
        "dataStatus": account.data_status,
        "reauthRequired": account.reauth_required,
        "syncQueued": wanted && can_sync,
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
    let own_reference = item
        .decoded
        .as_ref()
        .ok()
        .and_then(|t| t.reference.as_deref())
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let decided =
        crate::services::sync::decide_item(&policy.compiled, &account.id, account.currency.as_deref(), item);
    let Some(mut row) = decided else {
        return finish_alone(state, d, "failed", json!({}), Some("the transaction has no id")).await;
    };
    let transaction_id = row.transaction_id.clone();
    let Some(mut tx) = lock(state, d).await? else {
        return Ok(already());
    };

    // A later event of a transaction already reconciled: its payment moves forward only.
    if let Some((invoice_id, amount, currency)) =
        payments::payment_of(&mut *tx, tenant, &account.id, &transaction_id).await?
    {
        let payment = payments::Payment {
            account_id: &account.id,
            transaction_id: &transaction_id,
            invoice_id,
            settled,
            amount,
            currency: &currency,
            trace_id: &d.trace_id,
        };
        payments::record_payment(&mut *tx, tenant, &payment).await?;
        let result = json!({
            "transactionId": transaction_id,
            "outcome": "reconciled",
            "reason": RecordReason::Reconciled.as_str(),
            "invoiceId": invoice_id,
            "repeat": true,
        });
        finish(&mut tx, d, "processed", &result, None).await?;
        tx.commit().await?;
        return Ok(result);
    }

    let mut matched = None;
    if row.outcome == Outcome::Draft {
        if let Some(reference) = own_reference.or_else(|| row.reference.clone()) {
            if let Some(invoice) =
                payments::invoice_named(&mut *tx, tenant, &reference, &account.id, &transaction_id).await?
            {
                let mismatch = if normalize_currency(&row.currency) != normalize_currency(&invoice.currency) {
                    Some(RecordReason::Engine(Reason::CurrencyMismatch))
                } else if row.amount != invoice.amount {
                    Some(RecordReason::AmountMismatch)
                } else {
                    None
                };
                row.kind = None;
                row.detail = None;
                match mismatch {
                    Some(reason) => {
                        row.outcome = Outcome::Dlq;
                        row.reason = reason;
                    }
                    None => {
                        row.outcome = Outcome::Skipped;
                        row.reason = RecordReason::Reconciled;
                    }
                }
                matched = Some(invoice.id);
            }
        }
    }
    let (outcome, reason, amount, currency) = (row.outcome, row.reason, row.amount, row.currency.clone());
    let mut rows = PageRows::with_capacity(1);
    rows.push(row);
    let ctx = PageContext {
        org_id: tenant.org_id,
        env_id: tenant.env_id,
        account_id: &account.id,
        source: "webhook",
        trace_id: &d.trace_id,
        policy_version: &policy.version,
    };
    let fresh = !ledger::write_page(&mut tx, &ctx, &rows).await?.is_empty();
    let reconciled = fresh && reason == RecordReason::Reconciled;
    if reconciled {
        if let Some(invoice_id) = matched {
            let payment = payments::Payment {
                account_id: &account.id,
                transaction_id: &transaction_id,
                invoice_id,
                settled,
                amount,
                currency: &currency,
                trace_id: &d.trace_id,
            };
            payments::record_payment(&mut *tx, tenant, &payment).await?;
        }
    }
    let result = json!({
        "transactionId": transaction_id,
        "outcome": if !fresh { "duplicate" } else if reconciled { "reconciled" } else { outcome.as_str() },
        "reason": if fresh { reason.as_str() } else { RecordReason::Duplicate.as_str() },
        "invoiceId": matched,
    });
    finish(&mut tx, d, "processed", &result, None).await?;
    tx.commit().await?;
    Ok(result)
}

/// Marks the deliveries still queued `failed` (their job ran out of attempts), each with the
/// error of its own last attempt (else `error`), inside the caller's transaction; the ones
/// already finished keep their outcome.
pub async fn fail_deliveries(
    tx: &mut PgConnection,
    delivery_ids: &[Uuid],
    error: &str,
) -> Result<(), ApiError> {
    db::fail_queued(&mut *tx, delivery_ids, error).await?;
    Ok(())
}

// ----- status ------------------------------------------------------------------------------

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    pub signature_verification: bool,
    pub last_received_at: Option<DateTime<Utc>>,
    pub last_processed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failure>,
    pub pending: i64,
    pub last24h: Last24h,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Last24h {
    pub received: i64,
    pub processed: i64,
    pub duplicate: i64,
    pub rejected: i64,
    pub ignored: i64,
    pub failed: i64,
}

/// The caller's environment; an admin key: every environment, and the deliveries (and
/// refusals) no environment claims.
pub async fn status(state: &AppState, tenant: &Tenant) -> Result<WebhookStatus, ApiError> {
    let scope = (!tenant.is_admin()).then_some(tenant.env_id);
    let f = db::status(&state.db, scope).await?;
    Ok(WebhookStatus {
        signature_verification: state.settings.mono.verify_signature,
        last_received_at: f.last_received_at,
        last_processed_at: f.last_processed_at,
        last_failure: f.last_failure.map(|(at, reason)| Failure { at, reason }),
        pending: f.pending,
        last24h: Last24h {
            received: f.received,
            processed: f.processed,
            duplicate: f.duplicate,
            rejected: f.rejected,
            ignored: f.ignored,
            failed: f.failed,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn attribution_reads_every_shape() {
        let connected = json!({"id": "acc_1", "meta": {"ref": "ref_0123456789"}});
        assert_eq!(
            attribution(events::ACCOUNT_CONNECTED, &connected),
            (Some("acc_1".into()), Some("ref_0123456789".into()))
        );
        let updated = json!({"account": {"_id": "acc_2"}, "meta": {}});
        assert_eq!(
            attribution(events::ACCOUNT_UPDATED, &updated),
            (Some("acc_2".into()), None)
        );
        let tx = json!({"account": "acc_3", "transaction": {}});
        assert_eq!(
            attribution(events::TRANSACTION_SETTLED, &tx),
            (Some("acc_3".into()), None)
        );
        assert_eq!(attribution("other", &json!(null)), (None, None));
    }

    #[test]
    fn envelopes_that_are_not_name_the_problem() {
        assert_eq!(parse_envelope(b"{").unwrap_err().code(), "malformed_json");
        assert_eq!(parse_envelope(b"\xff").unwrap_err().code(), "malformed_json");
        let err = parse_envelope(br#"{"data": {}}"#).unwrap_err();
        assert!(err.to_string().starts_with("event"), "{err}");
        let (_, ok) = parse_envelope(br#"{"event": "x", "data": {"n": "a\u0000b"}}"#).unwrap();
        assert_eq!(ok.event, "x");
    }
}
