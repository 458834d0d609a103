//! Order never changes the outcome (issue: one path for money). Random transactions over two
//! linked accounts of one organization are delivered through a random interleaving of the
//! paths that bring transactions: sync pages of random sizes (re-read pages included),
//! `transaction.updated` / `transaction.settled` webhooks (copies, out of order, two workers at
//! once), single replays and bulk replays. What the books end with must equal the outcome of
//! one canonical order: each account's transactions in one sync page, in order.
//!
//! Compared: the invoices per reference (how many, their payment statuses), the DISCARDED
//! ones, and the open DLQ records' reasons. The contract lets the first of two payments naming
//! a new reference be the sale and the second its payment (or a mismatch), so which amount
//! the invoice carries depends on arrival; how many invoices, and what waits in the DLQ, do
//! not. Every transaction is also posted (a sync page brings it at least once), as Mono's
//! history eventually does, so a payment's last word is `settled` whichever path said it.
//!
//! Each case runs in databases of its own, made from a migrated template. 100 cases by
//! default; `TPM_MONEY_CASES=1000 bash scripts/test.sh -E 'test(/money_orderings/)'` for more.
//! A failure prints the case (transactions and plan) and the seed: `TPM_MONEY_SEED=<hex>`
//! with the same `TPM_MONEY_CASES` replays it.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use uuid::Uuid;

use crate::helpers::*;
use mono::signature::PresentedAuth;
use mono::RawTransaction;
use taxpoynt_mono::db::ledger::PageContext;
use taxpoynt_mono::services::dlq_replay::{self, BulkReplayBody};
use taxpoynt_mono::services::webhooks::{intake, job};
use taxpoynt_mono::services::{dlq, reconcile, settings};
use taxpoynt_mono::state::AppState;
use taxpoynt_mono::tenancy::{EnvName, Tenant};

const ACCOUNTS: [&str; 2] = ["acc_prop_a", "acc_prop_b"];
const NUMBERS: [&str; 2] = ["0123456781", "0987654322"];
const REFERENCES: [&str; 3] = ["INV-1001", "INV-1002", "INV-1003"];

/// One transaction of the case.
#[derive(Debug, Clone)]
struct Tx {
    account: usize,
    json: Value,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A business payment naming `reference` (at most two per reference).
    Business {
        reference: usize,
        amount: i64,
    },
    /// A business payment naming nothing.
    Sale {
        amount: i64,
    },
    Personal,
    Refund,
    /// A debit on one account and a credit of the same amount on the other.
    OwnTransfer {
        from: usize,
        naming: bool,
    },
    /// A credit on one account and an unrelated debit of the same amount on the other.
    UnrelatedEqual {
        credit_on: usize,
    },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => (0..REFERENCES.len(), prop::sample::select(vec![500_000i64, 700_000])).prop_map(|(reference, amount)| Kind::Business { reference, amount }),
        1 => prop::sample::select(vec![600_000i64, 900_000]).prop_map(|amount| Kind::Sale { amount }),
        1 => Just(Kind::Personal),
        1 => Just(Kind::Refund),
        1 => (0..2usize, any::<bool>()).prop_map(|(from, naming)| Kind::OwnTransfer { from, naming }),
        1 => (0..2usize).prop_map(|credit_on| Kind::UnrelatedEqual { credit_on }),
    ]
}

fn raw(id: &str, kind: &str, amount: i64, narration: &str, reference: Option<&str>) -> Value {
    let mut t = json!({
        "id": id, "type": kind, "amount": amount, "currency": "NGN", "narration": narration,
        "date": "2026-01-05T10:00:00.000Z",
    });
    if let Some(r) = reference {
        t["reference"] = json!(r);
    }
    t
}

/// Each pair of equal amounts (a transfer, or an unrelated sale and purchase) an amount of its
/// own: when one leg could pair with several equal legs of the other account within a day,
/// which it pairs with first depends on arrival, and the contract does not say.
fn pair_amount(n: usize) -> i64 {
    300_000 + 1_000 * n as i64
}

/// The case's transactions from its kinds: at most two payments per reference.
fn transactions(kinds: &[(Kind, usize)]) -> Vec<Tx> {
    let mut out = Vec::new();
    let mut per_reference = [0usize; REFERENCES.len()];
    for (n, (k, account)) in kinds.iter().enumerate() {
        let id = |leg: &str| format!("tx_{n:02}{leg}");
        match k {
            Kind::Business { reference, amount } => {
                if per_reference[*reference] == 2 {
                    continue;
                }
                per_reference[*reference] += 1;
                let r = REFERENCES[*reference];
                let narration = format!("NIP/GTB/ACME LTD/Payment for invoice {r}");
                out.push(Tx {
                    account: *account,
                    json: raw(&id(""), "credit", *amount, &narration, Some(r)),
                });
            }
            Kind::Sale { amount } => out.push(Tx {
                account: *account,
                json: raw(
                    &id(""),
                    "credit",
                    *amount,
                    "NIP/ZENITH/BETA STORES LTD/Payment for goods",
                    None,
                ),
            }),
            Kind::Personal => out.push(Tx {
                account: *account,
                json: raw(&id(""), "credit", 50_000, "gift from mum for pocket money", None),
            }),
            Kind::Refund => out.push(Tx {
                account: *account,
                json: raw(
                    &id(""),
                    "debit",
                    200_000,
                    "REFUND to ACME LTD for invoice payment",
                    None,
                ),
            }),
            Kind::OwnTransfer { from, naming } => {
                let to = 1 - from;
                let amount = pair_amount(n);
                let (out_narration, in_narration) = if *naming {
                    (
                        format!("TRF TO {} OWN ACCOUNT", NUMBERS[to]),
                        format!("TRF FROM {} OWN ACCOUNT", NUMBERS[*from]),
                    )
                } else {
                    ("TRANSFER OUT".to_owned(), "NIP/GTB/ACME LTD/Payment".to_owned())
                };
                out.push(Tx {
                    account: *from,
                    json: raw(&id("d"), "debit", amount, &out_narration, None),
                });
                out.push(Tx {
                    account: to,
                    json: raw(&id("c"), "credit", amount, &in_narration, None),
                });
            }
            Kind::UnrelatedEqual { credit_on } => {
                let amount = pair_amount(n);
                out.push(Tx {
                    account: *credit_on,
                    json: raw(
                        &id("c"),
                        "credit",
                        amount,
                        "NIP/GTB/GAMMA LTD/Payment for services",
                        None,
                    ),
                });
                out.push(Tx {
                    account: 1 - credit_on,
                    json: raw(&id("d"), "debit", amount, "POS PURCHASE SHOPRITE IKEJA", None),
                });
            }
        }
    }
    out
}

/// One step of a delivery plan; transactions are named by their index in the case.
#[derive(Debug, Clone)]
enum Step {
    /// A sync page of one account: these transactions, in this order, in one write.
    Page(Vec<usize>),
    Webhook {
        tx: usize,
        settled: bool,
    },
    /// Two deliveries processed by two workers at once.
    TwoAtOnce {
        a: usize,
        b: usize,
        a_settled: bool,
        b_settled: bool,
    },
    /// Replays the `k`-th open DLQ record (modulo how many there are).
    ReplayOne(usize),
    BulkReplay,
}

/// Every transaction in at least one page (pages of one account, 1 to 4 transactions, some
/// read twice), and random webhooks and replays, shuffled.
fn plan(txs: &[Tx]) -> impl Strategy<Value = Vec<Step>> {
    let n = txs.len();
    let accounts: Vec<usize> = txs.iter().map(|t| t.account).collect();
    let pages = (
        Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec(1usize..=4, n),
    )
        .prop_map(move |(order, sizes)| {
            let mut pages = Vec::new();
            for account in 0..2 {
                let mine: Vec<usize> = order
                    .iter()
                    .copied()
                    .filter(|&i| accounts[i] == account)
                    .collect();
                let mut at = 0;
                let mut s = 0;
                while at < mine.len() {
                    let size = sizes[s % sizes.len()].min(mine.len() - at);
                    pages.push(Step::Page(mine[at..at + size].to_vec()));
                    at += size;
                    s += 1;
                }
            }
            pages
        });
    let others = prop::collection::vec(
        prop_oneof![
            4 => (0..n.max(1), any::<bool>()).prop_map(|(tx, settled)| Step::Webhook { tx, settled }),
            2 => (0..n.max(1), 0..n.max(1), any::<bool>(), any::<bool>())
                .prop_map(|(a, b, a_settled, b_settled)| Step::TwoAtOnce { a, b, a_settled, b_settled }),
            1 => (0..8usize).prop_map(Step::ReplayOne),
            1 => Just(Step::BulkReplay),
        ],
        0..(2 * n + 2),
    );
    (pages, others, prop::collection::vec(0usize..2, 0..4))
        .prop_flat_map(|(pages, others, rereads)| {
            let mut steps = pages.clone();
            // Some pages come again (a later pass re-reads them).
            for r in rereads {
                if let Some(p) = pages.get(r) {
                    steps.push(p.clone());
                }
            }
            steps.extend(others);
            Just(steps).prop_shuffle()
        })
        .prop_map(move |steps| if n == 0 { Vec::new() } else { steps })
}

/// What the books end with, as far as the contract fixes it.
#[derive(Debug, PartialEq, Eq)]
struct Books {
    /// Per reference (lower case; `-` for none): the payment statuses of its live invoices.
    invoices: BTreeMap<String, Vec<String>>,
    discarded: i64,
    /// The open DLQ records' reasons, sorted.
    open_dlq: Vec<String>,
}

async fn books(pool: &PgPool) -> Books {
    let rows: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT lower(reference), payment_status FROM invoices WHERE status <> 'DISCARDED'
         ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut invoices: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (reference, status) in rows {
        invoices
            .entry(reference.unwrap_or_else(|| "-".into()))
            .or_default()
            .push(status);
    }
    // A draft DISCARDED because its debit arrived later is, by the contract, as if it was never
    // drafted: the order the legs came in decides whether it existed for a while.
    let discarded = count(
        pool,
        "invoices WHERE status = 'DISCARDED' AND reason IS DISTINCT FROM 'own_account_transfer'",
    )
    .await;
    let open_dlq: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM dlq_records WHERE status = 'open' ORDER BY reason")
            .fetch_all(pool)
            .await
            .unwrap();
    Books {
        invoices,
        discarded,
        open_dlq,
    }
}

/// A database of its own for one run, from the migrated template.
struct Scratch {
    admin: PgPool,
    name: String,
    pool: PgPool,
}

impl Scratch {
    async fn new(admin: &PgPool, base: &PgConnectOptions, template: &str) -> Scratch {
        let name = format!("tpm_money_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""))
            .execute(admin)
            .await
            .unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(base.clone().database(&name))
            .await
            .unwrap();
        Scratch {
            admin: admin.clone(),
            name,
            pool,
        }
    }

    async fn drop(self) {
        self.pool.close().await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

/// The organization, its environment and its two linked accounts.
async fn books_opened(pool: &PgPool) -> (AppState, Tenant) {
    let created = tenants::create_tenant(pool, "Orderings Org").await.unwrap();
    let env = created
        .environments
        .iter()
        .find(|e| e.name == "sandbox")
        .unwrap()
        .id;
    for (account, number) in ACCOUNTS.iter().zip(NUMBERS) {
        sqlx::query(
            "INSERT INTO mono_accounts (id, org_id, env_id, currency, data_status, account_number, name)
             VALUES ($1, $2, $3, 'NGN', 'AVAILABLE', $4, 'ADA OKAFOR')",
        )
        .bind(account)
        .bind(created.org_id)
        .bind(env)
        .bind(number)
        .execute(pool)
        .await
        .unwrap();
    }
    let application = TestApp::builder(pool.clone()).application().await;
    let tenant = Tenant::system(created.org_id, env, EnvName::parse("sandbox").unwrap());
    (application.state().clone(), tenant)
}

/// A sync page's write, as `services::sync::walk` makes it: decided, reconciled and written
/// in one transaction, a posted transaction settling what it pays.
async fn page(state: &AppState, tenant: &Tenant, txs: &[&Tx]) {
    let account = ACCOUNTS[txs[0].account];
    let policy = settings::load_policy(state, tenant).await.unwrap();
    let rows: Vec<_> = txs
        .iter()
        .filter_map(|t| {
            let raw = serde_json::value::to_raw_value(&t.json).unwrap();
            taxpoynt_mono::services::sync::decide::decide_item(
                &policy.compiled,
                account,
                Some("NGN"),
                RawTransaction::decode(raw),
            )
        })
        .collect();
    let ctx = PageContext {
        org_id: tenant.org_id,
        env_id: tenant.env_id,
        account_id: account,
        source: "sync",
        trace_id: "orderings",
        policy_version: &policy.version,
    };
    let mut tx = state.db.begin().await.unwrap();
    reconcile::write(&mut tx, tenant, &ctx, rows, true).await.unwrap();
    tx.commit().await.unwrap();
}

async fn webhook(state: &AppState, t: &Tx, settled: bool) -> Uuid {
    let event = if settled {
        "transaction.settled"
    } else {
        "transaction.updated"
    };
    let body = json!({
        "event": event,
        "event_id": format!("evt_{}", Uuid::new_v4().simple()),
        "data": {"account": ACCOUNTS[t.account], "transaction": t.json},
    });
    let auth = PresentedAuth {
        webhook_secret: Some(WEBHOOK_SECRET),
        ..Default::default()
    };
    intake::receive(state, auth, &serde_json::to_vec(&body).unwrap())
        .await
        .unwrap()
        .delivery_id
}

async fn run(state: &AppState, tenant: &Tenant, txs: &[Tx], steps: &[Step]) {
    for step in steps {
        match step {
            Step::Page(ids) => {
                let page_txs: Vec<&Tx> = ids.iter().map(|&i| &txs[i]).collect();
                page(state, tenant, &page_txs).await;
            }
            Step::Webhook { tx, settled } => {
                let id = webhook(state, &txs[*tx], *settled).await;
                job::process_delivery(state, id).await.unwrap();
            }
            Step::TwoAtOnce {
                a,
                b,
                a_settled,
                b_settled,
            } => {
                let a = webhook(state, &txs[*a], *a_settled).await;
                let b = webhook(state, &txs[*b], *b_settled).await;
                let (ra, rb) = tokio::join!(job::process_delivery(state, a), job::process_delivery(state, b));
                ra.unwrap();
                rb.unwrap();
            }
            Step::ReplayOne(k) => {
                let open: Vec<Uuid> =
                    sqlx::query_scalar("SELECT id FROM dlq_records WHERE status = 'open' ORDER BY seq")
                        .fetch_all(&state.db)
                        .await
                        .unwrap();
                if !open.is_empty() {
                    dlq::replay(state, tenant, open[k % open.len()]).await.unwrap();
                }
            }
            Step::BulkReplay => {
                let started = dlq_replay::start_bulk_replay(state, tenant, BulkReplayBody::default())
                    .await
                    .unwrap();
                run_job(state, started.job_id).await;
            }
        }
    }
}

/// Runs one queued job through the worker's registry, as a worker would.
async fn run_job(state: &AppState, id: Uuid) {
    use taxpoynt_mono::db::queue::{self, Lane};
    use taxpoynt_mono::jobs::JobContext;
    // Webhook jobs wait in the same lane (this test processes their deliveries itself).
    let claimed = queue::claim(&state.db, Lane::General, 1_000, 30.0).await.unwrap();
    let job = claimed
        .into_iter()
        .find(|j| j.id == id)
        .expect("the bulk replay job is claimed");
    let ran = taxpoynt_mono::worker::registry::registry()
        .run(JobContext {
            state: state.clone(),
            job: job.clone(),
        })
        .await;
    let Ok(taxpoynt_mono::jobs::Ran::Done(progress)) = ran else {
        panic!("the bulk replay ran to its end: {ran:?}");
    };
    // Recorded as the worker would: one bulk replay per environment is unfinished at a time.
    let recorded = queue::complete(&state.db, &job, &progress).await.unwrap();
    assert_eq!(recorded, Some(queue::Recorded::Done));
}

#[test]
fn order_never_changes_the_outcome() {
    let cases: u32 = std::env::var("TPM_MONEY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test.sh sets it)");
    let base: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .unwrap()
        .disable_statement_logging();
    let admin = rt.block_on(async {
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(base.clone())
            .await
            .unwrap()
    });
    let template = format!("tpm_money_tmpl_{}", Uuid::new_v4().simple());
    rt.block_on(async {
        sqlx::query(&format!("CREATE DATABASE \"{template}\""))
            .execute(&admin)
            .await
            .unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone().database(&template))
            .await
            .unwrap();
        sqlx::migrate!("./migrations").run(&pool).await.unwrap();
        pool.close().await;
    });

    let strategy = prop::collection::vec((kind(), 0..2usize), 1..8)
        .prop_map(|kinds| transactions(&kinds))
        .prop_flat_map(|txs| {
            let p = plan(&txs);
            (Just(txs), p)
        });
    // The seed: TPM_MONEY_SEED (64 hex digits) replays a run; else a fresh one, printed on
    // failure.
    let seed: [u8; 32] = match std::env::var("TPM_MONEY_SEED") {
        Ok(hex) => {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("TPM_MONEY_SEED is hex"))
                .collect();
            bytes.try_into().expect("TPM_MONEY_SEED is 64 hex digits")
        }
        Err(_) => rand::random(),
    };
    let seed_hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let result = runner.run(&strategy, |(txs, steps)| {
        let (got, want) = rt.block_on(async {
            let canonical = Scratch::new(&admin, &base, &template).await;
            let (state, tenant) = books_opened(&canonical.pool).await;
            let in_order: Vec<Step> = (0..2)
                .map(|a| Step::Page((0..txs.len()).filter(|&i| txs[i].account == a).collect()))
                .filter(|s| matches!(s, Step::Page(p) if !p.is_empty()))
                .collect();
            run(&state, &tenant, &txs, &in_order).await;
            let want = books(&canonical.pool).await;
            state.shutdown.cancel();
            drop(state);
            canonical.drop().await;

            let shuffled = Scratch::new(&admin, &base, &template).await;
            let (state, tenant) = books_opened(&shuffled.pool).await;
            run(&state, &tenant, &txs, &steps).await;
            let got = books(&shuffled.pool).await;
            state.shutdown.cancel();
            drop(state);
            shuffled.drop().await;
            (got, want)
        });
        prop_assert_eq!(got, want, "transactions {:#?}\nplan {:#?}", txs, steps);
        Ok(())
    });
    rt.block_on(async {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
    });
    if let Err(e) = result {
        panic!("{e}\nreplay with TPM_MONEY_SEED={seed_hex} TPM_MONEY_CASES={cases}");
    }
}
