//! Transaction sync: pulls an account's transactions from Mono page by page, decides each
//! with the environment's compiled policy, and stores every page together with the advanced
//! cursor in one transaction, so a sync killed at any moment resumes with nothing lost and
//! nothing drafted twice. One sync per account at a time across every replica, held by a
//! PostgreSQL advisory lock on the connection that does the writing.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres};

use crate::db::accounts::AccountRow;
use crate::db::ledger::{self, DecidedRow, PageContext};
use crate::eligibility::{self, CompiledPolicy, TxType};
use crate::error::ApiError;
use crate::mono::{MonoTransaction, TransactionQuery, TransactionType};
use crate::services::cursor::Cursor;
use crate::state::AppState;
use crate::tenancy::Tenant;

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 500;
/// A single call stops after this long and answers `hasMore: true`; the next call resumes.
pub const TIME_BUDGET: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorView {
    account_id: String,
    cursor: Option<String>,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn cursor_of(state: &AppState, tenant: &Tenant, account_id: &str) -> Result<CursorView, ApiError> {
    let account = crate::db::accounts::get(&state.db, tenant, account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {account_id} not found")))?;
    Ok(CursorView {
        account_id: account.id,
        cursor: account.sync_cursor,
        updated_at: account.cursor_updated_at,
    })
}

pub struct SyncRequest {
    pub account_id: String,
    pub cursor: Option<Cursor>,
    pub page_size: u32,
}

pub async fn sync_account(
    state: &AppState,
    tenant: &Tenant,
    req: SyncRequest,
) -> Result<SyncOutcome, ApiError> {
    let account = crate::db::accounts::get(&state.db, tenant, &req.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {} not found", req.account_id)))?;
    if account.unlinked_at.is_some() {
        return Err(ApiError::conflict(
            "account_unlinked",
            "the account is unlinked; it is no longer synced",
        ));
    }
    let account = ensure_ready(state, tenant, account).await?;

    let mut conn = state.db.acquire().await?;
    let key = lock_key(&account.id);
    let locked: bool = sqlx::query_scalar!("SELECT pg_try_advisory_lock($1) AS \"locked!\"", key)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Err(ApiError::conflict(
            "sync_in_progress",
            "a sync of this account is already running",
        ));
    }
    let result = run_locked(state, tenant, &account, req, &mut conn).await;
    let unlocked = sqlx::query_scalar!("SELECT pg_advisory_unlock($1) AS \"unlocked!\"", key)
        .fetch_one(&mut *conn)
        .await;
    if !matches!(unlocked, Ok(true)) {
        // The lock lives as long as the session: closing it is the sure way to release it.
        let _ = conn.detach().close().await;
    }
    result
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

/// A 64-bit advisory-lock key per account, in a namespace of its own.
fn lock_key(account_id: &str) -> i64 {
    let digest = Sha256::digest(format!("taxpoynt-mono/sync/{account_id}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

async fn run_locked(
    state: &AppState,
    tenant: &Tenant,
    account: &AccountRow,
    req: SyncRequest,
    conn: &mut PoolConnection<Postgres>,
) -> Result<SyncOutcome, ApiError> {
    let policy = crate::services::settings::load_policy(&state.db, &state.settings, tenant).await?;
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
    };
    let account_currency = account.currency.clone();
    let mut out = SyncOutcome {
        account_id: account.id.clone(),
        ..SyncOutcome::default()
    };
    let started = Instant::now();
    let query_for = |c: &Cursor| TransactionQuery {
        start: c.start,
        limit: Some(req.page_size),
        page: Some(c.page),
        ..TransactionQuery::default()
    };
    // The next page is fetched while the current one is written: at most two pages in memory.
    let mut pending = Some(state.mono.transactions(&account.id, &query_for(&cursor)).await?);
    while let Some(page) = pending.take() {
        let newest = page.transactions.iter().map(|t| t.date.date_naive()).max();
        let has_next = page.paging.next.is_some() && !page.transactions.is_empty();
        let next_cursor = if has_next {
            cursor.next_page(newest)
        } else {
            cursor.pass_done(newest)
        };
        let rows = decide_page(
            &policy,
            &account.id,
            account_currency.as_deref(),
            &page.transactions,
            &mut out,
        );
        let out_of_time = started.elapsed() >= TIME_BUDGET || state.shutdown.is_cancelled();
        let write = write_page(conn, &ctx, &rows, &next_cursor);
        if has_next && !out_of_time {
            let next_query = query_for(&next_cursor);
            let fetch = state.mono.transactions(&account.id, &next_query);
            let (written, fetched) = tokio::join!(write, fetch);
            count_written(&rows, &written?, &mut out);
            pending = Some(fetched?);
        } else {
            count_written(&rows, &write.await?, &mut out);
        }
        cursor = next_cursor;
        out.has_more = has_next && pending.is_none();
    }
    out.skipped = out.fetched - out.drafted;
    out.cursor = Some(cursor.encode());
    metrics::counter!("sync_transactions_total", "outcome" => "fetched").increment(out.fetched);
    metrics::counter!("sync_transactions_total", "outcome" => "drafted").increment(out.drafted);
    metrics::counter!("sync_transactions_total", "outcome" => "dlq").increment(out.dlq);
    Ok(out)
}

/// One page's rows and the cursor after it, committed together.
async fn write_page(
    conn: &mut PoolConnection<Postgres>,
    ctx: &PageContext<'_>,
    rows: &[DecidedRow],
    next: &Cursor,
) -> Result<HashSet<String>, ApiError> {
    let mut tx = conn.begin().await?;
    let fresh = ledger::write_page(&mut tx, ctx, rows).await?;
    crate::db::accounts::save_cursor(&mut *tx, ctx.account_id, &next.encode()).await?;
    tx.commit().await?;
    Ok(fresh.into_iter().collect())
}

/// Decides every transaction of a page; repeats within the page count as duplicates at once.
fn decide_page(
    policy: &CompiledPolicy,
    account_id: &str,
    account_currency: Option<&str>,
    page: &[MonoTransaction],
    out: &mut SyncOutcome,
) -> Vec<DecidedRow> {
    let mut seen = HashSet::with_capacity(page.len());
    let mut rows = Vec::with_capacity(page.len());
    for t in page {
        out.fetched += 1;
        if !seen.insert(t.id.as_str()) {
            *out.skipped_by_reason.entry("duplicate".into()).or_default() += 1;
            continue;
        }
        rows.push(decide_one(policy, account_id, account_currency, t));
    }
    rows
}

/// Normalises a Mono transaction and runs the engine on it.
pub fn decide_one(
    policy: &CompiledPolicy,
    account_id: &str,
    account_currency: Option<&str>,
    t: &MonoTransaction,
) -> DecidedRow {
    let cleaned;
    let t = if has_nul(t) {
        cleaned = without_nul(t);
        &cleaned
    } else {
        t
    };
    let tx = normalise(account_id, account_currency, t);
    let raw = serde_json::to_value(t).unwrap_or(serde_json::Value::Null);
    let mut row = DecidedRow {
        transaction_id: tx.id.clone(),
        // Nothing to invoice and nothing to review.
        outcome: "skipped",
        reason: "zero_amount",
        detail: None,
        kind: None,
        amount: tx.amount,
        currency: tx.currency.clone(),
        narration: tx.narration.clone(),
        description: tx.description.clone(),
        reference: tx.reference.clone(),
        counterparty: None,
        date: Some(t.date),
        rule_id: None,
        raw,
    };
    if tx.amount == 0 {
        return row;
    }
    let d = eligibility::decide(&tx, policy);
    row.outcome = d.outcome.as_str();
    row.reason = d.reason.as_str();
    row.detail = d.detail.map(|x| x.as_str());
    row.kind = d.kind.map(|k| k.as_str());
    row.rule_id = d.rule_id;
    row.reference = d.reference.or(row.reference);
    row.counterparty = d.counterparty;
    row
}

fn has_nul(t: &MonoTransaction) -> bool {
    let text = |s: &str| s.contains('\0');
    let opt = |s: &Option<String>| s.as_deref().is_some_and(text);
    text(&t.id)
        || text(&t.narration)
        || opt(&t.category)
        || opt(&t.currency)
        || opt(&t.reference)
        || opt(&t.description)
        || t.counterparty
            .as_ref()
            .is_some_and(|c| opt(&c.name) || opt(&c.account_number) || opt(&c.bank))
}

/// PostgreSQL text and jsonb cannot hold NUL: a transaction carrying one is stored without it
/// rather than blocking the account's sync forever.
fn without_nul(t: &MonoTransaction) -> MonoTransaction {
    let clean = |s: &str| s.replace('\0', "");
    let opt = |s: &Option<String>| s.as_deref().map(clean);
    let mut t = t.clone();
    t.id = clean(&t.id);
    t.narration = clean(&t.narration);
    t.category = opt(&t.category);
    t.currency = opt(&t.currency);
    t.reference = opt(&t.reference);
    t.description = opt(&t.description);
    if let Some(c) = t.counterparty.as_mut() {
        c.name = opt(&c.name);
        c.account_number = opt(&c.account_number);
        c.bank = opt(&c.bank);
    }
    t
}

/// Mono's shape to the engine's: the account's currency when the transaction has none, and
/// amounts as magnitudes (the type says the direction).
pub fn normalise(
    account_id: &str,
    account_currency: Option<&str>,
    t: &MonoTransaction,
) -> eligibility::Transaction {
    eligibility::Transaction {
        id: t.id.clone(),
        account_id: Some(account_id.to_string()),
        kind: match t.kind {
            TransactionType::Credit => TxType::Credit,
            TransactionType::Debit => TxType::Debit,
        },
        amount: t.amount.saturating_abs(),
        currency: t
            .currency
            .clone()
            .or_else(|| account_currency.map(str::to_string))
            .unwrap_or_default(),
        narration: t.narration.clone(),
        description: t.description.clone(),
        tags: Vec::new(),
        reference: t.reference.clone(),
        category: t.category.clone(),
        counterparty: t.counterparty.as_ref().map(|c| eligibility::Counterparty {
            name: c.name.clone(),
            account_number: c.account_number.clone(),
            bank: c.bank.clone(),
        }),
        date: t.date.to_rfc3339(),
    }
}

fn count_written(rows: &[DecidedRow], fresh: &HashSet<String>, out: &mut SyncOutcome) {
    for r in rows {
        if !fresh.contains(&r.transaction_id) {
            *out.skipped_by_reason.entry("duplicate".into()).or_default() += 1;
            continue;
        }
        match r.outcome {
            "draft" => out.drafted += 1,
            other => {
                if other == "dlq" {
                    out.dlq += 1;
                }
                *out.skipped_by_reason.entry(r.reason.to_string()).or_default() += 1;
            }
        }
    }
}

/// One row of a sync-stored answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredResult {
    pub account_id: String,
    pub drafted: u64,
    pub skipped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StoredError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
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
pub async fn sync_stored(
    state: &AppState,
    tenant: &Tenant,
    page_size: u32,
) -> Result<StoredOutcome, ApiError> {
    use futures::StreamExt;
    let accounts = crate::db::accounts::list_linked(&state.db, tenant).await?;
    let results: Vec<StoredResult> = futures::stream::iter(accounts.into_iter().map(|a| {
        let req = SyncRequest {
            account_id: a.id.clone(),
            cursor: None,
            page_size,
        };
        async move {
            match sync_account(state, tenant, req).await {
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
            }
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

/// Counts of one scheduled round.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub synced: usize,
    pub busy: usize,
    pub failed: usize,
}

/// One scheduled round over every linked account with available data, one account at a
/// time; an account another replica (or an API call) is syncing counts as busy.
pub async fn scheduled_round(state: &AppState) -> Result<Round, ApiError> {
    let mut round = Round::default();
    for (account_id, tenant) in crate::db::accounts::all_linked(&state.db).await? {
        if state.shutdown.is_cancelled() {
            break;
        }
        let req = SyncRequest {
            account_id: account_id.clone(),
            cursor: None,
            page_size: DEFAULT_PAGE_SIZE,
        };
        match sync_account(state, &tenant, req).await {
            Ok(_) => round.synced += 1,
            Err(ApiError::Conflict {
                code: "sync_in_progress",
                ..
            }) => round.busy += 1,
            Err(e) => {
                round.failed += 1;
                tracing::warn!(account_id, error = %e, "scheduled sync of an account failed");
            }
        }
    }
    Ok(round)
}
