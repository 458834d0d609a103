//! The per-test database: counting its rows, what a sync stored for an account, its URL for a
//! process of the binary, and a proxy in front of it that a test can cut (an outage).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};

/// The rows of `from`, a table and any filter (`"jobs WHERE kind = 'sync'"`): `SELECT
/// count(*) FROM` it.
pub async fn count(pool: &PgPool, from: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {from}"))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("counting {from}: {e}"))
}

/// Drafts of a transaction that already had one: 0 when none was drafted twice.
pub async fn duplicate_drafts(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) - count(DISTINCT (account_id, transaction_id)) FROM invoices")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The ledger rows (decided transactions) of an account.
pub async fn ledger_rows(pool: &PgPool, account_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mono_transactions WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// What syncs left for an account, independent of its transaction ids (which the sandbox
/// derives from the account id).
#[derive(Debug, PartialEq, Eq)]
pub struct StoredState {
    /// Every decision: (outcome, reason, amount, narration), sorted.
    pub decisions: Vec<(String, String, i64, String)>,
    pub drafts: i64,
    pub dlq: i64,
}

pub async fn stored_state(pool: &PgPool, account_id: &str) -> StoredState {
    let decisions = sqlx::query_as(
        "SELECT outcome, reason, amount, narration FROM eligibility_events WHERE account_id = $1
         ORDER BY outcome, reason, amount, narration",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await
    .unwrap();
    let of_account = |table: &'static str| {
        let sql = format!("SELECT count(*) FROM {table} WHERE account_id = $1");
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .bind(account_id)
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    StoredState {
        decisions,
        drafts: of_account("invoices").await,
        dlq: of_account("dlq_records").await,
    }
}

/// The URL of the per-test database, for running the binary against it.
pub fn database_url_for(options: &PgConnectOptions) -> String {
    let master = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = url::Url::parse(&master).expect("DATABASE_URL parses");
    url.set_path(options.get_database().expect("test database has a name"));
    url.to_string()
}

/// A TCP forwarder in front of PostgreSQL that a test can cut (an outage) and restore.
pub struct TcpProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl TcpProxy {
    pub async fn start(target: String) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(tx);
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    break;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut = gen2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        TcpProxy { port, up, generation }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
