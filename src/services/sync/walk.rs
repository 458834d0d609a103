//! One account's sync: pulls its transactions from Mono page by page from its cursor, decides
//! each (`decide`), and stores every page together with the advanced cursor in one
//! transaction, so a sync killed at any moment resumes with nothing lost and nothing drafted
//! twice, whatever page size the next call uses (see `services::cursor`).
//!
//! A pass re-reads the window from a little before the newest transaction seen, so most pages
//! of a sync hold only transactions the ledger has already. Those are left out with one read
//! (the same JSON stored, the payment settled: writing them would change nothing); only new or
//! changed transactions are written, and a page with none writes nothing at all. Its cursor
//! is committed with the next page written or at the end of the walk (`Walked`).
//!
//! One sync per account at a time across every replica: a PostgreSQL advisory lock held by a
//! connection of the sync's own, outside the pool (`db::locks`), which also writes the pages.
//! So a sync holds no pooled connection while it waits on Mono, and its lock dies with it.
//! A replica runs at most `MONO_SYNC_CONCURRENCY` syncs at once; more wait their turn.

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
use crate::services::reconcile;
use crate::services::sync::decide::decide_item;
use crate::services::sync::parts::Tally;
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::{self, Outcome};
use mono::{RawTransactionPage, TransactionQuery};

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
    /// The job whose run this sync is, when it is a part of a bulk job (a sync of every
    /// stored account): each page's drafts and skips are added to its tally in the page's own
    /// transaction, so they are exact whatever dies when.
    pub tally_of: Option<uuid::Uuid>,
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
pub async fn sync_ready(
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
        return Err(busy(state, tenant, &account.id).await);
    }
    let result = run_locked(state, tenant, account, req, &mut conn).await;
    if result.is_ok()
        && (account.next_sync_at.is_some()
            || account.last_sync_error.is_some()
            || account.connection == "sync_failed")
    {
        accounts::clear_sync_failure(&mut conn, tenant, &account.id).await?;
    }
    locks::release(conn).await;
    if let Ok(out) = &result {
        if out.fetched >= ANALYZE_AFTER {
            // A first sync of a long history multiplies the tables: the lists read right after
            // it plan on current statistics, not on autovacuum's next round.
            if let Err(e) = crate::db::stats::analyze_if_outgrown(&state.db, out.fetched).await {
                tracing::warn!(error = %e, "refreshing the planner's statistics after a large sync failed");
            }
        }
    }
    result
}

/// A sync that fetched at least this many transactions checks whether it outgrew the
/// planner's statistics (`db::stats::analyze_if_outgrown`).
const ANALYZE_AFTER: u64 = 10_000;

/// 409 `sync_in_progress`, with `error.jobId` when the sync running is a queued one (the
/// first sync a link queued, say): the job a dashboard can watch (`GET /si/mono/jobs/{id}`).
async fn busy(state: &AppState, tenant: &Tenant, account_id: &str) -> ApiError {
    let key = format!("sync:{}:{}", tenant.env_id, account_id);
    let mut extra = serde_json::Map::new();
    if let Ok(Some(job)) = crate::db::queue::unfinished(&state.db, &key).await {
        extra.insert("jobId".into(), serde_json::Value::from(job.to_string()));
    }
    ApiError::Conflict {
        code: "sync_in_progress",
        message: "a sync of this account is already running".into(),
        extra,
    }
}

pub fn unlinked() -> ApiError {
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
        crate::services::accounts::refresh_from_mono(state, tenant, &account.id, false).await?
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
    let cursor = match req.cursor {
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
    let mut walked = Walked {
        out: SyncOutcome {
            account_id: account.id.clone(),
            ..SyncOutcome::default()
        },
        cursor,
        unsaved: false,
        untallied: 0,
    };
    let result = walk(
        state,
        tenant,
        account,
        &req,
        conn,
        &ctx,
        &policy.compiled,
        &mut walked,
    )
    .await;
    // Pages passed without a write are committed even when the walk then failed, so the next
    // sync resumes after them; when that fails too, the walk's own failure is the answer.
    let saved = if walked.unsaved {
        let part = req.tally_of.map(|job| (job, walked.untallied));
        save_progress(conn, tenant, &account.id, &walked.cursor, part).await
    } else {
        Ok(())
    };
    result?;
    saved?;
    let mut out = walked.out;
    out.skipped = out.fetched - out.drafted;
    out.cursor = Some(walked.cursor.encode());
    metrics::counter!("sync_transactions_total", "outcome" => "fetched").increment(out.fetched);
    metrics::counter!("sync_transactions_total", "outcome" => "drafted").increment(out.drafted);
    metrics::counter!("sync_transactions_total", "outcome" => "dlq").increment(out.dlq);
    Ok(out)
}

/// Where a walk stands: its counts, the cursor it reached, and what of that is not committed
/// yet. A page whose every transaction the ledger holds unchanged is not written (no
/// transaction, no lock): its cursor, and its count in a bulk job's tally, go with the next
/// page written or with the walk's end ([`save_progress`]). A sync that dies before reads such
/// pages again, and they cost it as little again.
struct Walked {
    out: SyncOutcome,
    cursor: Cursor,
    /// The cursor moved past pages not written since the last commit.
    unsaved: bool,
    /// Items fetched on those pages.
    untallied: u64,
}

#[allow(clippy::too_many_arguments)]
async fn walk(
    state: &AppState,
    tenant: &Tenant,
    account: &AccountRow,
    req: &SyncRequest,
    conn: &mut PgConnection,
    ctx: &PageContext<'_>,
    policy: &eligibility::CompiledPolicy,
    w: &mut Walked,
) -> Result<(), ApiError> {
    let account_currency = account.currency.as_deref();
    let started = Instant::now();
    let out_of_time =
        || started.elapsed() >= state.settings.sync_time_budget || state.shutdown.is_cancelled();
    let mut empty_retries = 0;
    // The next page is fetched while the current one is written: at most two pages in memory.
    let mut pending = Some(fetch(state, &account.id, &w.cursor, req.page_size).await?);
    while let Some(Fetched { at, page }) = pending.take() {
        let walked_to = at.page_start + page.items.len() as u64;
        // Mono's `next`, or a total above what the walk has reached: the window holds more.
        let more = page.paging.next.is_some() || page.paging.total > walked_to;
        if page.items.len() <= at.skip {
            if !more {
                w.cursor = w.cursor.pass_done(None, today());
                w.unsaved = true;
                break;
            }
            // Mono says there is more but sent nothing new: ask again, then report it.
            if empty_retries < EMPTY_PAGE_RETRIES && !out_of_time() {
                empty_retries += 1;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(empty_retries))).await;
                pending = Some(fetch(state, &account.id, &w.cursor, req.page_size).await?);
                continue;
            }
            metrics::counter!("sync_empty_pages_total").increment(1);
            tracing::warn!(
                account_id = %account.id,
                page = at.page,
                total = page.paging.total,
                "Mono answered an empty page while it reports more transactions; the sync stops here and resumes next time"
            );
            w.out.has_more = true;
            break;
        }
        empty_retries = 0;
        let out = &mut w.out;
        let fetched_before = out.fetched;
        let mut newest: Option<NaiveDate> = None;
        let mut rows = Vec::with_capacity(page.items.len() - at.skip);
        let mut seen = HashSet::with_capacity(page.items.len() - at.skip);
        for item in page.items.into_iter().skip(at.skip) {
            out.fetched += 1;
            if let Ok(t) = &item.decoded {
                let day = t.date.date_naive();
                newest = Some(newest.map_or(day, |n| n.max(day)));
            }
            match decide_item(policy, &account.id, account_currency, item) {
                Some(row) if seen.insert(row.transaction_id.clone()) => rows.push(row),
                Some(_) => count(out, RecordReason::Duplicate),
                None => count(out, RecordReason::MalformedTransaction),
            }
        }
        let next_cursor = if more {
            w.cursor.advance(walked_to, newest, today())
        } else {
            w.cursor.pass_done(newest, today())
        };
        let page_fetched = out.fetched - fetched_before;
        // A page written carries the count of the pages passed before it without a write.
        let part = req.tally_of.map(|job| (job, w.untallied + page_fetched));
        let store = store_page(conn, tenant, ctx, rows, &next_cursor, part);
        let stored = if more && !out_of_time() {
            let (stored, fetched) =
                tokio::join!(store, fetch(state, &account.id, &next_cursor, req.page_size));
            let stored = stored?;
            if stored.is_some() {
                match fetched {
                    Ok(next) => pending = Some(next),
                    // Shutdown ended the next page's wait (for the request budget, or between
                    // retries): stop at this page boundary, the rest resumable.
                    Err(_) if state.shutdown.is_cancelled() => {}
                    Err(e) => return Err(e),
                }
            }
            stored
        } else {
            store.await?
        };
        let Some(stored) = stored else {
            // Unlinked while the sync ran: the page was not written and nothing more will be.
            return Err(unlinked());
        };
        for _ in 0..stored.held {
            count(&mut w.out, RecordReason::Duplicate);
        }
        match &stored.written {
            Some((rows, fresh)) => {
                count_written(rows, fresh, &mut w.out);
                w.unsaved = false;
                w.untallied = 0;
            }
            None => {
                w.unsaved = true;
                w.untallied += page_fetched;
            }
        }
        w.cursor = next_cursor;
        w.out.has_more = more && pending.is_none();
    }
    Ok(())
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A page as stored: how many of its transactions the ledger held unchanged (not written),
/// and the rest as written with the ones new to the ledger; `written` is None when there was
/// no rest, so nothing was written.
struct Stored {
    held: u64,
    written: Option<(PageRows, HashSet<String>)>,
}

/// Stores one page: the transactions the ledger holds unchanged are left out with one read
/// (`ledger::unchanged_settled`); the rest, when there is any, are written with the cursor
/// after the page ([`write_page`]). None (nothing written) when the account was unlinked
/// meanwhile.
async fn store_page(
    conn: &mut PgConnection,
    tenant: &Tenant,
    ctx: &PageContext<'_>,
    rows: Vec<DecidedRow>,
    next: &Cursor,
    part: Option<(uuid::Uuid, u64)>,
) -> Result<Option<Stored>, ApiError> {
    let (rows, held) = without_held(conn, tenant, ctx.account_id, rows).await?;
    if rows.is_empty() {
        metrics::counter!("sync_pages_total", "outcome" => "held").increment(1);
        return Ok(Some(Stored { held, written: None }));
    }
    metrics::counter!("sync_pages_total", "outcome" => "written").increment(1);
    let written = write_page(conn, tenant, ctx, rows, next, part).await?;
    Ok(written.map(|written| Stored {
        held,
        written: Some(written),
    }))
}

/// `rows` without the ones a write would leave as they are (held with the same JSON, their
/// payment settled), and how many those were. Writing such a row stores nothing, drafts
/// nothing and moves no payment, but it takes the locks of its amount and reference, so a
/// page of them would hold up the other syncs of the organization for nothing.
async fn without_held(
    conn: &mut PgConnection,
    tenant: &Tenant,
    account_id: &str,
    rows: Vec<DecidedRow>,
) -> Result<(Vec<DecidedRow>, u64), ApiError> {
    if rows.is_empty() {
        return Ok((rows, 0));
    }
    let ids: Vec<String> = rows.iter().map(|r| r.transaction_id.clone()).collect();
    let raws: Vec<&str> = rows.iter().map(|r| r.raw.get()).collect();
    let credits: Vec<Option<bool>> = rows.iter().map(|r| r.credit).collect();
    let held: HashSet<String> =
        ledger::unchanged_settled(&mut *conn, tenant.env_id, account_id, &ids, &raws, &credits)
            .await?
            .into_iter()
            .collect();
    drop(raws);
    if held.is_empty() {
        return Ok((rows, 0));
    }
    let rest: Vec<DecidedRow> = rows
        .into_iter()
        .filter(|r| !held.contains(&r.transaction_id))
        .collect();
    Ok((rest, held.len() as u64))
}

/// Rows and the cursor after their page, committed together, with the counts in the tally of
/// the job whose run this is, when it is a part of a bulk job (`part`: that job and the items
/// fetched since the last commit); None (nothing written) when the account was unlinked
/// meanwhile.
async fn write_page(
    conn: &mut PgConnection,
    tenant: &Tenant,
    ctx: &PageContext<'_>,
    rows: Vec<DecidedRow>,
    next: &Cursor,
    part: Option<(uuid::Uuid, u64)>,
) -> Result<Option<(PageRows, HashSet<String>)>, ApiError> {
    let mut tx = conn.begin().await?;
    // The cursor first: its row lock orders this page against a concurrent unlink.
    if !accounts::save_cursor(&mut *tx, tenant, ctx.account_id, &next.encode()).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    // A posted transaction from a sync settles the invoice it pays.
    let written = reconcile::write(&mut tx, tenant, ctx, rows, true).await?;
    if let Some((job, fetched)) = part {
        let drafted = drafted(&written.rows, &written.fresh);
        add_to_tally(&mut tx, job, fetched, drafted).await?;
    }
    tx.commit().await?;
    Ok(Some((written.rows, written.fresh)))
}

/// Adds `fetched` items, `drafted` of them drafted, to the tally of the bulk job's part `job`.
async fn add_to_tally(
    conn: &mut PgConnection,
    job: uuid::Uuid,
    fetched: u64,
    drafted: u64,
) -> Result<(), ApiError> {
    let counts = Tally {
        drafted,
        skipped: fetched - drafted,
    };
    let counts = serde_json::to_value(counts).map_err(ApiError::internal)?;
    crate::db::queue::add_to_tally(&mut *conn, job, &counts).await?;
    Ok(())
}

/// The page's new drafts, as [`count_written`] counts them.
fn drafted(rows: &PageRows, fresh: &HashSet<String>) -> u64 {
    (0..rows.len())
        .filter(|&i| rows.outcome[i] == Outcome::Draft && fresh.contains(&rows.transaction_id[i]))
        .count() as u64
}

/// Commits the cursor a walk reached past pages it did not write (the end of a pass with
/// nothing left to write, pages the ledger held unchanged), with the items those pages
/// fetched in the tally of the bulk job whose part this is (`part`).
async fn save_progress(
    conn: &mut PgConnection,
    tenant: &Tenant,
    account_id: &str,
    cursor: &Cursor,
    part: Option<(uuid::Uuid, u64)>,
) -> Result<(), ApiError> {
    let Some((job, fetched)) = part.filter(|&(_, fetched)| fetched > 0) else {
        if !accounts::save_cursor(&mut *conn, tenant, account_id, &cursor.encode()).await? {
            return Err(unlinked());
        }
        return Ok(());
    };
    let mut tx = conn.begin().await?;
    if !accounts::save_cursor(&mut *tx, tenant, account_id, &cursor.encode()).await? {
        tx.rollback().await?;
        return Err(unlinked());
    }
    add_to_tally(&mut tx, job, fetched, 0).await?;
    tx.commit().await?;
    Ok(())
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
