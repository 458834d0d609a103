//! The buyer directory (`/si/buyers`): adding, reading, changing and deleting entries, search
//! and paging, every bad field named at once, another organization's entries unseen (404),
//! and the matching the invoice code relies on: `learn` at confirmation and `find_match` at
//! drafting, by account number first and normalised name second.

use serde_json::{json, Value};
use sqlx::PgPool;
use taxpoynt_mono::party::{Address, Buyer};
use taxpoynt_mono::services::buyers::{find_match, learn, normalise_name};
use taxpoynt_mono::tenancy::{EnvName, Tenant};
use uuid::Uuid;

use crate::helpers::*;

fn bad_fields(resp: &Value) -> Vec<String> {
    let mut named: Vec<String> = resp["error"]["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("no error.fields: {resp}"))
        .keys()
        .cloned()
        .collect();
    named.sort();
    named
}

fn system_tenant(app: &TestApp) -> Tenant {
    let env_id = app.env_id("sandbox").parse().unwrap();
    Tenant::system(app.tenant.org_id, env_id, EnvName::Sandbox)
}

#[sqlx::test]
async fn a_buyer_is_added_read_changed_and_deleted(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let b: BuyerView = app
        .create(
            "/si/buyers",
            json!({
                "name": " Bola Stores Ltd ",
                "tin": "23456789-0001",
                "email": "accounts@bolastores.ng",
                "telephone": "+234 801 234 5678",
                "address": {"street": "4 Allen Avenue", "city": "Ikeja", "country": "NG", "state": "NG-LA"},
                "match": {"accountNumbers": ["0123-456-789"]}
            }),
        )
        .await;
    assert_eq!(b.name, "Bola Stores Ltd");
    assert_eq!(b.tin.as_deref(), Some("23456789-0001"));
    assert_eq!(b.telephone.as_deref(), Some("+234 801 234 5678"));
    assert_eq!(b.address.as_ref().unwrap()["city"], "Ikeja");
    assert_eq!(b.match_keys.account_numbers, ["0123456789"]);
    // Without names of its own, the entry matches by its name.
    assert_eq!(b.match_keys.names, ["BOLA STORES LTD"]);
    assert_eq!(b.invoices, 0);

    let read: BuyerView = app.get(&format!("/si/buyers/{}", b.id)).await;
    assert_eq!(read, b);

    // Absent fields stay, null clears, a match list given replaces that list.
    let changed: BuyerView = app
        .put(
            &format!("/si/buyers/{}", b.id),
            json!({"email": "billing@bolastores.ng", "telephone": null,
                   "match": {"names": ["Bola Stores Limited", "BOLA STORES IKEJA", "bola stores ltd."]}}),
        )
        .await;
    assert_eq!(changed.name, "Bola Stores Ltd");
    assert_eq!(changed.email.as_deref(), Some("billing@bolastores.ng"));
    assert_eq!(changed.telephone, None);
    assert_eq!(changed.tin.as_deref(), Some("23456789-0001"));
    assert_eq!(changed.match_keys.account_numbers, ["0123456789"]);
    assert_eq!(changed.match_keys.names, ["BOLA STORES IKEJA", "BOLA STORES LTD"]);
    assert!(changed.updated_at >= b.updated_at);

    // An invoice naming the entry is counted, whichever environment it is in.
    let production: Uuid = app.env_id("production").parse().unwrap();
    sqlx::query(
        "INSERT INTO invoices (id, org_id, env_id, source, kind, amount, currency, buyer_id)
         VALUES ($1, $2, $3, 'manual', 'invoice', 1000, 'NGN', $4)",
    )
    .bind(Uuid::now_v7())
    .bind(app.tenant.org_id)
    .bind(production)
    .bind(b.id)
    .execute(&app.pool)
    .await
    .expect("invoice stored");
    let counted: BuyerView = app.get(&format!("/si/buyers/{}", b.id)).await;
    assert_eq!(counted.invoices, 1);
    // Both environments share the directory.
    let from_production: BuyerView = app.get(&format!("/si/buyers/{}?env=production", b.id)).await;
    assert_eq!(from_production.id, b.id);

    let deleted: Value = app.delete(&format!("/si/buyers/{}", b.id)).await;
    assert_eq!(deleted, json!({"id": b.id, "deleted": true}));
    let (status, resp) = app.get_raw(&format!("/si/buyers/{}", b.id)).await;
    assert_eq!(status, 404, "{resp}");
    let (status, _) = app.delete_raw(&format!("/si/buyers/{}", b.id)).await;
    assert_eq!(status, 404);
    let left = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM buyer_match_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "an entry's keys go with it");
}

#[sqlx::test]
async fn the_directory_is_searched_by_name_and_tin_and_paged(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    for (name, tin) in [
        ("Zenith Traders", Some("11111111-0001")),
        ("bola stores ltd", None),
        ("Ade Ventures", Some("22222222-0001")),
        ("Bolatito Foods", None),
        ("100% Pure_Water", None),
    ] {
        let _: BuyerView = app.create("/si/buyers", json!({"name": name, "tin": tin})).await;
    }
    let (all, meta) = app.get_page::<BuyerView>("/si/buyers").await;
    let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "100% Pure_Water",
            "Ade Ventures",
            "bola stores ltd",
            "Bolatito Foods",
            "Zenith Traders"
        ]
    );
    assert_eq!((meta.total, meta.next), (Some(5), None));

    let (found, meta) = app.get_page::<BuyerView>("/si/buyers?q=BOLA").await;
    let names: Vec<&str> = found.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["bola stores ltd", "Bolatito Foods"]);
    assert_eq!(meta.total, Some(2));
    let (found, _) = app.get_page::<BuyerView>("/si/buyers?q=22222222").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "Ade Ventures");
    // `%` and `_` are searched for, not wildcards.
    for q in ["%25", "_"] {
        let (found, _) = app.get_page::<BuyerView>(&format!("/si/buyers?q={q}")).await;
        let names: Vec<&str> = found.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["100% Pure_Water"], "q={q}");
    }

    // Pages of two follow one another to the end.
    let mut seen = Vec::new();
    let mut path = "/si/buyers?limit=2".to_string();
    loop {
        let (page, meta) = app.get_page::<BuyerView>(&path).await;
        assert!(page.len() <= 2);
        assert_eq!(meta.total, Some(5));
        assert_eq!(meta.pages, Some(3));
        seen.extend(page.into_iter().map(|b| b.name));
        match meta.next {
            Some(next) => path = format!("/si/buyers?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[2], "bola stores ltd");

    let (status, resp) = app.get_raw("/si/buyers?limit=0&cursor=nope").await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(bad_fields(&resp), ["cursor", "limit"]);
}

#[sqlx::test]
async fn a_bad_buyer_names_every_bad_field_and_saves_nothing(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let (status, resp) = app
        .post_raw(
            "/si/buyers",
            json!({"tin": "12ab", "email": "no-at-sign", "telephone": "08012345678",
                   "address": {"street": "", "country": "Nigeria"},
                   "match": {"accountNumbers": ["01/23"]}}),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(
        bad_fields(&resp),
        [
            "address.city",
            "address.country",
            "address.street",
            "email",
            "match.accountNumbers[0]",
            "name",
            "telephone",
            "tin"
        ]
    );
    let (_, meta) = app.get_page::<BuyerView>("/si/buyers").await;
    assert_eq!(meta.total, Some(0));

    let b: BuyerView = app.create("/si/buyers", json!({"name": "Ade Ventures"})).await;
    let (status, resp) = app
        .put_raw(
            &format!("/si/buyers/{}", b.id),
            json!({"name": null, "email": "x@y", "address": "12 Marina"}),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(bad_fields(&resp), ["address", "email", "name"]);
    let same: BuyerView = app.get(&format!("/si/buyers/{}", b.id)).await;
    assert_eq!(same, b);

    // A key names one entry: another entry asking for it is refused.
    let (status, resp) = app
        .post_raw(
            "/si/buyers",
            json!({"name": "Ade Ventures Two", "match": {"names": ["ADE VENTURES"]}}),
        )
        .await;
    assert_eq!(status, 409, "{resp}");
    assert_eq!(resp["error"]["code"], "match_taken");
    assert_eq!(resp["error"]["buyerId"], b.id.to_string());
}

#[sqlx::test]
async fn another_organizations_buyer_is_not_found(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let other = tenants::create_tenant(&pool, "Other Org").await.unwrap();
    let theirs: BuyerView = TestApp::builder(pool)
        .tenant(other.clone())
        .start()
        .await
        .create("/si/buyers", json!({"name": "Their Buyer"}))
        .await;
    let path = format!("/si/buyers/{}", theirs.id);
    let (status, resp) = app.get_raw(&path).await;
    assert_eq!(status, 404, "{resp}");
    let (status, resp) = app.put_raw(&path, json!({"name": "Mine now"})).await;
    assert_eq!(status, 404, "{resp}");
    let (status, resp) = app.delete_raw(&path).await;
    assert_eq!(status, 404, "{resp}");
    let (mine, _) = app.get_page::<BuyerView>("/si/buyers?q=Their").await;
    assert!(mine.is_empty(), "{mine:?}");

    // Nor can `learn` write to it, or `find_match` see it.
    let application = app.replica().application().await;
    let state = application.state();
    let tenant = system_tenant(&app);
    let mut tx = state.db.begin().await.unwrap();
    let buyer = Buyer {
        id: Some(theirs.id),
        name: "Their Buyer".into(),
        ..Buyer::default()
    };
    let refused = learn(&mut tx, &tenant, &buyer, None, Some("Their Buyer")).await;
    let Err(taxpoynt_mono::error::ApiError::BadRequest { fields, .. }) = refused else {
        panic!("expected a 400, got {refused:?}")
    };
    assert!(fields.contains_key("buyer.id"), "{fields:?}");
    drop(tx);
    let seen = find_match(&state.db, &tenant, None, Some("their buyer"))
        .await
        .unwrap();
    assert!(seen.is_none(), "{seen:?}");
}

#[sqlx::test]
async fn learning_at_confirmation_fills_and_matches_the_directory(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let application = app.replica().application().await;
    let state = application.state();
    let tenant = system_tenant(&app);

    // A new counterparty makes an entry, matched afterwards by its normalised name.
    let mut tx = state.db.begin().await.unwrap();
    let first = learn(
        &mut tx,
        &tenant,
        &Buyer {
            name: "Bola Stores Ltd".into(),
            ..Buyer::default()
        },
        None,
        Some("BOLA STORES LIMITED"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for name in ["Bola Stores Ltd.", "bola-stores ltd", "BOLA  STORES, LIMITED"] {
        let hit = find_match(&state.db, &tenant, None, Some(name))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} matches"));
        assert_eq!(hit.id, first);
    }
    assert_eq!(normalise_name("Bola Stores Ltd."), "BOLA STORES LTD");
    assert!(find_match(&state.db, &tenant, None, Some("Bola Store"))
        .await
        .unwrap()
        .is_none());

    // The same counterparty again updates that entry (details left out are kept) and adds
    // the account number it now carries.
    let address = Address {
        street: "4 Allen Avenue".into(),
        city: "Ikeja".into(),
        postal_zone: None,
        country: "NG".into(),
        state: Some("NG-LA".into()),
        lga: None,
    };
    let mut tx = state.db.begin().await.unwrap();
    let again = learn(
        &mut tx,
        &tenant,
        &Buyer {
            name: "Bola Stores Limited".into(),
            tin: Some("23456789-0001".into()),
            address: Some(address.clone()),
            ..Buyer::default()
        },
        Some("0123456789"),
        Some("Bola Stores Ltd"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(again, first);
    let entry: BuyerView = app.get(&format!("/si/buyers/{first}")).await;
    assert_eq!(entry.name, "Bola Stores Limited");
    assert_eq!(entry.tin.as_deref(), Some("23456789-0001"));
    assert_eq!(entry.match_keys.account_numbers, ["0123456789"]);
    assert_eq!(entry.match_keys.names, ["BOLA STORES LTD"]);

    let mut tx = state.db.begin().await.unwrap();
    let kept = learn(
        &mut tx,
        &tenant,
        &Buyer {
            id: Some(first),
            name: "Bola Stores Limited".into(),
            email: Some("accounts@bolastores.ng".into()),
            ..Buyer::default()
        },
        None,
        Some("B. STORES IKEJA"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(kept, first);
    let entry = find_match(&state.db, &tenant, None, Some("b stores ikeja"))
        .await
        .unwrap()
        .expect("the new name matches");
    assert_eq!(entry.id, first);
    assert_eq!(entry.tin.as_deref(), Some("23456789-0001"), "kept");
    assert_eq!(entry.email.as_deref(), Some("accounts@bolastores.ng"));
    let as_buyer = Buyer::from(entry);
    assert_eq!(as_buyer.id, Some(first));
    assert_eq!(as_buyer.address, Some(address));

    // Bad details are named, nothing is written.
    let mut tx = state.db.begin().await.unwrap();
    let refused = learn(
        &mut tx,
        &tenant,
        &Buyer {
            name: " ".into(),
            tin: Some("x".into()),
            telephone: Some("0801".into()),
            ..Buyer::default()
        },
        None,
        Some("Someone New"),
    )
    .await;
    let Err(taxpoynt_mono::error::ApiError::BadRequest { fields, .. }) = refused else {
        panic!("expected a 400, got {refused:?}")
    };
    let named: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(named, ["buyer.name", "buyer.telephone", "buyer.tin"]);
}

#[sqlx::test]
async fn the_account_number_wins_over_the_name(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let application = app.replica().application().await;
    let state = application.state();
    let tenant = system_tenant(&app);
    let bola: BuyerView = app
        .create(
            "/si/buyers",
            json!({"name": "Bola Stores Ltd", "match": {"accountNumbers": ["0123456789"]}}),
        )
        .await;
    let ade: BuyerView = app
        .create(
            "/si/buyers",
            json!({"name": "Ade Ventures", "match": {"accountNumbers": ["9999999999"], "names": ["Ade Ventures", "ADE V"]}}),
        )
        .await;

    let hit = |account: Option<&'static str>, name: Option<&'static str>| {
        let db = state.db.clone();
        let tenant = tenant.clone();
        async move {
            find_match(&db, &tenant, account, name)
                .await
                .unwrap()
                .map(|e| e.id)
        }
    };
    // The account number decides when an entry holds it, whatever the name says.
    assert_eq!(hit(Some("0123456789"), Some("Ade Ventures")).await, Some(bola.id));
    assert_eq!(
        hit(Some("999 999 9999"), Some("Bola Stores Ltd")).await,
        Some(ade.id)
    );
    // An account number no entry holds: the name decides.
    assert_eq!(hit(Some("5555555555"), Some("ade-v")).await, Some(ade.id));
    assert_eq!(hit(None, Some("BOLA STORES LIMITED")).await, Some(bola.id));
    assert_eq!(hit(Some("5555555555"), Some("Nobody")).await, None);
    assert_eq!(hit(None, None).await, None);

    // A confirmed invoice moves a key: the counterparty is that buyer now.
    let mut tx = state.db.begin().await.unwrap();
    let id = learn(
        &mut tx,
        &tenant,
        &Buyer {
            id: Some(ade.id),
            name: "Ade Ventures".into(),
            ..Buyer::default()
        },
        Some("0123456789"),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(id, ade.id);
    assert_eq!(hit(Some("0123456789"), Some("Bola Stores")).await, Some(ade.id));
    let bola_now: BuyerView = app.get(&format!("/si/buyers/{}", bola.id)).await;
    assert!(bola_now.match_keys.account_numbers.is_empty(), "{bola_now:?}");
}

/// A tiny deterministic generator for the writers' choices (xorshift64*).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Every entry's `invoices` as one snapshot reads it: the directory's answer beside a count
/// of the invoices themselves, both read in one REPEATABLE READ transaction.
async fn counts_in_one_snapshot(app: &TestApp, tenant: &Tenant) -> Vec<(Uuid, i64, i64)> {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .unwrap();
    let listed = db::buyers::list(&mut *tx, tenant, None, None, 100).await.unwrap();
    let mut out = Vec::new();
    for (entry, _) in listed {
        let counted: i64 =
            sqlx::query_scalar("SELECT count(*) FROM invoices WHERE org_id = $1 AND buyer_id = $2")
                .bind(tenant.org_id)
                .bind(entry.id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        out.push((entry.id, entry.invoices, counted));
    }
    tx.commit().await.unwrap();
    out
}

/// An entry's `invoices` is kept as the writes happen (deltas appended by triggers, folded
/// into a count every second), not counted at each read: it stays exact through concurrent
/// writers inserting, re-pointing and deleting invoices in multi-statement transactions (some
/// rolled back), folds running beside them (the worker's, every second, and a tight loop of
/// its own), an entry deleted midway, and readers checking in one snapshot that the answer
/// equals a count of the invoices.
#[sqlx::test]
async fn an_entrys_invoice_count_stays_exact_through_concurrent_writes_and_folds(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let tenant = system_tenant(&app);
    let mut buyers = Vec::new();
    for name in ["Ade Ventures", "Bola Stores", "Chika Foods", "Dapo Motors"] {
        let b: BuyerView = app.create("/si/buyers", json!({ "name": name })).await;
        buyers.push(b.id);
    }
    let env: Uuid = app.env_id("sandbox").parse().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let folder = {
        let (pool, stop) = (app.pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut folds = 0u64;
            while !stop.is_cancelled() {
                db::buyers::fold_invoice_counts(&pool).await.expect("fold");
                folds += 1;
            }
            folds
        })
    };
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (pool, buyers, org) = (app.pool.clone(), buyers.clone(), app.tenant.org_id);
        writers.push(tokio::spawn(async move {
            let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (w + 1));
            // Each writer changes its own invoices: the buyers are what they share.
            let mut mine: Vec<Uuid> = Vec::new();
            for _ in 0..40 {
                let mut tx = pool.begin().await.unwrap();
                for _ in 0..1 + dice.below(4) {
                    let buyer = match dice.below(5) {
                        4 => None,
                        i => Some(buyers[i as usize]),
                    };
                    match dice.below(4) {
                        0 | 1 => {
                            let id = Uuid::now_v7();
                            sqlx::query(
                                "INSERT INTO invoices (id, org_id, env_id, source, kind, amount, currency, buyer_id)
                                 VALUES ($1, $2, $3, 'manual', 'invoice', 1000, 'NGN', $4)",
                            )
                            .bind(id)
                            .bind(org)
                            .bind(env)
                            .bind(buyer)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                            mine.push(id);
                        }
                        2 if !mine.is_empty() => {
                            let id = mine[dice.below(mine.len() as u64) as usize];
                            sqlx::query("UPDATE invoices SET buyer_id = $2 WHERE id = $1")
                                .bind(id)
                                .bind(buyer)
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                        }
                        3 if !mine.is_empty() => {
                            let id = mine.swap_remove(dice.below(mine.len() as u64) as usize);
                            sqlx::query("DELETE FROM invoices WHERE id = $1")
                                .bind(id)
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                        }
                        _ => {}
                    }
                }
                if dice.below(6) == 0 {
                    // What a rolled-back transaction appended goes with it. (`mine` may now
                    // name invoices that do not exist: changing those changes nothing.)
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                }
            }
        }));
    }
    // Checked until the writers are done, and once after; an entry is deleted after the first.
    let deleted = buyers[3];
    let mut checks = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        for (id, answered, counted) in counts_in_one_snapshot(&app, &tenant).await {
            assert_eq!(answered, counted, "entry {id}, check {checks}");
        }
        checks += 1;
        if checks == 1 {
            let _: Value = app.delete(&format!("/si/buyers/{deleted}")).await;
        }
        if done {
            break;
        }
    }
    for w in writers {
        w.await.expect("writer");
    }
    stop.cancel();
    let folds = folder.await.expect("folder");
    assert!(folds > 0);
    db::buyers::fold_invoice_counts(&app.pool).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM buyer_invoice_deltas")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "every delta folded, those of the deleted entry dropped");
    let mut total = 0;
    for id in buyers.iter().filter(|id| **id != deleted) {
        let entry: BuyerView = app.get(&format!("/si/buyers/{id}")).await;
        let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE buyer_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(entry.invoices, counted, "entry {id}");
        total += counted;
    }
    assert!(total > 0, "the writers named the entries");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM buyer_invoice_counts WHERE buyer_id = $1")
        .bind(deleted)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 0, "a deleted entry's count goes with it");
}
