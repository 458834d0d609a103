//! The rule preview's read of the ledger (`db::ledger::engine_rows`): the binary COPY data
//! PostgreSQL sends, framed in chunks of any size and parsed in place, holds exactly the
//! values a query of the same rows decodes, with NULLs, control characters, backslashes,
//! quotes and non-ASCII text; the statement's literal account id selects exactly that account.

use futures::StreamExt;
use sqlx::{Connection, PgPool};
use taxpoynt_mono::db::ledger::{self, engine_rows};
use uuid::Uuid;

/// A row as both reads give it, owned.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Owned {
    account_id: String,
    transaction_id: String,
    kept: bool,
    credit: Option<bool>,
    amount: Option<i64>,
    currency: Option<String>,
    narration: Option<String>,
    description: Option<String>,
    reference: Option<String>,
    counterparty_name: Option<String>,
    counterparty_account: Option<String>,
    counterparty_bank: Option<String>,
    raw: Option<String>,
}

fn owned(r: engine_rows::EngineRow<'_>) -> Owned {
    let s = |v: Option<&str>| v.map(str::to_owned);
    Owned {
        account_id: r.account_id.to_owned(),
        transaction_id: r.transaction_id.to_owned(),
        kept: r.kept,
        credit: r.credit,
        amount: r.amount,
        currency: s(r.currency),
        narration: s(r.narration),
        description: s(r.description),
        reference: s(r.reference),
        counterparty_name: s(r.counterparty_name),
        counterparty_account: s(r.counterparty_account),
        counterparty_bank: s(r.counterparty_bank),
        raw: s(r.raw),
    }
}

/// The scan's rows through the COPY, its data handed to the framer `chunk` bytes at a time and
/// taken out in batches whenever `batch` bytes of whole rows are ready.
async fn copied(pool: &PgPool, scan: &engine_rows::Scan<'_>, chunk: usize, batch: usize) -> Vec<Owned> {
    let mut conn = pool.acquire().await.unwrap();
    let mut data = ledger::copy_engine_rows(&mut conn, scan).await.unwrap();
    let mut framer = engine_rows::Framer::default();
    let mut batches = Vec::new();
    while let Some(sent) = data.next().await {
        for piece in sent.unwrap().chunks(chunk) {
            framer.push(piece).unwrap();
            if framer.ready() >= batch {
                batches.push(framer.take());
            }
        }
    }
    framer.finish().unwrap();
    batches.push(framer.take());
    batches
        .iter()
        .flat_map(|b| engine_rows::rows(b).map(|r| owned(r.unwrap())))
        .collect()
}

/// The same rows and columns as a query, decoded by sqlx.
async fn selected(pool: &PgPool, env_id: Uuid, account: Option<&str>) -> Vec<Owned> {
    sqlx::query_as(
        "SELECT account_id, transaction_id, transaction IS NOT NULL AS kept, credit, amount, currency, narration,
                description, reference, counterparty_name, counterparty_account, counterparty_bank,
                CASE WHEN credit IS NULL THEN transaction::text END AS raw
         FROM mono_transactions WHERE env_id = $1 AND ($2::text IS NULL OR account_id = $2)",
    )
    .bind(env_id)
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn the_copy_parser_reads_every_value_a_query_reads(pool: PgPool) {
    let (org, env) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query("INSERT INTO organizations (id, name) VALUES ($1, 'Copy Org')")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO environments (id, org_id, name) VALUES ($1, $2, 'sandbox')")
        .bind(env)
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let odd = "tab\there, new\nline, cr\r, back\\slash \\N \\t, quote ' \" , Ọ̀yọ́ ₦5,000 日本 🎉";
    let quoted_account = r"acc'o\b";
    // Every nullable column NULL in some row; both directions; the JSON only where the fields
    // are missing; a row without JSON.
    sqlx::query(
        "INSERT INTO mono_transactions (env_id, account_id, transaction_id, outcome, reason, transaction,
             credit, amount, currency, narration, description, reference, counterparty_name,
             counterparty_account, counterparty_bank)
         SELECT $1, CASE WHEN g % 5 = 0 THEN $3 ELSE 'acc_' || (g % 3) END, 'tx-' || g || $2, 'skipped', 'not_income',
                CASE WHEN g % 7 = 0 THEN NULL ELSE jsonb_build_object('id', 'tx-' || g, 'narration', $2, 'type', 'credit', 'amount', g) END,
                CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END,
                CASE WHEN g % 4 = 0 THEN NULL WHEN g % 9 = 0 THEN -9223372036854775808 ELSE g::int8 * 1000003 - 5000 END,
                CASE WHEN g % 4 = 0 OR g % 6 = 0 THEN NULL ELSE 'NGN' END,
                CASE WHEN g % 4 = 0 THEN NULL WHEN g % 3 = 0 THEN '' ELSE $2 || g END,
                CASE WHEN g % 2 = 0 THEN NULL ELSE repeat($2, g % 40) END,
                CASE WHEN g % 3 = 1 THEN 'INV-' || g END,
                CASE WHEN g % 5 = 1 THEN $2 END,
                CASE WHEN g % 5 = 2 THEN '0123456789' END,
                CASE WHEN g % 5 = 3 THEN 'GTBank' END
         FROM generate_series(1, 3000) AS g",
    )
    .bind(env)
    .bind(odd)
    .bind(quoted_account)
    .execute(&pool)
    .await
    .unwrap();

    let whole = engine_rows::Scan {
        env_id: env,
        account_id: None,
        from: None,
        to: None,
        pages: None,
    };
    let expected = selected(&pool, env, None).await;
    assert_eq!(expected.len(), 3000);
    assert!(expected
        .iter()
        .any(|r| r.narration.as_deref().is_some_and(|n| n.contains('\t'))));
    assert!(
        expected.iter().any(|r| r.raw.is_some()),
        "rows with the JSON only"
    );
    assert!(expected.iter().any(|r| !r.kept), "rows without JSON");
    for (chunk, batch) in [(1, 1), (7, 4096), (1 << 20, 1 << 20)] {
        assert_eq!(
            copied(&pool, &whole, chunk, batch).await,
            expected,
            "{chunk}-byte chunks"
        );
    }

    // The account's literal: exactly its rows, the quote and backslash as given.
    let one = engine_rows::Scan {
        account_id: Some(quoted_account),
        ..whole
    };
    let expected = selected(&pool, env, Some(quoted_account)).await;
    assert_eq!(expected.len(), 600);
    assert_eq!(copied(&pool, &one, 4096, 4096).await, expected);
    // Under the other meaning of backslashes in literals too.
    let mut conn = sqlx::PgConnection::connect_with(&pool.connect_options())
        .await
        .unwrap();
    sqlx::query("SET standard_conforming_strings = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut data = ledger::copy_engine_rows(&mut conn, &one).await.unwrap();
    let mut framer = engine_rows::Framer::default();
    while let Some(sent) = data.next().await {
        framer.push(&sent.unwrap()).unwrap();
    }
    framer.finish().unwrap();
    assert_eq!(engine_rows::rows(&framer.take()).count(), 600);
}

#[sqlx::test]
async fn data_cut_short_or_not_a_copy_is_refused(pool: PgPool) {
    let env = Uuid::new_v4();
    let scan = engine_rows::Scan {
        env_id: env,
        account_id: None,
        from: None,
        to: None,
        pages: None,
    };
    let mut conn = pool.acquire().await.unwrap();
    let mut data = ledger::copy_engine_rows(&mut conn, &scan).await.unwrap();
    let mut all = Vec::new();
    while let Some(sent) = data.next().await {
        all.extend_from_slice(&sent.unwrap());
    }
    drop(data);
    // No rows: the header and the end.
    let mut framer = engine_rows::Framer::default();
    framer.push(&all).unwrap();
    framer.finish().unwrap();
    assert_eq!(framer.ready(), 0);
    // Cut before the end.
    let mut framer = engine_rows::Framer::default();
    framer.push(&all[..all.len() - 1]).unwrap();
    assert!(framer.finish().is_err());
    // Not a binary COPY.
    let mut framer = engine_rows::Framer::default();
    assert!(framer.push(b"account_id\ttransaction_id\n....").is_err());
    // A row of another width.
    let mut framer = engine_rows::Framer::default();
    let mut other = all[..19].to_vec();
    other.extend_from_slice(&[0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']);
    assert!(framer.push(&other).is_err());
    // A batch cut inside a row.
    let row = [&[0u8, 13][..], &[0xff; 4 * 13][..]].concat();
    assert_eq!(engine_rows::rows(&row).count(), 1);
    assert!(engine_rows::rows(&row).next().unwrap().is_err(), "NULL account");
    let cut = [&[0u8, 13, 0, 0, 0, 1, b'a'][..], &[0, 0, 0, 9, b'b']].concat();
    assert!(engine_rows::rows(&cut).next().unwrap().is_err());
}
