//! Fills one environment with a synced history, as many years of syncs would have left it:
//! linked accounts, their ledger transactions with what each produced (an eligibility event
//! for every one, a DRAFT invoice or a DLQ record with its `invoice_failed` event), the buyer
//! directory the drafts are matched with, and the finished sync jobs that wrote them.
//!
//! Every transaction is one of the sandbox's generated histories (`sandbox::data::History`:
//! Nigerian business narrations, amounts and dates), given a counterparty (often one of the
//! buyers) and a reference for part of the credits, then decided by the service's own decision
//! path (`services::sync::decide::decide_item` under the environment's policy as
//! `services::settings::load_policy` compiles it). The rows are the columns the sync's page
//! statement (`db::ledger::write_page`) and the buyer prefill (`db::buyers::prefill_drafts`)
//! write, written with COPY in one transaction per slice of the history, oldest slice first
//! (so ids, `created_at` and the physical order of rows grow together, as they do in use).
//!
//! What a person does with the drafts over time is part of a history too: drafts older than
//! two weeks are partly confirmed or discarded, DLQ records older than a month partly
//! dismissed. Nothing is signed (a signature is the service's seal over an MBS submission).
//! Every reference is unique and names no invoice, so nothing reconciles; no counterparty is
//! one of the organization's own accounts, so no transfer pairs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mono::{Counterparty, MonoTransaction, RawTransaction, TransactionType};
use sandbox::data::{hash_str, mix, History, SplitMix64};
use sqlx::{Connection, PgPool};
use taxpoynt_mono::services::buyers::{normalise_account, normalise_name};
use taxpoynt_mono::services::settings::load_policy;
use taxpoynt_mono::services::sync::decide::decide_item;
use taxpoynt_mono::state::AppState;
use taxpoynt_mono::tenancy::{EnvName, Tenant};
use uuid::Uuid;

/// What to write.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Ledger transactions, spread evenly over the accounts.
    pub rows: u64,
    /// Linked accounts of the environment (existing ones are reused, missing ones made).
    pub accounts: usize,
    /// Days of history, ending now.
    pub days: u32,
    /// Transactions per account in one slice (one COPY transaction covers every account).
    pub slice: usize,
    /// Buyers in the directory of a fresh organization.
    pub buyers: usize,
    /// Concurrent writing connections.
    pub writers: usize,
    /// Print progress every this often; None: quiet.
    pub progress: Option<Duration>,
    /// VACUUM the tables at the end (as autovacuum has, over the years a history takes),
    /// besides the ANALYZE every bulk write ends with.
    pub vacuum: bool,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            rows: 10_000_000,
            accounts: 500,
            days: 3 * 365,
            slice: 40,
            buyers: 2_000,
            writers: 2,
            progress: Some(Duration::from_secs(10)),
            vacuum: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub ledger: u64,
    pub events: u64,
    pub invoices: u64,
    pub dlq: u64,
    pub monitoring: u64,
    pub jobs: u64,
    pub elapsed: Duration,
}

impl SeedReport {
    /// Rows of every table.
    pub fn rows(&self) -> u64 {
        self.ledger + self.events + self.invoices + self.dlq + self.monitoring + self.jobs
    }
}

/// One buyer of the directory, as transactions name it.
#[derive(Debug, Clone)]
struct Buyer {
    id: Uuid,
    name: String,
    tin: Option<String>,
    email: Option<String>,
    account_number: Option<String>,
}

/// The environment of the organization with the most linked accounts (the seeded one).
pub async fn seeded_environment(pool: &PgPool) -> anyhow::Result<Option<(Uuid, Uuid)>> {
    Ok(sqlx::query_as::<_, (Uuid, Uuid)>(
        "SELECT org_id, env_id FROM mono_accounts GROUP BY org_id, env_id ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?)
}

/// The tenant a seed writes for (the environment's own name).
pub async fn tenant_of(pool: &PgPool, org_id: Uuid, env_id: Uuid) -> anyhow::Result<Tenant> {
    let name: String = sqlx::query_scalar("SELECT name FROM environments WHERE id = $1 AND org_id = $2")
        .bind(env_id)
        .bind(org_id)
        .fetch_one(pool)
        .await?;
    let env = EnvName::parse(&name).ok_or_else(|| anyhow::anyhow!("environment name {name}"))?;
    Ok(Tenant::system(org_id, env_id, env))
}

/// Writes `opts.rows` transactions into the tenant's environment (see the module docs).
pub async fn seed(state: &AppState, tenant: &Tenant, opts: &SeedOptions) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let pool = &state.db;
    let policy = load_policy(state, tenant)
        .await
        .map_err(|e| anyhow::anyhow!("loading the policy: {e:?}"))?;
    let accounts = ensure_accounts(pool, tenant, opts.accounts, opts.days).await?;
    let buyers = Arc::new(ensure_buyers(pool, tenant, opts.buyers).await?);
    let first_number: i64 = sqlx::query_scalar(
        "INSERT INTO invoice_counters AS c (org_id, next) VALUES ($1, 1)
         ON CONFLICT (org_id) DO UPDATE SET next = c.next RETURNING next",
    )
    .bind(tenant.org_id)
    .fetch_one(pool)
    .await?;
    let per_account = (opts.rows as usize).div_ceil(accounts.len().max(1));
    // A fresh salt per run: a second seed of the same accounts makes new transaction ids.
    let salt: u64 = rand::random();
    let now = Utc::now();
    let histories: Vec<History> = accounts
        .iter()
        .map(|a| {
            History::new(
                &format!("{a}/{salt:x}"),
                mix(salt, hash_str(a)),
                per_account,
                now,
                opts.days,
                "NGN",
                true,
            )
        })
        .collect();

    let (send, recv) = tokio::sync::mpsc::channel::<Batch>(opts.writers * 2);
    let gen = Generator {
        tenant: tenant.clone(),
        policy,
        accounts: accounts.clone(),
        histories,
        buyers,
        now,
        salt,
        next_number: first_number,
        total: opts.rows,
    };
    let slice = opts.slice.max(1);
    let producer = tokio::task::spawn_blocking(move || gen.run(slice, per_account, send));
    let recv = Arc::new(tokio::sync::Mutex::new(recv));
    let written = Arc::new(Counters::default());
    let mut writers = Vec::new();
    for _ in 0..opts.writers.max(1) {
        let recv = recv.clone();
        let written = written.clone();
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            loop {
                let batch = { recv.lock().await.recv().await };
                let Some(batch) = batch else { break };
                write_batch(&mut conn, &batch).await?;
                written.add(&batch);
            }
            anyhow::Ok(())
        }));
    }
    let ticker = opts.progress.map(|every| {
        let written = written.clone();
        let total = opts.rows;
        tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64, 0u64);
            loop {
                tokio::time::sleep(every).await;
                let (ledger, all) = (written.ledger.load(Ordering::Relaxed), written.all());
                let secs = last.0.elapsed().as_secs_f64();
                println!(
                    "  {ledger:>11} / {total} transactions ({:.0}%), {:.0} transactions/s, {:.0} rows/s (all tables)",
                    ledger as f64 * 100.0 / total.max(1) as f64,
                    (ledger - last.1) as f64 / secs,
                    (all - last.2) as f64 / secs
                );
                last = (Instant::now(), ledger, all);
            }
        })
    });
    let next_number = producer.await??;
    for w in writers {
        w.await??;
    }
    if let Some(t) = ticker {
        t.abort();
    }
    sqlx::query("UPDATE invoice_counters SET next = greatest(next, $2) WHERE org_id = $1")
        .bind(tenant.org_id)
        .bind(next_number)
        .execute(pool)
        .await?;
    sqlx::query("UPDATE mono_accounts SET last_synced_at = $3 WHERE env_id = $1 AND org_id = $2")
        .bind(tenant.env_id)
        .bind(tenant.org_id)
        .bind(now)
        .execute(pool)
        .await?;
    // The invoice counts of the buyer directory, as the worker folds them every second.
    taxpoynt_mono::db::buyers::settle_invoice_counts(pool).await?;
    // A bulk write leaves the planner's statistics of these tables behind by millions of
    // rows; what a sync of this size does too (`db::stats`).
    taxpoynt_mono::db::stats::analyze_written(pool).await?;
    sqlx::query("ANALYZE buyers, buyer_match_keys, buyer_invoice_counts")
        .execute(pool)
        .await?;
    if opts.vacuum {
        sqlx::query(
            "VACUUM mono_transactions, eligibility_events, invoices, dlq_records, monitoring_events, jobs, \
             buyers, buyer_match_keys, buyer_invoice_counts, buyer_invoice_deltas",
        )
        .execute(pool)
        .await?;
    }
    Ok(SeedReport {
        ledger: written.ledger.load(Ordering::Relaxed),
        events: written.events.load(Ordering::Relaxed),
        invoices: written.invoices.load(Ordering::Relaxed),
        dlq: written.dlq.load(Ordering::Relaxed),
        monitoring: written.monitoring.load(Ordering::Relaxed),
        jobs: written.jobs.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

/// The environment's linked accounts, oldest first, `n` of them (made as a link would).
async fn ensure_accounts(pool: &PgPool, tenant: &Tenant, n: usize, days: u32) -> anyhow::Result<Vec<String>> {
    let mut ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM mono_accounts WHERE env_id = $1 AND org_id = $2 AND unlinked_at IS NULL
         ORDER BY linked_at, id",
    )
    .bind(tenant.env_id)
    .bind(tenant.org_id)
    .fetch_all(pool)
    .await?;
    const BANKS: &[(&str, &str)] = &[
        ("GTBank", "058"),
        ("Access Bank", "044"),
        ("Zenith Bank", "057"),
        ("First Bank of Nigeria", "011"),
        ("United Bank for Africa", "033"),
        ("Stanbic IBTC", "221"),
        ("Fidelity Bank", "070"),
        ("Moniepoint MFB", "50515"),
    ];
    let salt: u64 = rand::random();
    let linked_from = Utc::now() - chrono::Duration::days(i64::from(days) + 1);
    while ids.len() < n {
        let k = ids.len() as u64;
        let mut rng = SplitMix64::new(mix(salt, k));
        let id = format!("{:016x}{:08x}", rng.next_u64(), rng.next_u64() as u32);
        let (bank, code) = *rng.pick(BANKS);
        sqlx::query(
            "INSERT INTO mono_accounts (id, org_id, env_id, name, account_number, currency, type, balance,
                 institution_name, bank_code, institution_type, customer_id, data_status, auth_method,
                 linked_at, details_fetched_at, retrieved_data, link_ref)
             VALUES ($1, $2, $3, $4, $5, 'NGN', 'Current', $6, $7, $8, 'BUSINESS_BANKING', $9, 'AVAILABLE',
                     'internet_banking', $10, $10, ARRAY['transactions', 'balance'], NULL)",
        )
        .bind(&id)
        .bind(tenant.org_id)
        .bind(tenant.env_id)
        .bind(format!(
            "{} {}",
            company_name(&mut rng),
            rng.pick(&["Operations", "Collections", "Payroll", "Main"])
        ))
        .bind(format!("{:010}", rng.below(10_000_000_000)))
        .bind(rng.below(50_000_000_000) as i64)
        .bind(bank)
        .bind(code)
        .bind(format!(
            "{:024x}",
            u128::from(rng.next_u64()) << 32 | u128::from(rng.next_u64() as u32)
        ))
        .bind(linked_from + chrono::Duration::seconds(k as i64))
        .execute(pool)
        .await?;
        ids.push(id);
    }
    ids.truncate(n);
    Ok(ids)
}

/// The organization's buyers with the keys that match them; a fresh directory of `n` when it
/// has none.
async fn ensure_buyers(pool: &PgPool, tenant: &Tenant, n: usize) -> anyhow::Result<Vec<Buyer>> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM buyers WHERE org_id = $1")
        .bind(tenant.org_id)
        .fetch_one(pool)
        .await?;
    if have == 0 {
        let mut rng = SplitMix64::new(rand::random());
        let mut tx = pool.begin().await?;
        let mut seen = std::collections::HashSet::new();
        let mut made = 0;
        while made < n {
            let name = company_name(&mut rng);
            if !seen.insert(normalise_name(&name)) {
                continue;
            }
            let id = Uuid::new_v4();
            let tin = rng
                .chance(0.6)
                .then(|| format!("{:08}-0001", rng.below(100_000_000)));
            let email = rng.chance(0.5).then(|| {
                format!(
                    "accounts@{}.ng",
                    normalise_name(&name).replace(' ', "").to_lowercase()
                )
            });
            sqlx::query("INSERT INTO buyers (id, org_id, name, tin, email) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(tenant.org_id)
                .bind(&name)
                .bind(&tin)
                .bind(&email)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO buyer_match_keys (org_id, kind, match_key, buyer_id) VALUES ($1, 'name', $2, $3)")
                .bind(tenant.org_id)
                .bind(normalise_name(&name))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if rng.chance(0.5) {
                let number = format!("{:010}", rng.below(10_000_000_000));
                if let Some(key) = normalise_account(&number) {
                    sqlx::query(
                        "INSERT INTO buyer_match_keys (org_id, kind, match_key, buyer_id) VALUES ($1, 'account', $2, $3)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(tenant.org_id)
                    .bind(key)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            made += 1;
        }
        tx.commit().await?;
    }
    let rows = sqlx::query_as::<_, (Uuid, String, Option<String>, Option<String>, Option<String>)>(
        "SELECT b.id, b.name, b.tin, b.email,
                (SELECT min(k.match_key) FROM buyer_match_keys k
                 WHERE k.org_id = b.org_id AND k.buyer_id = b.id AND k.kind = 'account')
         FROM buyers b WHERE b.org_id = $1 ORDER BY b.id",
    )
    .bind(tenant.org_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, tin, email, account_number)| Buyer {
            id,
            name,
            tin,
            email,
            account_number,
        })
        .collect())
}

fn company_name(rng: &mut SplitMix64) -> String {
    const FIRST: &[&str] = &[
        "Adebayo",
        "Chukwu",
        "Okafor",
        "Balogun",
        "Eze",
        "Ibrahim",
        "Lagos",
        "Abuja",
        "Niger",
        "Delta",
        "Sunrise",
        "Golden",
        "Royal",
        "Prime",
        "Unity",
        "Heritage",
        "Crystal",
        "Apex",
        "Zenith",
        "Emerald",
        "Bola",
        "Kemi",
        "Tunde",
        "Ngozi",
        "Musa",
        "Sahel",
        "Atlantic",
        "Harmattan",
        "Oasis",
        "Pinnacle",
    ];
    const SECOND: &[&str] = &[
        "Stores",
        "Foods",
        "Logistics",
        "Pharmacy",
        "Builders",
        "Motors",
        "Textiles",
        "Agro",
        "Energy",
        "Printing",
        "Hotels",
        "Supplies",
        "Technologies",
        "Farms",
        "Fashion",
        "Electricals",
        "Ventures",
        "Paints",
        "Plastics",
        "Media",
        "Travels",
        "Clinic",
        "Bakery",
        "Cement Depot",
        "Water",
    ];
    const SUFFIX: &[&str] = &[
        "Ltd",
        "Limited",
        "Enterprises",
        "& Sons",
        "Nigeria Ltd",
        "Global",
        "Plc",
        "Co",
    ];
    format!(
        "{} {} {} {}",
        rng.pick(FIRST),
        rng.pick(FIRST),
        rng.pick(SECOND),
        rng.pick(SUFFIX)
    )
}

#[derive(Default)]
struct Counters {
    ledger: AtomicU64,
    events: AtomicU64,
    invoices: AtomicU64,
    dlq: AtomicU64,
    monitoring: AtomicU64,
    jobs: AtomicU64,
}

impl Counters {
    fn add(&self, b: &Batch) {
        self.ledger.fetch_add(b.ledger_rows, Ordering::Relaxed);
        self.events.fetch_add(b.ledger_rows, Ordering::Relaxed);
        self.invoices.fetch_add(b.invoice_rows, Ordering::Relaxed);
        self.dlq.fetch_add(b.dlq_rows, Ordering::Relaxed);
        self.monitoring.fetch_add(b.dlq_rows, Ordering::Relaxed);
        self.jobs.fetch_add(b.job_rows, Ordering::Relaxed);
    }

    fn all(&self) -> u64 {
        [
            &self.ledger,
            &self.events,
            &self.invoices,
            &self.dlq,
            &self.monitoring,
            &self.jobs,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// One slice of the history as COPY text, table by table.
#[derive(Default)]
struct Batch {
    ledger: String,
    events: String,
    invoices: String,
    dlq: String,
    monitoring: String,
    jobs: String,
    ledger_rows: u64,
    invoice_rows: u64,
    dlq_rows: u64,
    job_rows: u64,
}

const LEDGER_COPY: &str =
    "COPY mono_transactions (env_id, account_id, transaction_id, outcome, reason, transaction, \
     tx_date, credit, amount, currency, narration, description, reference, counterparty_name, \
     counterparty_account, counterparty_bank, created_at) FROM STDIN";
const EVENTS_COPY: &str =
    "COPY eligibility_events (org_id, env_id, account_id, transaction_id, outcome, reason, \
     detail, amount, currency, narration, reference, source, trace_id, created_at) FROM STDIN";
const INVOICES_COPY: &str = "COPY invoices (id, org_id, env_id, status, source, kind, account_id, transaction_id, \
     amount, currency, reference, counterparty, narration, description, transaction_date, reason, rule_id, trace_id, \
     keywords, invoice_number, buyer_id, buyer, buyer_name, created_at, updated_at) FROM STDIN";
const DLQ_COPY: &str = "COPY dlq_records (id, org_id, env_id, account_id, transaction_id, reason, detail, \
     transaction, source, trace_id, amount, currency, narration, reference, rule_id, keywords, policy_version, \
     status, resolution, resolved_at, created_at) FROM STDIN";
const MONITORING_COPY: &str =
    "COPY monitoring_events (org_id, env_id, kind, account_id, transaction_id, reason, \
     detail, trace_id, created_at) FROM STDIN";
const JOBS_COPY: &str = "COPY jobs (id, kind, lane, payload, org_id, env_id, dedupe_key, status, run_after, \
     attempts, progress, created_at, updated_at, finished_at) FROM STDIN";

/// One slice in one transaction, as a sync commits a page.
async fn write_batch(conn: &mut sqlx::PgConnection, b: &Batch) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    for (statement, data) in [
        (LEDGER_COPY, &b.ledger),
        (EVENTS_COPY, &b.events),
        (INVOICES_COPY, &b.invoices),
        (DLQ_COPY, &b.dlq),
        (MONITORING_COPY, &b.monitoring),
        (JOBS_COPY, &b.jobs),
    ] {
        if data.is_empty() {
            continue;
        }
        let mut copy = tx.copy_in_raw(statement).await?;
        copy.send(data.as_bytes()).await?;
        copy.finish().await?;
    }
    tx.commit().await?;
    Ok(())
}

struct Generator {
    tenant: Tenant,
    policy: Arc<taxpoynt_mono::runtime::policy_cache::LoadedPolicy>,
    accounts: Vec<String>,
    histories: Vec<History>,
    buyers: Arc<Vec<Buyer>>,
    now: DateTime<Utc>,
    salt: u64,
    next_number: i64,
    total: u64,
}

impl Generator {
    /// Makes every slice and hands it to the writers; answers the next free invoice number.
    fn run(
        mut self,
        slice: usize,
        per_account: usize,
        send: tokio::sync::mpsc::Sender<Batch>,
    ) -> anyhow::Result<i64> {
        let buyer_keys: HashMap<String, usize> = self
            .buyers
            .iter()
            .enumerate()
            .map(|(i, b)| (normalise_name(&b.name), i))
            .collect();
        let mut made = 0u64;
        let mut start = 0;
        while start < per_account && made < self.total {
            let end = (start + slice).min(per_account);
            let mut batch = Batch::default();
            for a in 0..self.accounts.len() {
                if made >= self.total {
                    break;
                }
                let take = ((self.total - made) as usize).min(end - start);
                let txs = self.histories[a].transactions(start..start + take);
                made += txs.len() as u64;
                self.account_slice(&mut batch, a, txs, &buyer_keys)?;
            }
            start = end;
            if send.blocking_send(batch).is_err() {
                anyhow::bail!("the writers stopped");
            }
        }
        Ok(self.next_number)
    }

    fn account_slice(
        &mut self,
        b: &mut Batch,
        a: usize,
        txs: Vec<MonoTransaction>,
        buyer_keys: &HashMap<String, usize>,
    ) -> anyhow::Result<()> {
        let Some(last) = txs.last() else { return Ok(()) };
        let account = self.accounts[a].clone();
        let t = &self.tenant;
        // The sync that brought the slice: a while after its newest transaction.
        let synced_at = (last.date + chrono::Duration::minutes(5 + (mix(self.salt, a as u64) % 240) as i64))
            .min(self.now);
        let trace = format!(
            "{:016x}{:016x}",
            mix(self.salt, hash_str(&last.id)),
            mix(a as u64, hash_str(&last.id))
        );
        let mut fetched = 0u64;
        let mut drafted = 0u64;
        for mut tx in txs {
            let mut rng = SplitMix64::new(mix(self.salt ^ 0x5eed, hash_str(&tx.id)));
            if tx.kind == TransactionType::Credit {
                if rng.chance(0.7) {
                    // A skewed pick: a few buyers pay often, most rarely.
                    let n = self.buyers.len().max(1) as f64;
                    let i = ((rng.unit().powi(3)) * n) as usize;
                    if let Some(buyer) = self.buyers.get(i) {
                        tx.counterparty = Some(Counterparty {
                            name: Some(buyer.name.to_uppercase()),
                            account_number: buyer.account_number.clone().filter(|_| rng.chance(0.8)),
                            bank: None,
                        });
                    }
                }
                if rng.chance(0.35) {
                    tx.reference = Some(format!("TRF/{}/{}", &account[..6], tx.id));
                }
            }
            let created_at = (tx.date + chrono::Duration::minutes(1 + (rng.below(180)) as i64))
                .max(synced_at - chrono::Duration::days(3))
                .min(self.now);
            let raw = serde_json::value::to_raw_value(&tx)?;
            // What the ledger keeps beside the JSON for the rule preview, as a sync writes it.
            let kept = tx.clone();
            let item = RawTransaction { raw, decoded: Ok(tx) };
            let Some(row) = decide_item(&self.policy.compiled, &account, Some("NGN"), item) else {
                continue;
            };
            fetched += 1;
            let outcome = row.outcome.as_str();
            let reason = row.reason.as_str();
            let keywords = pg_array(&row.keywords);
            // Ledger.
            let l = &mut b.ledger;
            field(l, &t.env_id.to_string());
            field(l, &account);
            field(l, &row.transaction_id);
            field(l, outcome);
            field(l, reason);
            field(l, row.raw.get());
            opt_ts(l, row.date);
            field(
                l,
                if kept.kind == TransactionType::Credit {
                    "t"
                } else {
                    "f"
                },
            );
            field(l, &kept.amount.to_string());
            opt(l, kept.currency.as_deref());
            field(l, &kept.narration);
            opt(l, kept.description.as_deref());
            opt(l, kept.reference.as_deref());
            let counterparty = kept.counterparty.as_ref();
            opt(l, counterparty.and_then(|c| c.name.as_deref()));
            opt(l, counterparty.and_then(|c| c.account_number.as_deref()));
            opt(l, counterparty.and_then(|c| c.bank.as_deref()));
            last_field(l, &ts(created_at));
            b.ledger_rows += 1;
            // Eligibility event.
            let e = &mut b.events;
            field(e, &t.org_id.to_string());
            field(e, &t.env_id.to_string());
            field(e, &account);
            field(e, &row.transaction_id);
            field(e, outcome);
            field(e, reason);
            opt(e, row.detail.as_deref());
            field(e, &row.amount.to_string());
            field(e, &row.currency);
            field(e, &row.narration);
            opt(e, row.reference.as_deref());
            field(e, "sync");
            field(e, &trace);
            last_field(e, &ts(created_at));
            match row.outcome {
                eligibility::Outcome::Draft => {
                    drafted += 1;
                    let age = self.now - created_at;
                    let (status, updated) = if age > chrono::Duration::days(14) {
                        match rng.below(100) {
                            0..=64 => ("DRAFT", created_at),
                            65..=89 => ("CONFIRMED", created_at + chrono::Duration::days(1)),
                            _ => ("DISCARDED", created_at + chrono::Duration::days(2)),
                        }
                    } else {
                        ("DRAFT", created_at)
                    };
                    let buyer = row
                        .counterparty
                        .as_deref()
                        .and_then(|c| buyer_keys.get(&normalise_name(c)))
                        .map(|&i| &self.buyers[i]);
                    let i = &mut b.invoices;
                    field(i, &Uuid::new_v4().to_string());
                    field(i, &t.org_id.to_string());
                    field(i, &t.env_id.to_string());
                    field(i, status);
                    field(i, "mono");
                    field(i, row.kind.map_or("invoice", |k| k.as_str()));
                    field(i, &account);
                    field(i, &row.transaction_id);
                    field(i, &row.amount.to_string());
                    field(i, &row.currency);
                    opt(i, row.reference.as_deref());
                    opt(i, row.counterparty.as_deref());
                    field(i, &row.narration);
                    opt(i, row.description.as_deref());
                    opt_ts(i, row.date);
                    field(i, reason);
                    opt(i, row.rule_id.as_deref());
                    field(i, &trace);
                    field(i, &keywords);
                    field(i, &format_invoice_number(self.next_number));
                    self.next_number += 1;
                    match buyer {
                        Some(buyer) => {
                            let mut json = serde_json::Map::new();
                            json.insert("id".into(), buyer.id.to_string().into());
                            json.insert("name".into(), buyer.name.clone().into());
                            if let Some(tin) = &buyer.tin {
                                json.insert("tin".into(), tin.clone().into());
                            }
                            if let Some(email) = &buyer.email {
                                json.insert("email".into(), email.clone().into());
                            }
                            field(i, &buyer.id.to_string());
                            field(i, &serde_json::Value::Object(json).to_string());
                            field(i, &buyer.name);
                        }
                        None => {
                            opt(i, None);
                            opt(i, None);
                            opt(i, None);
                        }
                    }
                    field(i, &ts(created_at));
                    last_field(i, &ts(updated));
                    b.invoice_rows += 1;
                }
                eligibility::Outcome::Dlq => {
                    let age = self.now - created_at;
                    let dismissed = age > chrono::Duration::days(30) && rng.chance(0.4);
                    let d = &mut b.dlq;
                    field(d, &Uuid::new_v4().to_string());
                    field(d, &t.org_id.to_string());
                    field(d, &t.env_id.to_string());
                    field(d, &account);
                    field(d, &row.transaction_id);
                    field(d, reason);
                    opt(d, row.detail.as_deref());
                    field(d, row.raw.get());
                    field(d, "sync");
                    field(d, &trace);
                    field(d, &row.amount.to_string());
                    field(d, &row.currency);
                    field(d, &row.narration);
                    opt(d, row.reference.as_deref());
                    opt(d, row.rule_id.as_deref());
                    field(d, &keywords);
                    field(d, &self.policy.version);
                    if dismissed {
                        field(d, "resolved");
                        field(d, "dismissed");
                        field(d, &ts(created_at + chrono::Duration::days(2)));
                    } else {
                        field(d, "open");
                        opt(d, None);
                        opt(d, None);
                    }
                    last_field(d, &ts(created_at));
                    b.dlq_rows += 1;
                    let m = &mut b.monitoring;
                    field(m, &t.org_id.to_string());
                    field(m, &t.env_id.to_string());
                    field(m, "invoice_failed");
                    field(m, &account);
                    field(m, &row.transaction_id);
                    field(m, reason);
                    opt(m, row.detail.as_deref());
                    field(m, &trace);
                    last_field(m, &ts(created_at));
                }
                eligibility::Outcome::Skipped => {}
            }
        }
        // The finished sync job that wrote the slice.
        let j = &mut b.jobs;
        let started = synced_at - chrono::Duration::seconds(2);
        field(j, &Uuid::new_v4().to_string());
        field(j, "sync");
        field(j, "sync");
        field(j, &serde_json::json!({"accountId": account}).to_string());
        field(j, &t.org_id.to_string());
        field(j, &t.env_id.to_string());
        field(j, &format!("sync:{}:{}", t.env_id, account));
        field(j, "done");
        field(j, &ts(started));
        field(j, "1");
        field(
            j,
            &serde_json::json!({"fetched": fetched, "drafted": drafted}).to_string(),
        );
        field(j, &ts(started));
        field(j, &ts(synced_at));
        last_field(j, &ts(synced_at));
        b.job_rows += 1;
        Ok(())
    }
}

/// `db`'s `format_invoice_number`: INV and six digits, more when it takes more.
fn format_invoice_number(n: i64) -> String {
    if n < 1_000_000 {
        format!("INV{n:06}")
    } else {
        format!("INV{n}")
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

/// A text[] literal, every element quoted.
fn pg_array(items: &[String]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// A value in COPY's text format, then the column separator.
fn field(out: &mut String, value: &str) {
    escape(out, value);
    out.push('\t');
}

fn last_field(out: &mut String, value: &str) {
    escape(out, value);
    out.push('\n');
}

fn opt(out: &mut String, value: Option<&str>) {
    match value {
        Some(v) => field(out, v),
        None => out.push_str("\\N\t"),
    }
}

fn opt_ts(out: &mut String, value: Option<DateTime<Utc>>) {
    match value {
        Some(v) => field(out, &ts(v)),
        None => out.push_str("\\N\t"),
    }
}

fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}
