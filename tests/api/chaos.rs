//! The chaos run: two replicas of the binary on one PostgreSQL server of the test's own, under
//! a mixed load for a fixed time, while a random replica is killed (SIGKILL) and started again
//! every few seconds and the server is crash-restarted once. The load:
//! - signed webhook deliveries (`transaction.updated` / `transaction.settled`) of transactions
//!   also added to the Mono sandbox, each sent twice (copies) to random replicas, and sent
//!   again until answered 2xx, as Mono does;
//! - syncs of 50 accounts (one account at a time and sync-stored), with the sandbox failing
//!   10% of Mono calls with 503 and adding latency spikes;
//! - rule changes (allow and deny rules added and deleted) and DLQ replays, single and bulk;
//! - invoices confirmed, validated and signed at the MBS sandbox, one at a time and in bulk,
//!   with sign answers dropped after MBS stored the invoice.
//!
//! Then the load stops, the faults are cleared, one last sync-stored runs, the queues drain,
//! and the run checks (and prints):
//! - every delivery answered 2xx is stored once and processed;
//! - every transaction the sandbox holds is in the ledger once and was decided once (one
//!   sync-or-webhook eligibility event each), and no reference has two invoices;
//! - no invoice was sent to MBS's `sign` twice, and every invoice MBS stored is SIGNED here;
//! - the Mono and MBS request budgets held in every second (the sandboxes' counts);
//! - no job is left running or leased, and no submission unsettled.
//!
//! The default suite runs it for 25 s of load; `TPM_CHAOS_SECS=600 bash scripts/chaos.sh` runs
//! a long one (`TPM_CHAOS_SEED` replays a run's random choices, which the run prints).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;
use sandbox::mbs::faults::{FaultKind, FaultSpec};

const ACCOUNTS: usize = 50;
const MONO_MAX_RPS: u64 = 20;
const MBS_MAX_RPS: u64 = 10;
const SIGN_PATH: &str = "/api/v1/invoice/sign";

/// What the drivers did, counted as they go.
#[derive(Default)]
struct Tally {
    deliveries: AtomicU64,
    delivery_sends: AtomicU64,
    delivery_refused: AtomicU64,
    syncs: AtomicU64,
    syncs_stored: AtomicU64,
    rules: AtomicU64,
    replays: AtomicU64,
    confirms: AtomicU64,
    validations: AtomicU64,
    signs: AtomicU64,
    bulk_signs: AtomicU64,
    dropped_answers: AtomicU64,
    kills: AtomicU64,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} kills; {} deliveries ({} sends, {} not answered 2xx), {} syncs, {} sync-stored, \
             {} rule changes, {} replays, {} confirms, {} validations, {} signs, {} bulk signs, \
             {} dropped sign answers",
            get(&self.kills),
            get(&self.deliveries),
            get(&self.delivery_sends),
            get(&self.delivery_refused),
            get(&self.syncs),
            get(&self.syncs_stored),
            get(&self.rules),
            get(&self.replays),
            get(&self.confirms),
            get(&self.validations),
            get(&self.signs),
            get(&self.bulk_signs),
            get(&self.dropped_answers),
        )
    }
}

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// The two replicas: where each serves now (a restarted one serves on a new port).
struct Replicas {
    bases: Mutex<[String; 2]>,
}

impl Replicas {
    fn any(&self, rng: &mut StdRng) -> String {
        self.bases.lock().unwrap()[rng.gen_range(0..2)].clone()
    }
}

/// Everything the drivers share.
struct Run {
    replicas: Replicas,
    http: reqwest::Client,
    key: String,
    sandbox: String,
    accounts: Vec<String>,
    tally: Tally,
    /// Event ids answered 2xx.
    answered: Mutex<HashSet<String>>,
    /// Invoices some answer showed SIGNED.
    seen_signed: Mutex<HashSet<String>>,
    stop: CancellationToken,
}

impl Run {
    /// One call as the tenant to a random replica; `None` when no answer came (a replica
    /// killed under it, the database restarting past the timeout).
    async fn call(
        &self,
        rng: &mut StdRng,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let url = format!("{}{path}", self.replicas.any(rng));
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", format!("Bearer {}", self.key));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.ok()?;
        Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    async fn control(&self, method: Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.sandbox))
            .json(&body)
            .send()
            .await
            .expect("the sandbox answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "sandbox {path}: {status} {body}");
        body
    }

    /// Sleeps `ms`, or less when the run stops meanwhile; answers whether it goes on.
    async fn pause(&self, ms: u64) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => !self.stop.is_cancelled(),
            _ = self.stop.cancelled() => false,
        }
    }
}

/// A transaction of the load: mostly business payments naming one of a few hundred
/// references (a reference's amount is fixed, so a second payment settles the first one's
/// invoice; one in ten pays another amount, a mismatch), some personal transfers.
fn transaction(rng: &mut StdRng) -> Value {
    let reference = rng.gen_range(0..300u32);
    let amount = 150_000 * i64::from(1 + reference % 7);
    match rng.gen_range(0..10) {
        0..=6 => {
            let amount = if rng.gen_range(0..10) == 0 {
                amount + 10_000
            } else {
                amount
            };
            json!({"type": "credit", "amount": amount,
                   "narration": format!("NIP/GTB/ACME TRADING LTD/Payment for invoice CH-{reference}"),
                   "reference": format!("CH-{reference}")})
        }
        7 | 8 => json!({"type": "credit", "amount": 2_500_000,
                        "narration": "TRF FROM MUM/POCKET MONEY"}),
        _ => json!({"type": "debit", "amount": 90_000, "narration": "POS PURCHASE SHOPRITE"}),
    }
}

/// Adds a transaction to a random account at the sandbox, then delivers it by webhook: two
/// copies, each to a random replica, each sent again until answered 2xx.
async fn webhooks(run: Arc<Run>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u64;
    while run.pause(rng.gen_range(20..120)).await {
        n += 1;
        let account = run.accounts[rng.gen_range(0..run.accounts.len())].clone();
        let added = run
            .control(
                Method::POST,
                &format!("/_sandbox/accounts/{account}/transactions"),
                json!({"transactions": [transaction(&mut rng)]}),
            )
            .await;
        let tx = added["data"]["added"][0].clone();
        let event = if rng.gen_bool(0.7) {
            "transaction.updated"
        } else {
            "transaction.settled"
        };
        let event_id = format!("evt_chaos_{seed}_{n}");
        let body = serde_json::to_vec(&json!({
            "event": event, "event_id": event_id,
            "data": {"account": account, "transaction": tx}
        }))
        .unwrap();
        add(&run.tally.deliveries);
        let copies = (0..2).map(|copy| {
            let (run, body, event_id) = (run.clone(), body.clone(), event_id.clone());
            let mut rng = StdRng::seed_from_u64(seed ^ (n << 8) ^ copy);
            async move { deliver(&run, &mut rng, &body, &event_id).await }
        });
        futures::future::join_all(copies).await;
    }
}

async fn deliver(run: &Run, rng: &mut StdRng, body: &[u8], event_id: &str) {
    // Mono sends again for a day; the run gives up after a minute, which fails the check.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let ts = chrono::Utc::now().timestamp();
        let sig = mono::signature::sign(WEBHOOK_SECRET.as_bytes(), ts, body);
        add(&run.tally.delivery_sends);
        let sent = run
            .http
            .post(format!("{}/si/mono/webhook", run.replicas.any(rng)))
            .header("content-type", "application/json")
            .header(mono::signature::HEADER_TIMESTAMP, ts.to_string())
            .header(mono::signature::HEADER_SIGNATURE, sig)
            .body(body.to_vec())
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().is_success()) {
            run.answered.lock().unwrap().insert(event_id.to_owned());
            return;
        }
        add(&run.tally.delivery_refused);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..400))).await;
    }
}

/// Syncs: mostly one account at a time, now and then the whole environment (sync-stored).
async fn syncs(run: Arc<Run>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while run.pause(rng.gen_range(100..600)).await {
        if rng.gen_range(0..8) == 0 {
            run.call(&mut rng, Method::POST, "/si/mono/sync-stored", Some(json!({})))
                .await;
            add(&run.tally.syncs_stored);
        } else {
            let account = run.accounts[rng.gen_range(0..run.accounts.len())].clone();
            let body = json!({"accountId": account, "pageSize": rng.gen_range(5..60)});
            run.call(&mut rng, Method::POST, "/si/mono/sync", Some(body))
                .await;
            add(&run.tally.syncs);
        }
    }
}

/// Rules added and deleted (an allow rule that lifts the personal transfers, deny rules on
/// some references), single and bulk DLQ replays.
async fn rules(run: Arc<Run>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut made: Vec<String> = Vec::new();
    while run.pause(rng.gen_range(300..1200)).await {
        match rng.gen_range(0..5) {
            0 | 1 => {
                let rule = if rng.gen_bool(0.5) {
                    json!({"list": "allow", "pattern": "POCKET MONEY", "note": "chaos"})
                } else {
                    json!({"list": "deny", "field": "reference", "match": "exact",
                           "pattern": format!("CH-{}", rng.gen_range(0..300))})
                };
                if let Some((201, body)) = run
                    .call(&mut rng, Method::POST, "/si/mono/allow-deny", Some(rule))
                    .await
                {
                    made.push(body["data"]["id"].as_str().unwrap_or_default().to_owned());
                }
                add(&run.tally.rules);
            }
            2 if !made.is_empty() => {
                let id = made.swap_remove(rng.gen_range(0..made.len()));
                run.call(
                    &mut rng,
                    Method::DELETE,
                    &format!("/si/mono/allow-deny/{id}"),
                    None,
                )
                .await;
                add(&run.tally.rules);
            }
            3 => {
                run.call(&mut rng, Method::POST, "/si/mono/dlq/replay", Some(json!({})))
                    .await;
                add(&run.tally.replays);
            }
            _ => {
                if let Some((200, page)) = run
                    .call(&mut rng, Method::GET, "/si/mono/dlq?limit=20", None)
                    .await
                {
                    let open = ids(&page);
                    if !open.is_empty() {
                        let id = &open[rng.gen_range(0..open.len())];
                        run.call(
                            &mut rng,
                            Method::POST,
                            &format!("/si/mono/dlq/{id}/replay"),
                            Some(json!({})),
                        )
                        .await;
                        add(&run.tally.replays);
                    }
                }
            }
        }
    }
}

/// The ids of a page's items.
fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

/// Drafts taken to MBS: confirm, validate, sign one at a time; now and then a bulk sign of
/// the validated ones.
async fn e_invoices(run: Arc<Run>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while run.pause(rng.gen_range(100..400)).await {
        if rng.gen_range(0..10) == 0 {
            run.call(
                &mut rng,
                Method::POST,
                "/si/invoices/sign",
                Some(json!({"status": "VALIDATED"})),
            )
            .await;
            add(&run.tally.bulk_signs);
            continue;
        }
        let Some((200, page)) = run
            .call(&mut rng, Method::GET, "/si/invoices?status=DRAFT&limit=10", None)
            .await
        else {
            continue;
        };
        let drafts = ids(&page);
        if drafts.is_empty() {
            continue;
        }
        let id = drafts[rng.gen_range(0..drafts.len())].clone();
        for (step, counter) in [
            ("confirm", &run.tally.confirms),
            ("validate", &run.tally.validations),
            ("sign", &run.tally.signs),
        ] {
            add(counter);
            let answer = run
                .call(
                    &mut rng,
                    Method::POST,
                    &format!("/si/invoices/{id}/{step}"),
                    Some(json!({})),
                )
                .await;
            match answer {
                Some((200, body)) => {
                    if body["data"]["status"] == "SIGNED" {
                        run.seen_signed.lock().unwrap().insert(id.clone());
                    }
                }
                _ => break,
            }
        }
    }
}

/// MBS faults: now and then a sign whose answer is dropped after MBS stored the invoice, and
/// latency on validations. Mono faults: latency spikes on transaction pages.
async fn faults(run: Arc<Run>, s: Arc<SandboxApp>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while run.pause(rng.gen_range(1500..3500)).await {
        let mbs = s.sandbox.state.mbs();
        mbs.faults().add(FaultSpec {
            kind: FaultKind::DropAfterStore,
            path: Some(SIGN_PATH.into()),
            times: Some(1),
        });
        add(&run.tally.dropped_answers);
        mbs.faults().add(FaultSpec {
            kind: FaultKind::Latency {
                ms: rng.gen_range(200..1500),
            },
            path: Some("/api/v1/invoice/validate".into()),
            times: Some(2),
        });
        run.control(
            Method::POST,
            "/_sandbox/faults",
            json!({"endpoint": "transactions", "latency_ms": rng.gen_range(500..2500), "count": 3}),
        )
        .await;
    }
}

/// Kills a random replica every few seconds and starts it again at once.
async fn killer(
    run: Arc<Run>,
    services: Arc<tokio::sync::Mutex<Vec<Service>>>,
    start: Arc<dyn Fn(usize) -> Service + Send + Sync>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while run.pause(rng.gen_range(2000..5000)).await {
        let i = rng.gen_range(0..2);
        let mut services = services.lock().await;
        let fresh = start(i);
        let base = fresh.base.clone();
        // Dropping the old one kills it with SIGKILL.
        drop(std::mem::replace(&mut services[i], fresh));
        add(&run.tally.kills);
        run.replicas.bases.lock().unwrap()[i] = base;
    }
}

fn knobs() -> (Duration, u64) {
    let secs = std::env::var("TPM_CHAOS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25u64);
    let seed = std::env::var("TPM_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    (Duration::from_secs(secs), seed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_two_replicas_killed_and_a_database_restart_lose_and_double_nothing() {
    let (load_for, seed) = knobs();
    println!("chaos: {} s of load, TPM_CHAOS_SEED={seed}", load_for.as_secs());
    let cluster = Arc::new(tokio::task::spawn_blocking(Cluster::start).await.unwrap());
    let url = cluster.url();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .unwrap();
    db::MIGRATOR.run(&pool).await.unwrap();

    // Set up in process: the tenant, the profile, MBS's demo business, 50 linked accounts.
    let s = TestApp::builder(pool.clone())
        .with_sandbox()
        .max_rps(MONO_MAX_RPS as u32)
        .mbs_max_rps(MBS_MAX_RPS as u32)
        .start()
        .await
        .e_invoicing()
        .await;
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(s.link_new_account(20).await);
    }
    // The in-process app stops; from here on only the two replicas run.
    s.app.shutdown.cancel();
    wait_for("the set-up app to stop", Duration::from_secs(30), || async {
        s.app.server.is_finished()
    })
    .await;
    let s = Arc::new(s);
    let command = {
        let (s, url, logs) = (s.clone(), url.clone(), cluster.dir.clone());
        let generation = Arc::new(AtomicU64::new(0));
        move |i: usize| {
            let n = generation.fetch_add(1, Ordering::SeqCst);
            let log = std::fs::File::create(logs.join(format!("replica-{i}-{n}.log"))).unwrap();
            let mut command = s.app.process(&url);
            command
                .env("JOB_LEASE_SECS", "3")
                .env("MONO_SYNC_CONCURRENCY", "8")
                .env("MBS_TIMEOUT_MS", "2000")
                .env("SHUTDOWN_TIMEOUT_SECS", "1")
                .env("LOG_FORMAT", "json")
                .env("RUST_LOG", "info")
                .stdout(log.try_clone().unwrap())
                .stderr(Stdio::from(log));
            Service::start(command)
        }
    };
    let start: Arc<dyn Fn(usize) -> Service + Send + Sync> = Arc::new(command);
    let services = vec![start(0), start(1)];
    for service in &services {
        service.wait_ready(Duration::from_secs(30)).await;
    }
    let bases = [services[0].base.clone(), services[1].base.clone()];
    let services = Arc::new(tokio::sync::Mutex::new(services));
    let sandbox_base = s.sandbox.base_url.as_str().trim_end_matches('/').to_owned();
    let run = Arc::new(Run {
        replicas: Replicas {
            bases: Mutex::new(bases),
        },
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
        key: s.app.key().to_owned(),
        sandbox: sandbox_base,
        accounts: accounts.clone(),
        tally: Tally::default(),
        answered: Mutex::new(HashSet::new()),
        seen_signed: Mutex::new(HashSet::new()),
        stop: CancellationToken::new(),
    });
    // Mono fails one call in ten.
    run.control(
        Method::POST,
        "/_sandbox/faults",
        json!({"endpoint": "*", "error_rate": 0.1, "status": 503}),
    )
    .await;

    let began = Instant::now();
    let mut drivers = Vec::new();
    for k in 0..3 {
        drivers.push(tokio::spawn(webhooks(run.clone(), seed.wrapping_add(k))));
    }
    drivers.push(tokio::spawn(syncs(run.clone(), seed.wrapping_add(10))));
    drivers.push(tokio::spawn(syncs(run.clone(), seed.wrapping_add(11))));
    drivers.push(tokio::spawn(rules(run.clone(), seed.wrapping_add(20))));
    drivers.push(tokio::spawn(e_invoices(run.clone(), seed.wrapping_add(30))));
    drivers.push(tokio::spawn(e_invoices(run.clone(), seed.wrapping_add(31))));
    drivers.push(tokio::spawn(faults(
        run.clone(),
        s.clone(),
        seed.wrapping_add(40),
    )));
    drivers.push(tokio::spawn(killer(
        run.clone(),
        services.clone(),
        start.clone(),
        seed.wrapping_add(50),
    )));
    // The database server crashes and comes back once, part way through.
    let restarted = {
        let (run, cluster) = (run.clone(), cluster.clone());
        tokio::spawn(async move {
            if run.pause(load_for.as_millis() as u64 * 2 / 5).await {
                tokio::task::spawn_blocking(move || cluster.restart())
                    .await
                    .unwrap();
                1
            } else {
                0
            }
        })
    };
    tokio::time::sleep(load_for).await;
    run.stop.cancel();
    for driver in drivers {
        driver.await.unwrap();
    }
    let restarts = restarted.await.unwrap();
    let loaded = began.elapsed();

    // Drain: no faults, every replica up, one last sync of everything, the queues empty.
    run.control(Method::DELETE, "/_sandbox/faults", json!({})).await;
    s.sandbox.state.mbs().faults().clear();
    for i in 0..2 {
        let base = run.replicas.bases.lock().unwrap()[i].clone();
        wait_for("a replica ready", Duration::from_secs(30), || async {
            try_raw(Method::GET, &format!("{base}/readyz"), &[], "")
                .await
                .is_ok_and(|r| r.status == 200)
        })
        .await;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let last = wait_for("the last sync-stored to start", Duration::from_secs(120), || {
        let (run, mut rng) = (run.clone(), StdRng::seed_from_u64(rng.gen()));
        async move {
            match run
                .call(&mut rng, Method::POST, "/si/mono/sync-stored", Some(json!({})))
                .await
            {
                Some((202, body)) => body["data"]["jobId"].as_str().map(str::to_owned),
                _ => None,
            }
        }
    })
    .await;
    drained(&pool, &last).await;
    let drained_after = began.elapsed() - loaded;

    let report = check(&pool, &s, &run).await;
    println!(
        "chaos: load {:.1} s, drained in {:.1} s; {restarts} database restart(s); {}; {report}",
        loaded.as_secs_f64(),
        drained_after.as_secs_f64(),
        run.tally,
    );
    drop(services);
}

/// One PostgreSQL session, as the report of queues that did not drain shows it.
#[derive(Debug, sqlx::FromRow)]
#[allow(dead_code)] // read through Debug
struct Session {
    pid: i32,
    state: Option<String>,
    wait_event_type: Option<String>,
    wait_event: Option<String>,
    in_transaction_secs: Option<f64>,
    blocked_by: Vec<i32>,
    query: Option<String>,
}

/// Waits until the last sync-stored is done, nothing is queued or running, every delivery is
/// processed and every submission sent settled (a `prepared` one, validated and never signed,
/// rests).
async fn drained(pool: &PgPool, last: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let busy: Option<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')),
                    (SELECT count(*) FROM webhook_deliveries WHERE status = 'queued'),
                    (SELECT count(*) FROM invoice_submissions WHERE status IN ('submitted', 'unknown')),
                    (SELECT status FROM jobs WHERE id = $1::uuid)",
        )
        .bind(last)
        .fetch_optional(pool)
        .await
        .ok()
        .flatten();
        if busy
            .as_ref()
            .is_some_and(|(jobs, deliveries, submissions, last)| {
                *jobs == 0 && *deliveries == 0 && *submissions == 0 && last == "done"
            })
        {
            return;
        }
        if Instant::now() > deadline {
            // What every session does, and who blocks whom, for the failure's report.
            let sessions: Vec<Session> = sqlx::query_as(
                "SELECT pid, state, wait_event_type, wait_event,
                        extract(epoch FROM now() - xact_start)::float8 AS in_transaction_secs,
                        pg_blocking_pids(pid) AS blocked_by, left(query, 300) AS query
                 FROM pg_stat_activity WHERE datname IS NOT NULL AND pid <> pg_backend_pid()",
            )
            .fetch_all(pool)
            .await
            .unwrap_or_default();
            for session in sessions {
                eprintln!("session {session:?}");
            }
            panic!("the queues did not drain in 180 s: (jobs, deliveries, submissions, last sync-stored) = {busy:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn rows<T>(pool: &PgPool, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The invariants; answers what was counted, for the summary line.
async fn check(pool: &PgPool, s: &SandboxApp, run: &Run) -> String {
    // Every delivery answered 2xx is stored once, and processed.
    let answered = run.answered.lock().unwrap().clone();
    assert_eq!(
        answered.len() as u64,
        get(&run.tally.deliveries),
        "every delivery was answered 2xx in the end"
    );
    let stored: Vec<(String, i64, String)> = rows(
        pool,
        "SELECT event_id, count(*) OVER (PARTITION BY event_id), status FROM webhook_deliveries
         WHERE event_id LIKE 'evt_chaos_%'",
    )
    .await;
    let stored_ids: HashSet<String> = stored.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(
        stored_ids, answered,
        "the deliveries stored are the ones answered 2xx"
    );
    for (id, copies, status) in &stored {
        assert_eq!(*copies, 1, "delivery {id} stored {copies} times");
        assert_eq!(status, "processed", "delivery {id} ended {status}");
    }

    // Every transaction the sandbox holds is in the ledger once, decided once.
    let mut sandbox_ids: HashSet<(String, String)> = HashSet::new();
    {
        let world = s.sandbox.state.world();
        for account in &run.accounts {
            let record = world
                .linked_account(account)
                .expect("the account is still linked");
            for i in 0..record.ledger.len() {
                sandbox_ids.insert((account.clone(), record.ledger.transaction_id(i)));
            }
            for tx in record.extras.iter() {
                sandbox_ids.insert((account.clone(), tx.id.clone()));
            }
        }
    }
    let ledger: Vec<(String, String)> =
        rows(pool, "SELECT account_id, transaction_id FROM mono_transactions").await;
    let ledger_ids: HashSet<(String, String)> = ledger.iter().cloned().collect();
    assert_eq!(ledger.len(), ledger_ids.len());
    let lost: Vec<_> = sandbox_ids.difference(&ledger_ids).take(5).collect();
    assert!(lost.is_empty(), "transactions never decided: {lost:?}");
    let foreign: Vec<_> = ledger_ids.difference(&sandbox_ids).take(5).collect();
    assert!(foreign.is_empty(), "ledger rows of no transaction: {foreign:?}");
    let decided_twice: Vec<(String, String, i64)> = rows(
        pool,
        "SELECT account_id, transaction_id, count(*) FROM eligibility_events
         WHERE source IN ('sync', 'webhook') GROUP BY 1, 2 HAVING count(*) <> 1 LIMIT 5",
    )
    .await;
    assert!(
        decided_twice.is_empty(),
        "decided more than once: {decided_twice:?}"
    );
    let decided: i64 = count(pool, "eligibility_events WHERE source IN ('sync', 'webhook')").await;
    assert_eq!(decided as usize, ledger.len(), "one decision per ledger row");

    // No reference has two invoices; no transaction two drafts.
    let doubled: Vec<(String, i64)> = rows(
        pool,
        "SELECT lower(reference), count(*) FROM invoices
         WHERE status <> 'DISCARDED' AND reference IS NOT NULL GROUP BY 1 HAVING count(*) > 1",
    )
    .await;
    assert!(doubled.is_empty(), "references with two invoices: {doubled:?}");
    assert_eq!(duplicate_drafts(pool).await, 0);

    // MBS: one sign call per IRN at most; every invoice MBS holds is SIGNED here, and every
    // invoice an answer showed SIGNED still is.
    let log = s.sandbox.state.mbs().log();
    let mut sign_calls: BTreeMap<String, usize> = BTreeMap::new();
    for entry in log.iter().filter(|e| e.path == SIGN_PATH) {
        *sign_calls
            .entry(entry.body["irn"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = sign_calls.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "IRNs signed more than once: {twice:?}");
    let signed_here: HashMap<String, String> = rows::<(String, String)>(
        pool,
        "SELECT s.irn, i.status FROM invoice_submissions s JOIN invoices i ON i.id = s.invoice_id",
    )
    .await
    .into_iter()
    .collect();
    let mut held_by_mbs = 0;
    for irn in sign_calls.keys() {
        if s.sandbox.state.mbs().invoice(irn).is_some() {
            held_by_mbs += 1;
            assert_eq!(
                signed_here.get(irn).map(String::as_str),
                Some("SIGNED"),
                "MBS holds {irn}"
            );
        }
    }
    let seen_signed = run.seen_signed.lock().unwrap().clone();
    let still_signed: Vec<(String,)> =
        rows(pool, "SELECT id::text FROM invoices WHERE status = 'SIGNED'").await;
    let still_signed: HashSet<String> = still_signed.into_iter().map(|(id,)| id).collect();
    assert!(
        seen_signed.is_subset(&still_signed),
        "SIGNED invoices gone: {:?}",
        seen_signed.difference(&still_signed).collect::<Vec<_>>()
    );

    // The budgets held in every second.
    let mono_busiest = s
        .sandbox
        .state
        .limits()
        .view()
        .busiest_second
        .map_or(0, |b| b.requests);
    let mbs_busiest = s
        .sandbox
        .state
        .mbs()
        .calls()
        .busiest_second
        .map_or(0, |b| b.requests);
    assert!(
        mono_busiest <= MONO_MAX_RPS,
        "Mono's busiest second: {mono_busiest} calls"
    );
    assert!(
        mbs_busiest <= MBS_MAX_RPS,
        "MBS's busiest second: {mbs_busiest} calls"
    );

    // Nothing running or leased.
    let held = count(
        pool,
        "jobs WHERE status = 'running' OR lease_id IS NOT NULL OR locked_until IS NOT NULL",
    )
    .await;
    assert_eq!(held, 0, "jobs left running or leased");
    let leased = count(pool, "invoice_submissions WHERE lease_until > now()").await;
    assert_eq!(leased, 0, "submissions left leased");
    let failed = count(pool, "jobs WHERE status = 'failed'").await;

    let invoices = count(pool, "invoices").await;
    let dlq = count(pool, "dlq_records").await;
    format!(
        "checked: {} deliveries stored once and processed, {} transactions decided once, {invoices} invoices \
         ({} SIGNED; {held_by_mbs} held by MBS, {} sign calls, none twice), {dlq} DLQ records, {failed} failed jobs, \
         busiest second Mono {mono_busiest}/{MONO_MAX_RPS}, MBS {mbs_busiest}/{MBS_MAX_RPS}",
        stored.len(),
        ledger.len(),
        still_signed.len(),
        sign_calls.values().sum::<usize>(),
    )
}
