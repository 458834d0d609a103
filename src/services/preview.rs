//! Rule preview: decides every stored transaction of the environment under today's policy and
//! under a proposed one (a rule added, or a settings change), and reports what would change.
//! Nothing is written. Transactions stream from the ledger as binary COPY data
//! (`db::ledger::engine_rows`), the fields the engine reads rather than Mono's JSON where the
//! ledger keeps them (rows it stored before that are decoded from the JSON), in batches of
//! whole rows to one decider per core, each parsing its batch in place and deciding every
//! transaction twice with the compiled policies into one reused transaction; the answer is the
//! one a single pass in scan order gives. A large ledger is read over several connections at
//! once, each a range of the table's pages, all under one exported snapshot: the same rows one
//! scan would read, in page order.
//!
//! The scan holds main-pool connections from its first row to its last, so previews are
//! bounded: a few at once per environment, and the connections they hold per replica
//! (`runtime::preview_limiter`; past them 429 with `Retry-After`), each scan under a statement
//! timeout (past it 422 `preview_too_large`: narrow it with `accountId`, `from`, `to`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::db::ledger::engine_rows::{self, EngineRow, Framer, Malformed, Scan};
use crate::db::ledger::ScanConnection;
use crate::db::{accounts, environments, ledger, rules};
use crate::error::ApiError;
use crate::runtime::preview_limiter::PreviewPermit;
use crate::services::dlq::parse_bound;
use crate::services::settings::{apply_patch, effective_settings, SettingsPatch};
use crate::services::sync::decide::into_engine;
use crate::state::AppState;
use crate::tenancy::Tenant;
use eligibility::{self, validate_rule, MatchKind, Outcome, Rule, RuleField, RuleList, TxType};
use mono::RawTransaction;

pub const MAX_SAMPLES: usize = 20;
/// The `Retry-After` of a preview refused for want of room: previews of a usual ledger take
/// about this long.
pub const RETRY_AFTER_SECS: u64 = 2;

/// A rule as `POST /si/mono/allow-deny` takes it (not saved), or `{settings}`, with the
/// optional scope `accountId`, `from`, `to`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"list": "deny", "pattern": "POS", "field": "narration", "match": "contains"}))]
pub struct PreviewBody {
    #[schema(value_type = Option<crate::vocab::RuleList>)]
    list: Option<RuleList>,
    #[schema(min_length = 1, max_length = 200)]
    pattern: Option<String>,
    #[schema(value_type = Option<crate::vocab::RuleField>)]
    field: Option<RuleField>,
    #[serde(rename = "match")]
    #[schema(value_type = Option<crate::vocab::RuleMatch>)]
    match_kind: Option<MatchKind>,
    account_id: Option<String>,
    note: Option<String>,
    /// A settings change to preview instead of a rule.
    settings: Option<SettingsPatch>,
    /// Transactions dated on or after this day.
    #[schema(value_type = Option<crate::vocab::DateBound>)]
    from: Option<String>,
    /// Transactions dated on or before this day.
    #[schema(value_type = Option<crate::vocab::DateBound>)]
    to: Option<String>,
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<serde_json::Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub decided: u64,
    /// Stored before the ledger kept transactions as Mono sent them: not decided.
    pub skipped_without_transaction: u64,
    pub changed: Changed,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Changed {
    pub to_draft: u64,
    pub to_dlq: u64,
    pub to_skipped: u64,
}

#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub transaction_id: String,
    pub narration: String,
    pub amount: i64,
    pub before: Verdict,
    pub after: Verdict,
}

#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verdict {
    #[schema(value_type = crate::vocab::Outcome)]
    pub outcome: Outcome,
    #[schema(value_type = crate::vocab::Reason)]
    pub reason: String,
}

pub async fn preview(state: &AppState, tenant: &Tenant, body: PreviewBody) -> Result<Preview, ApiError> {
    let from = body
        .from
        .as_deref()
        .map(|v| parse_bound("from", v, false))
        .transpose()?;
    let to = body
        .to
        .as_deref()
        .map(|v| parse_bound("to", v, true))
        .transpose()?;
    let account_id = body
        .account_id
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let mut room = admit(state, tenant)?;

    let stored = environments::settings(&state.db, tenant).await?;
    let current_rules = rules::all_for_env(&state.db, tenant)
        .await?
        .into_iter()
        .map(Rule::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a stored rule does not parse: {e}")))?;
    let current_settings = effective_settings(&state.settings, &stored.overrides);

    let (proposed_settings, proposed_rules) = match (&body.settings, &body.list, &body.pattern) {
        (Some(patch), None, None) => {
            let overrides = apply_patch(&stored.overrides, patch)?;
            let settings = effective_settings(&state.settings, &overrides);
            settings
                .validate()
                .map_err(|e| ApiError::field(format!("settings.{}", e.field), e.message))?;
            (settings, current_rules.clone())
        }
        (None, Some(list), Some(pattern)) => {
            if body.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
                return Err(ApiError::field("note", "at most 500 characters"));
            }
            let rule = Rule {
                id: "proposed".into(),
                list: *list,
                account_id: account_id.map(str::to_owned),
                field: body.field.unwrap_or_default(),
                match_kind: body.match_kind.unwrap_or_default(),
                pattern: pattern.clone(),
            };
            validate_rule(&rule).map_err(|e| ApiError::field(e.field, e.message))?;
            let mut rules = current_rules.clone();
            rules.push(rule);
            (current_settings.clone(), rules)
        }
        (Some(_), _, _) => {
            return Err(ApiError::field(
                "settings",
                "give either a rule or settings, not both",
            ));
        }
        (None, None, _) => return Err(ApiError::field("list", "is required (or give settings)")),
        (None, Some(_), None) => return Err(ApiError::field("pattern", "is required")),
    };
    let compile = |s, r: &[Rule]| {
        eligibility::CompiledPolicy::compile(s, r).map_err(|e| ApiError::field(e.field, e.message))
    };
    let before_policy = compile(&current_settings, &current_rules)?;
    let after_policy = compile(&proposed_settings, &proposed_rules)?;
    let currencies = accounts::currencies(&state.db, tenant).await?;

    let policies = Arc::new(Policies {
        before: before_policy,
        after: after_policy,
        currencies,
    });
    let scope = Arc::new(Scope {
        tenant: tenant.clone(),
        account_id: account_id.map(str::to_owned),
        from,
        to,
    });
    scan_and_decide(state, &mut room, scope, policies).await
}

/// Which stored transactions a preview decides.
struct Scope {
    tenant: Tenant,
    account_id: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Scope {
    /// The ledger's read of the scope, or of its rows within `pages`.
    fn scan(&self, pages: Option<std::ops::Range<u32>>) -> Scan<'_> {
        Scan {
            env_id: self.tenant.env_id,
            account_id: self.account_id.as_deref(),
            from: self.from,
            to: self.to,
            pages,
        }
    }
}

/// A range of the ledger's pages smaller than this is not worth a connection of its own.
const MIN_PAGES_PER_RANGE: i64 = 128;

/// Streams the scope's stored transactions to the deciders and adds up their answer. A scan
/// of the whole environment over a ledger large enough is split into ranges of the table's
/// pages, one per connection the permit can widen to, each read under the snapshot the first
/// exports, so the rows are exactly those one scan would read, in page order. A scan of one
/// account reads that account's index on one connection.
async fn scan_and_decide(
    state: &AppState,
    room: &mut PreviewPermit,
    scope: Arc<Scope>,
    policies: Arc<Policies>,
) -> Result<Preview, ApiError> {
    let timeout = state.settings.preview.statement_timeout;
    let mut first = ScanConnection::begin(&state.db).await?;
    ledger::set_local_statement_timeout(first.conn(), timeout).await?;
    let pages = ledger::ledger_pages(first.conn())
        .await
        .map_err(|e| scan_failed(e, timeout))?;
    let wanted = if scope.account_id.is_some() {
        1
    } else {
        let ranges =
            (pages / MIN_PAGES_PER_RANGE).clamp(1, i64::from(state.settings.preview.scan_connections));
        // The permit holds one connection already.
        1 + room.widen(u32::try_from(ranges - 1).unwrap_or(0))
    };
    let ranges = page_ranges(u32::try_from(pages).unwrap_or(u32::MAX), wanted);
    metrics::counter!("preview_scan_ranges_total").increment(ranges.len() as u64);

    let deciders = Deciders::start(policies);
    let scanned = if ranges.len() == 1 {
        feed(first.conn(), &scope.scan(None), 0, deciders.queue(), timeout).await
    } else {
        scan_ranges(state, first.conn(), &scope, ranges, &deciders, timeout).await
    };
    let out = deciders.finish().await;
    scanned?;
    let out = out?;
    // Nothing was written: the transaction only carried the snapshot and the timeout.
    first.finish().await?;
    Ok(out)
}

/// `count` ranges of about equal size over pages `[0, pages)`, the last one open to the end:
/// rows a snapshot sees never lie past the pages there were when it was taken, but the
/// table may have grown since.
fn page_ranges(pages: u32, count: u32) -> Vec<std::ops::Range<u32>> {
    let count = count.max(1);
    let bound = |i: u32| {
        if i == count {
            u32::MAX
        } else {
            u32::try_from(u64::from(pages) * u64::from(i) / u64::from(count)).unwrap_or(u32::MAX)
        }
    };
    (0..count).map(|i| bound(i)..bound(i + 1)).collect()
}

/// Reads the first range on `tx` (the snapshot's own transaction, kept open until every other
/// range is read, so the snapshot stays importable) and every other range on a connection of
/// its own that imports the snapshot, all at once; the first failure ends the others (their
/// tasks are aborted, their connections closed).
async fn scan_ranges(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    scope: &Arc<Scope>,
    ranges: Vec<std::ops::Range<u32>>,
    deciders: &Deciders,
    timeout: std::time::Duration,
) -> Result<(), ApiError> {
    let snapshot: Arc<str> = ledger::export_snapshot(tx).await?.into();
    let mut others = tokio::task::JoinSet::new();
    for (number, pages) in ranges.iter().cloned().enumerate().skip(1) {
        let pool = state.db.clone();
        let snapshot = Arc::clone(&snapshot);
        let scope = Arc::clone(scope);
        let queue = deciders.queue();
        others.spawn(async move {
            let mut scan = ScanConnection::begin(&pool).await?;
            ledger::import_snapshot(scan.conn(), &snapshot).await?;
            ledger::set_local_statement_timeout(scan.conn(), timeout).await?;
            feed(scan.conn(), &scope.scan(Some(pages)), number, queue, timeout).await?;
            scan.finish().await?;
            Ok::<(), ApiError>(())
        });
    }
    let first_range = scope.scan(Some(ranges[0].clone()));
    let first = feed(tx, &first_range, 0, deciders.queue(), timeout);
    let rest = async move {
        while let Some(done) = others.join_next().await {
            done.map_err(|e| ApiError::internal(anyhow::anyhow!("a preview scan failed: {e}")))??;
        }
        Ok(())
    };
    tokio::try_join!(first, rest).map(|_| ())
}

/// Streams `scan`, range `range` of the preview's scan, on `conn` and hands its rows to the
/// deciders in batches of whole rows, numbered in scan order.
async fn feed(
    conn: &mut sqlx::PgConnection,
    scan: &Scan<'_>,
    range: usize,
    queue: mpsc::Sender<Batch>,
    timeout: std::time::Duration,
) -> Result<(), ApiError> {
    let mut data = ledger::copy_engine_rows(conn, scan)
        .await
        .map_err(|e| scan_failed(e, timeout))?;
    let mut framer = Framer::default();
    let mut number = 0;
    while let Some(chunk) = data.next().await {
        framer
            .push(&chunk.map_err(|e| scan_failed(e, timeout))?)
            .map_err(malformed)?;
        if framer.ready() >= BATCH_BYTES {
            // The deciders gone means one panicked: `Deciders::finish` reports it.
            let _ = queue.send(((range, number), framer.take())).await;
            number += 1;
        }
    }
    framer.finish().map_err(malformed)?;
    if framer.ready() > 0 {
        let _ = queue.send(((range, number), framer.take())).await;
    }
    Ok(())
}

/// Bytes of rows per batch handed to a decider (about a thousand rows): large enough that
/// handing over costs nothing beside deciding, small enough that every decider has work until
/// the scan ends.
const BATCH_BYTES: usize = 192 * 1024;

fn malformed(e: Malformed) -> ApiError {
    ApiError::internal(anyhow::anyhow!(e))
}

/// What every decider reads: the two policies and the accounts' currencies.
struct Policies {
    before: eligibility::CompiledPolicy,
    after: eligibility::CompiledPolicy,
    currencies: HashMap<String, Option<String>>,
}

/// A batch's place in scan order (the range of the scan, then the batch within it) and its
/// rows, as COPY data ([`engine_rows::rows`]).
type Batch = ((usize, usize), Vec<u8>);

/// One decider per core, each on a blocking thread, taking the next batch from one queue
/// while the scans stream; each keeps its counts and, per batch, the first samples. Batches
/// are numbered in scan order, so the samples kept are those a single pass would have kept.
struct Deciders {
    queue: mpsc::Sender<Batch>,
    workers: Vec<tokio::task::JoinHandle<Partial>>,
}

impl Deciders {
    fn start(policies: Arc<Policies>) -> Deciders {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Two batches queued per decider keep them busy without holding the scan's rows in
        // memory.
        let (queue, receive) = mpsc::channel::<Batch>(2 * count);
        let receive = Arc::new(std::sync::Mutex::new(receive));
        let workers = (0..count)
            .map(|_| {
                let policies = Arc::clone(&policies);
                let receive = Arc::clone(&receive);
                tokio::task::spawn_blocking(move || {
                    let mut partial = Partial::default();
                    loop {
                        // One decider waits for the next batch at a time; the others wait
                        // their turn behind it.
                        let next = receive.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
                        let Some((number, rows)) = next else { break };
                        partial.decide_batch(&policies, number, rows);
                    }
                    partial
                })
            })
            .collect();
        Deciders { queue, workers }
    }

    /// Where a scan sends its batches.
    fn queue(&self) -> mpsc::Sender<Batch> {
        self.queue.clone()
    }

    /// Waits for every decider and adds up their counts; the first samples in scan order.
    async fn finish(self) -> Result<Preview, ApiError> {
        drop(self.queue);
        let mut out = Preview::default();
        let mut samples: Vec<((usize, usize), Vec<Sample>)> = Vec::new();
        for worker in self.workers {
            let partial = worker
                .await
                .map_err(|e| ApiError::internal(anyhow::anyhow!("a preview decider failed: {e}")))?;
            if let Some(e) = partial.malformed {
                return Err(malformed(e));
            }
            out.decided += partial.decided;
            out.skipped_without_transaction += partial.skipped_without_transaction;
            out.changed.to_draft += partial.changed.to_draft;
            out.changed.to_dlq += partial.changed.to_dlq;
            out.changed.to_skipped += partial.changed.to_skipped;
            samples.extend(partial.samples);
        }
        samples.sort_by_key(|(number, _)| *number);
        out.samples = samples
            .into_iter()
            .flat_map(|(_, batch)| batch)
            .take(MAX_SAMPLES)
            .collect();
        Ok(out)
    }
}

/// One decider's share of the answer.
struct Partial {
    decided: u64,
    skipped_without_transaction: u64,
    changed: Changed,
    /// The first samples of each batch, by batch number; only as many batches as needed for
    /// [`MAX_SAMPLES`] are kept.
    samples: Vec<((usize, usize), Vec<Sample>)>,
    /// The engine's transaction, refilled for each row that keeps the engine's fields: its
    /// strings keep their room from row to row.
    reused: eligibility::Transaction,
    /// A batch that did not parse: the preview fails.
    malformed: Option<Malformed>,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            decided: 0,
            skipped_without_transaction: 0,
            changed: Changed::default(),
            samples: Vec::new(),
            reused: eligibility::Transaction {
                id: String::new(),
                account_id: None,
                kind: TxType::Credit,
                amount: 0,
                currency: String::new(),
                narration: String::new(),
                description: None,
                tags: Vec::new(),
                reference: None,
                category: None,
                counterparty: None,
                date: None,
            },
            malformed: None,
        }
    }
}

/// Where a row's engine transaction is: [`Partial::reused`], or decoded from the JSON.
enum Input {
    Reused,
    Decoded(Box<eligibility::Transaction>),
}

impl Partial {
    fn decide_batch(&mut self, policies: &Policies, number: (usize, usize), batch: Vec<u8>) {
        let mut samples = Vec::new();
        for row in engine_rows::rows(&batch) {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    self.malformed.get_or_insert(e);
                    return;
                }
            };
            let decoded;
            let tx = match self.engine_input(policies, &row) {
                None => continue,
                Some(Input::Reused) => &self.reused,
                Some(Input::Decoded(tx)) => {
                    decoded = tx;
                    &*decoded
                }
            };
            let before = eligibility::decide(tx, &policies.before);
            let after = eligibility::decide(tx, &policies.after);
            if before.outcome == after.outcome {
                continue;
            }
            match after.outcome {
                Outcome::Draft if before.outcome != Outcome::Draft => self.changed.to_draft += 1,
                Outcome::Dlq if before.outcome != Outcome::Dlq => self.changed.to_dlq += 1,
                Outcome::Skipped if before.outcome != Outcome::Skipped => self.changed.to_skipped += 1,
                _ => {}
            }
            if samples.len() < MAX_SAMPLES {
                samples.push(Sample {
                    transaction_id: tx.id.clone(),
                    narration: tx.narration.clone(),
                    amount: tx.amount,
                    before: Verdict {
                        outcome: before.outcome,
                        reason: before.reason.as_str().to_owned(),
                    },
                    after: Verdict {
                        outcome: after.outcome,
                        reason: after.reason.as_str().to_owned(),
                    },
                });
            }
        }
        if samples.is_empty() {
            return;
        }
        let at = self.samples.partition_point(|(n, _)| *n < number);
        self.samples.insert(at, (number, samples));
        // Batches past those that already hold MAX_SAMPLES samples can never contribute.
        let mut held = 0;
        let keep = self
            .samples
            .iter()
            .position(|(_, batch)| {
                held += batch.len();
                held >= MAX_SAMPLES
            })
            .map_or(self.samples.len(), |at| at + 1);
        self.samples.truncate(keep);
    }

    /// The engine's transaction for a stored row, counting it as decided; None when there is
    /// nothing to compare (no JSON kept, malformed as stored, a zero amount).
    fn engine_input(&mut self, policies: &Policies, row: &EngineRow<'_>) -> Option<Input> {
        if !row.kept {
            self.skipped_without_transaction += 1;
            return None;
        }
        let currency = || policies.currencies.get(row.account_id).and_then(|c| c.as_deref());
        match row.credit {
            Some(credit) => {
                self.decided += 1;
                fill_from_columns(&mut self.reused, row, credit, currency);
                (self.reused.amount != 0).then_some(Input::Reused)
            }
            None => {
                let raw = RawValue::from_string(row.raw?.to_owned()).ok()?;
                // Malformed as stored: it stays in the DLQ under any policy.
                let decoded = RawTransaction::decode(raw).decoded;
                self.decided += 1;
                let tx = into_engine(row.account_id, currency(), decoded.ok()?);
                (tx.amount != 0).then(|| Input::Decoded(Box::new(tx)))
            }
        }
    }
}

/// Writes into `tx` the engine's transaction from the fields the ledger keeps beside the JSON:
/// what `into_engine` makes of the decoded JSON (the account's currency when the transaction
/// has none, the amount's magnitude). Only strings the row holds and `tx` had no room for are
/// allocated.
fn fill_from_columns<'a>(
    tx: &mut eligibility::Transaction,
    row: &EngineRow<'a>,
    credit: bool,
    account_currency: impl FnOnce() -> Option<&'a str>,
) {
    fn set(slot: &mut String, value: &str) {
        slot.clear();
        slot.push_str(value);
    }
    fn set_some(slot: &mut Option<String>, value: Option<&str>) {
        match (slot.as_mut(), value) {
            (Some(held), Some(value)) => set(held, value),
            (None, Some(value)) => *slot = Some(value.to_owned()),
            (_, None) => *slot = None,
        }
    }
    set(&mut tx.id, row.transaction_id);
    set_some(&mut tx.account_id, Some(row.account_id));
    tx.kind = if credit { TxType::Credit } else { TxType::Debit };
    tx.amount = row.amount.unwrap_or_default().saturating_abs();
    set(
        &mut tx.currency,
        row.currency.or_else(account_currency).unwrap_or_default(),
    );
    set(&mut tx.narration, row.narration.unwrap_or_default());
    set_some(&mut tx.description, row.description);
    tx.tags.clear();
    set_some(&mut tx.reference, row.reference);
    tx.category = None;
    tx.date = None;
    let any = row.counterparty_name.is_some()
        || row.counterparty_account.is_some()
        || row.counterparty_bank.is_some();
    if any {
        let counterparty = tx.counterparty.get_or_insert_with(Default::default);
        set_some(&mut counterparty.name, row.counterparty_name);
        set_some(&mut counterparty.account_number, row.counterparty_account);
        set_some(&mut counterparty.bank, row.counterparty_bank);
    } else {
        tx.counterparty = None;
    }
}

/// Room for one more preview of the tenant's environment, and its first connection, in this
/// replica, or 429.
fn admit(state: &AppState, tenant: &Tenant) -> Result<PreviewPermit, ApiError> {
    state.previews.try_acquire(tenant.env_id).map_err(|full| {
        metrics::counter!("preview_refused_total", "bound" => full.as_str()).increment(1);
        let limits = &state.settings.preview;
        let message = match full {
            crate::runtime::preview_limiter::PreviewRefused::Environment => format!(
                "{} previews of this environment are running, the most at once; retry after the time in Retry-After",
                limits.per_env
            ),
            crate::runtime::preview_limiter::PreviewRefused::Replica => format!(
                "the previews running on this server hold {} database connections, the most at once; retry after the time in Retry-After",
                limits.total
            ),
        };
        ApiError::RateLimited {
            message,
            retry_after_secs: RETRY_AFTER_SECS,
        }
    })
}

/// The scan's failure: 422 `preview_too_large` when it ran past its statement timeout.
fn scan_failed(err: sqlx::Error, timeout: std::time::Duration) -> ApiError {
    if ledger::is_statement_timeout(&err) {
        metrics::counter!("preview_timeouts_total").increment(1);
        return ApiError::Unprocessable {
            code: "preview_too_large",
            message: format!(
                "the preview's scan of the stored transactions ran past {} ms; narrow it with accountId, from or to",
                timeout.as_millis()
            ),
        };
    }
    err.into()
}
