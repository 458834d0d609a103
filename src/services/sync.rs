//! Transaction sync: pulls an account's transactions from Mono page by page, decides each
//! with the environment's compiled policy, and stores every page together with the advanced
//! cursor in one transaction, so a sync killed at any moment resumes with nothing lost and
//! nothing drafted twice, whatever page size the next call uses (see `cursor`).
//!
//! One sync per account at a time across every replica: a PostgreSQL advisory lock held by a
//! connection of the sync's own, outside the pool (`db::locks`), which also writes the pages.
//! So a sync holds no pooled connection while it waits on Mono, and its lock dies with it.
//! A replica runs at most `MONO_SYNC_CONCURRENCY` syncs at once; more wait their turn.
//!
//! Syncs of the whole fleet are jobs (`run_queued`), queued by `account_updated`, a first
//! link, and the sweep every `MONO_SYNC_INTERVAL_SECS` (`jobs::scheduled_sync`), and run by
//! the job worker's sync lane on every replica.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use crate::db::accounts::{self, AccountRow};
use crate::db::ledger::{self, DecidedRow, PageContext, PageRows};
use crate::db::locks;
use crate::domain::{MonoAccountId, RecordReason};
use crate::error::ApiError;
use crate::services::cursor::{Cursor, PageRequest};
use crate::services::jobs::Ran;
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::{self, CompiledPolicy, Outcome, TxType};
use mono::{MonoTransaction, RawTransaction, RawTransactionPage, TransactionQuery, TransactionType};

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 500;
/// An empty page while Mono says there is more is asked for again this many times before the
/// sync stops and answers `hasMore: true` (never taken as the end of the history).
const EMPTY_PAGE_RETRIES: u32 = 2;

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOutcome {
    pub account_id: String,
    pub fetched: u64,
    pub drafted: u64,
    pub dlq: u64,
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    pub cursor: Option<String>,
    pub has_more: bool,
}

/// Where an account's next sync resumes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CursorView {
    account_id: String,
    cursor: Option<String>,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn cursor_of(state: &AppState, tenant: &Tenant, account_id: &str) -> Result<CursorView, ApiError> {
    let account = accounts::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    Ok(CursorView {
        account_id: account.id,
        cursor: account.sync_cursor,
        updated_at: account.cursor_updated_at,
    })
}

pub struct SyncRequest {
    pub account_id: MonoAccountId,
    pub cursor: Option<Cursor>,
    pub page_size: u32,
}

pub async fn sync_account(
    state: &AppState,
    tenant: &Tenant,
    req: SyncRequest,
) -> Result<SyncOutcome, ApiError> {
    let account_id = req.account_id.as_str();
    let account = accounts::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    if account.unlinked_at.is_some() {
        return Err(unlinked());
    }
    let account = ensure_ready(state, tenant, account).await?;
    sync_ready(state, tenant, &account, req).await
}

/// The sync of an account whose data is ready: in one of the replica's sync slots, under the
/// account's lock (409 `sync_in_progress` while another session holds it). A success ends
/// any backoff the account was in.
async fn sync_ready(
    state: &AppState,
    tenant: &Tenant,
    account: &AccountRow,
    req: SyncRequest,
) -> Result<SyncOutcome, ApiError> {
    let _slot = state
        .sync_slots
        .acquire()
        .await
        .map_err(|_| ApiError::internal(anyhow::anyhow!("sync slots closed")))?;
    let mut conn = locks::dedicated_connection(&state.db).await?;
    if !locks::try_lock_account(&mut conn, &account.id).await? {
        locks::release(conn).await;
        return Err(busy());
    }
    let result = run_locked(state, tenant, account, req, &mut conn).await;
    if result.is_ok() && (account.next_sync_at.is_some() || account.last_sync_error.is_some()) {
        accounts::clear_sync_failure(&mut conn, tenant, &account.id).await?;
    }
    locks::release(conn).await;
    result
}

fn busy() -> ApiError {
    ApiError::conflict("sync_in_progress", "a sync of this account is already running")
}

fn unlinked() -> ApiError {
    ApiError::conflict(
        "account_unlinked",
        "the account is unlinked; it is no longer synced",
    )
}

/// The account as stored, with its data status fetched from Mono first when it was never
/// fetched; 409 `data_not_ready` unless Mono's data is AVAILABLE.
async fn ensure_ready(
    state: &AppState,
    tenant: &Tenant,
    account: AccountRow,
) -> Result<AccountRow, ApiError> {
    let account = if account.data_status.is_none() {
        crate::services::link::refresh_from_mono(state, tenant, &account.id, false).await?
    } else {
        account
    };
    match account.data_status.as_deref() {
        Some("AVAILABLE") => Ok(account),
        other => {
            let status = other.unwrap_or("UNKNOWN").to_string();
            let mut extra = serde_json::Map::new();
            extra.insert("dataStatus".into(), serde_json::Value::from(status.clone()));
            Err(ApiError::Conflict {
                code: "data_not_ready",
                message: format!("Mono's data for this account is not ready (data_status {status})"),
                extra,
            })
        }
    }
}

/// A page as fetched, with where it sits in the window.
struct Fetched {
    at: PageRequest,
    page: RawTransactionPage,
}

async fn fetch(
    state: &AppState,
    account_id: &str,
    cursor: &Cursor,
    page_size: u32,
) -> Result<Fetched, ApiError> {
    let at = cursor.page_request(page_size);
    let query = TransactionQuery {
        start: cursor.start,
        limit: Some(at.limit),
        page: Some(at.page),
        ..TransactionQuery::default()
    };
    let page = state.mono.transactions_raw(account_id, &query).await?;
    Ok(Fetched { at, page })
}

async fn run_locked(
    state: &AppState,
    tenant: &Tenant,
    account: &AccountRow,
    req: SyncRequest,
    conn: &mut PgConnection,
) -> Result<SyncOutcome, ApiError> {
    let policy = crate::services::settings::load_policy(state, tenant).await?;
    let trace_id = crate::telemetry::current_trace_id();
    let mut cursor = match req.cursor {
        Some(c) => c,
        None => account
            .sync_cursor
            .as_deref()
            .and_then(Cursor::parse)
            .unwrap_or_else(Cursor::initial),
    };
    let ctx = PageContext {
        org_id: tenant.org_id,
        env_id: tenant.env_id,
        account_id: &account.id,
        source: "sync",
        trace_id: &trace_id,
        policy_version: &policy.version,
    };
    let account_currency = account.currency.as_deref();
    let mut out = SyncOutcome {
        account_id: account.id.clone(),
        ..SyncOutcome::default()
    };
    let started = Instant::now();
    let out_of_time =
        || started.elapsed() >= state.settings.sync_time_budget || state.shutdown.is_cancelled();
    let mut empty_retries = 0;
    // The next page is fetched while the current one is written: at most two pages in memory.
    let mut pending = Some(fetch(state, &account.id, &cursor, req.page_size).await?);
    while let Some(Fetched { at, page }) = pending.take() {
        let walked_to = at.page_start + page.items.len() as u64;
        // Mono's `next`, or a total above what the walk has reached: the window holds more.
        let more = page.paging.next.is_some() || page.paging.total > walked_to;
        if page.items.len() <= at.skip {
            if !more {
                cursor = cursor.pass_done(None, today());
                save_cursor_only(conn, tenant, &account.id, &cursor).await?;
                break;
            }
            // Mono says there is more but sent nothing new: ask again, then report it.
            if empty_retries < EMPTY_PAGE_RETRIES && !out_of_time() {
                empty_retries += 1;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(empty_retries))).await;
                pending = Some(fetch(state, &account.id, &cursor, req.page_size).await?);
                continue;
            }
            metrics::counter!("sync_empty_pages_total").increment(1);
            tracing::warn!(
                account_id = %account.id,
                page = at.page,
                total = page.paging.total,
                "Mono answered an empty page while it reports more transactions; the sync stops here and resumes next time"
            );
            out.has_more = true;
            break;
        }
        empty_retries = 0;
        let mut newest: Option<NaiveDate> = None;
        let mut rows = PageRows::with_capacity(page.items.len() - at.skip);
        let mut seen = HashSet::with_capacity(page.items.len() - at.skip);
        for item in page.items.into_iter().skip(at.skip) {
            out.fetched += 1;
            if let Ok(t) = &item.decoded {
                let day = t.date.date_naive();
                newest = Some(newest.map_or(day, |n| n.max(day)));
            }
            match decide_item(&policy.compiled, &account.id, account_currency, item) {
                Some(row) if seen.insert(row.transaction_id.clone()) => rows.push(row),
                Some(_) => count(&mut out, RecordReason::Duplicate),
                None => count(&mut out, RecordReason::MalformedTransaction),
            }
        }
        let next_cursor = if more {
            cursor.advance(walked_to, newest, today())
        } else {
            cursor.pass_done(newest, today())
        };
        let write = write_page(conn, tenant, &ctx, &rows, &next_cursor);
        let fresh = if more && !out_of_time() {
            let (written, fetched) =
                tokio::join!(write, fetch(state, &account.id, &next_cursor, req.page_size));
            let fresh = written?;
            if fresh.is_some() {
                match fetched {
                    Ok(next) => pending = Some(next),
                    // Shutdown ended the next page's wait (for the request budget, or between
                    // retries): stop at this page boundary, the rest resumable.
                    Err(_) if state.shutdown.is_cancelled() => {}
                    Err(e) => return Err(e),
                }
            }
            fresh
        } else {
            write.await?
        };
        let Some(fresh) = fresh else {
            // Unlinked while the sync ran: the page was not written and nothing more will be.
            return Err(unlinked());
        };
        count_written(&rows, &fresh, &mut out);
        cursor = next_cursor;
        out.has_more = more && pending.is_none();
    }
    out.skipped = out.fetched - out.drafted;
    out.cursor = Some(cursor.encode());
    metrics::counter!("sync_transactions_total", "outcome" => "fetched").increment(out.fetched);
    metrics::counter!("sync_transactions_total", "outcome" => "drafted").increment(out.drafted);
    metrics::counter!("sync_transactions_total", "outcome" => "dlq").increment(out.dlq);
    Ok(out)
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// One page's rows and the cursor after it, committed together; None (nothing written) when
/// the account was unlinked meanwhile.
async fn write_page(
    conn: &mut PgConnection,
    tenant: &Tenant,
    ctx: &PageContext<'_>,
    rows: &PageRows,
    next: &Cursor,
) -> Result<Option<HashSet<String>>, ApiError> {
    let mut tx = conn.begin().await?;
    // The cursor first: its row lock orders this page against a concurrent unlink.
    if !accounts::save_cursor(&mut *tx, tenant, ctx.account_id, &next.encode()).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    let fresh = ledger::write_page(&mut tx, ctx, rows).await?;
    tx.commit().await?;
    Ok(Some(fresh.into_iter().collect()))
}

/// The end of a pass with nothing left to write: only the cursor moves.
async fn save_cursor_only(
    conn: &mut PgConnection,
    tenant: &Tenant,
    account_id: &str,
    cursor: &Cursor,
) -> Result<(), ApiError> {
    if !accounts::save_cursor(&mut *conn, tenant, account_id, &cursor.encode()).await? {
        return Err(unlinked());
    }
    Ok(())
}

/// Decides one item of a page: the engine for a well-formed one, the DLQ for one that does not
/// decode but has an id; None (logged and counted) for one without even an id.
pub fn decide_item(
    policy: &CompiledPolicy,
    account_id: &str,
    account_currency: Option<&str>,
    item: RawTransaction,
) -> Option<DecidedRow> {
    let RawTransaction { raw, decoded } = item;
    let t = match decoded {
        Ok(t) => t,
        Err(malformed) => {
            metrics::counter!("sync_malformed_transactions_total").increment(1);
            tracing::warn!(account_id, field = %malformed.path, "Mono sent a transaction that does not decode");
            return Some(DecidedRow {
                transaction_id: malformed.id?,
                outcome: Outcome::Dlq,
                reason: RecordReason::MalformedTransaction,
                detail: None,
                kind: None,
                amount: 0,
                currency: account_currency.unwrap_or_default().to_owned(),
                narration: String::new(),
                description: None,
                reference: None,
                counterparty: None,
                date: None,
                rule_id: None,
                keywords: Vec::new(),
                raw,
            });
        }
    };
    let date = t.date;
    let tx = into_engine(account_id, account_currency, t);
    if tx.amount == 0 {
        return Some(DecidedRow {
            outcome: Outcome::Skipped,
            reason: RecordReason::ZeroAmount,
            detail: None,
            kind: None,
            rule_id: None,
            counterparty: None,
            ..row_of(tx, date, raw)
        });
    }
    let d = eligibility::decide(&tx, policy);
    let reference = d.reference.or(tx.reference.clone());
    Some(DecidedRow {
        outcome: d.outcome,
        reason: d.reason.into(),
        detail: d.detail,
        kind: d.kind,
        rule_id: d.rule_id,
        counterparty: d.counterparty,
        keywords: d.keywords,
        reference,
        ..row_of(tx, date, raw)
    })
}

/// The transaction's own columns, moved out of it.
fn row_of(
    tx: eligibility::Transaction,
    date: chrono::DateTime<Utc>,
    raw: Box<serde_json::value::RawValue>,
) -> DecidedRow {
    DecidedRow {
        transaction_id: tx.id,
        outcome: Outcome::Skipped,
        reason: RecordReason::ZeroAmount,
        detail: None,
        kind: None,
        amount: tx.amount,
        currency: tx.currency,
        narration: tx.narration,
        description: tx.description,
        reference: tx.reference,
        counterparty: None,
        date: Some(date),
        rule_id: None,
        keywords: Vec::new(),
        raw,
    }
}

/// Mono's shape to the engine's, moving every field: the account's currency when the
/// transaction has none, and amounts as magnitudes (the type says the direction).
pub fn into_engine(
    account_id: &str,
    account_currency: Option<&str>,
    t: MonoTransaction,
) -> eligibility::Transaction {
    eligibility::Transaction {
        id: t.id,
        account_id: Some(account_id.to_owned()),
        kind: match t.kind {
            TransactionType::Credit => TxType::Credit,
            TransactionType::Debit => TxType::Debit,
        },
        amount: t.amount.saturating_abs(),
        currency: t
            .currency
            .or_else(|| account_currency.map(str::to_owned))
            .unwrap_or_default(),
        narration: t.narration,
        description: t.description,
        tags: Vec::new(),
        reference: t.reference,
        category: t.category,
        counterparty: t.counterparty.map(|c| eligibility::Counterparty {
            name: c.name,
            account_number: c.account_number,
            bank: c.bank,
        }),
        date: None,
    }
}

fn count(out: &mut SyncOutcome, reason: RecordReason) {
    *out.skipped_by_reason
        .entry(reason.as_str().to_owned())
        .or_default() += 1;
}

fn count_written(rows: &PageRows, fresh: &HashSet<String>, out: &mut SyncOutcome) {
    for i in 0..rows.len() {
        if !fresh.contains(&rows.transaction_id[i]) {
            count(out, RecordReason::Duplicate);
            continue;
        }
        match rows.outcome[i] {
            Outcome::Draft => out.drafted += 1,
            outcome => {
                if outcome == Outcome::Dlq {
                    out.dlq += 1;
                }
                count(out, rows.reason[i]);
            }
        }
    }
}

/// One row of a sync-stored answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredResult {
    pub account_id: String,
    pub drafted: u64,
    pub skipped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StoredError>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredOutcome {
    pub accounts: usize,
    pub drafted: u64,
    pub skipped: u64,
    pub results: Vec<StoredResult>,
}

/// Accounts synced at once by sync-stored.
pub const STORED_CONCURRENCY: usize = 4;

/// Syncs every linked account of the environment, a few at a time; one account's failure is
/// reported in its row and does not stop the others.
/// `sync-stored` logs a progress line every this many accounts (and at the last).
const STORED_PROGRESS_EVERY: usize = 25;

pub async fn sync_stored(
    state: &AppState,
    tenant: &Tenant,
    page_size: u32,
) -> Result<StoredOutcome, ApiError> {
    use futures::StreamExt;
    let accounts = crate::db::accounts::list_linked(&state.db, tenant).await?;
    let total = accounts.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let done = &done;
    let started = std::time::Instant::now();
    let results: Vec<StoredResult> = futures::stream::iter(accounts.into_iter().map(|a| {
        let req = SyncRequest {
            account_id: MonoAccountId::from_stored(a.id.clone()),
            cursor: None,
            page_size,
        };
        async move {
            if state.shutdown.is_cancelled() {
                // Shutting down: accounts not started yet are left for the next call.
                return StoredResult {
                    account_id: a.id,
                    drafted: 0,
                    skipped: 0,
                    error: Some(StoredError {
                        code: "shutting_down".into(),
                        message: "the service is shutting down; this account was not synced".into(),
                    }),
                };
            }
            let result = match sync_account(state, tenant, req).await {
                Ok(o) => StoredResult {
                    account_id: a.id,
                    drafted: o.drafted,
                    skipped: o.skipped,
                    error: None,
                },
                Err(e) => StoredResult {
                    account_id: a.id,
                    drafted: 0,
                    skipped: 0,
                    error: Some(StoredError {
                        code: e.code().to_string(),
                        message: e.to_string(),
                    }),
                },
            };
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n == total || n.is_multiple_of(STORED_PROGRESS_EVERY) {
                tracing::info!(
                    done = n,
                    total,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "sync-stored progress"
                );
            }
            result
        }
    }))
    .buffered(STORED_CONCURRENCY)
    .collect()
    .await;
    Ok(StoredOutcome {
        accounts: results.len(),
        drafted: results.iter().map(|r| r.drafted).sum(),
        skipped: results.iter().map(|r| r.skipped).sum(),
        results,
    })
}

/// How soon a queued sync whose account another session is syncing is tried again.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// A queued sync (the sync lane of the job worker): the account's details refreshed from
/// Mono first unless its data is AVAILABLE (so an account stored PROCESSING or PARTIAL moves
/// on by itself), then a sync when Mono has its transactions (AVAILABLE, or PARTIAL with
/// transactions retrieved).
///
/// Done when it synced, or when running it again would not help (data not ready, unlinked,
/// gone); later, without using an attempt, when another session is syncing the account or
/// the sync stopped at its time budget with more to fetch; and on failure the account backs
/// off (`lastSyncError`, `nextSyncAt`), the job retried when the backoff ends. A database
/// outage is the job queue's to retry: it says nothing about the account.
pub async fn run_queued(
    state: &AppState,
    tenant: &Tenant,
    account_id: MonoAccountId,
) -> Result<Ran, ApiError> {
    match queued_sync(state, tenant, account_id.as_str()).await {
        Ok(Queued::Synced(outcome)) => {
            let more = outcome.has_more && outcome.fetched > 0;
            let progress =
                serde_json::to_value(outcome).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
            Ok(if more {
                Ran::Later {
                    after: Duration::ZERO,
                    progress,
                }
            } else {
                Ran::Done(progress)
            })
        }
        Ok(Queued::NotReady(status)) => Ok(Ran::Done(serde_json::json!({
            "skipped": "data_not_ready",
            "dataStatus": status,
        }))),
        Err(ApiError::Conflict {
            code: "sync_in_progress",
            ..
        }) => Ok(Ran::Later {
            after: BUSY_RETRY,
            progress: serde_json::json!({"waiting": "sync_in_progress"}),
        }),
        Err(ApiError::Conflict { code, .. }) => Ok(Ran::Done(serde_json::json!({ "skipped": code }))),
        Err(ApiError::NotFound(_)) => Ok(Ran::Done(serde_json::json!({ "skipped": "not_found" }))),
        // The database, not the account, failed (down, or out of connections): the job
        // queue's own short backoff, and the account is not held back for it.
        Err(e @ ApiError::DatabaseUnavailable(_)) => Err(e),
        Err(e) => {
            let error = e.to_string();
            let after =
                match accounts::record_sync_failure(&state.db, tenant, account_id.as_str(), &error).await? {
                    Some(at) => (at - Utc::now()).to_std().unwrap_or_default(),
                    None => return Ok(Ran::Done(serde_json::json!({ "skipped": "not_found" }))),
                };
            metrics::counter!("sync_account_failures_total").increment(1);
            tracing::warn!(
                account_id = account_id.as_str(),
                error = %error,
                retry_in_secs = after.as_secs(),
                "queued sync failed; the account backs off"
            );
            Ok(Ran::Retry { error, after })
        }
    }
}

enum Queued {
    Synced(SyncOutcome),
    /// Mono does not have the transactions yet: the data status it reported.
    NotReady(Option<String>),
}

async fn queued_sync(state: &AppState, tenant: &Tenant, account_id: &str) -> Result<Queued, ApiError> {
    let account = accounts::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    if account.unlinked_at.is_some() {
        return Err(unlinked());
    }
    let account = if account.data_status.as_deref() == Some("AVAILABLE") {
        account
    } else {
        crate::services::link::refresh_from_mono(state, tenant, &account.id, false).await?
    };
    if !account.transactions_ready() {
        return Ok(Queued::NotReady(account.data_status));
    }
    let req = SyncRequest {
        account_id: MonoAccountId::from_stored(account.id.clone()),
        cursor: None,
        page_size: DEFAULT_PAGE_SIZE,
    };
    Ok(Queued::Synced(sync_ready(state, tenant, &account, req).await?))
}
