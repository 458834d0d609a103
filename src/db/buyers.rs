//! The buyer directory (`buyers`) and the counterparty keys that match a transaction to an
//! entry (`buyer_match_keys`: account numbers and normalised names, each naming at most one
//! entry of an organization). Per organization: both environments share it.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::party::{Address, Buyer};
use crate::tenancy::Tenant;

/// The kinds of match key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The counterparty's account number.
    Account,
    /// The counterparty's normalised name.
    Name,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Account => "account",
            KeyKind::Name => "name",
        }
    }
}

/// An entry of the directory, with its match keys and how many invoices name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerEntry {
    pub id: Uuid,
    pub name: String,
    pub tin: Option<String>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub address: Option<Address>,
    pub account_numbers: Vec<String>,
    /// Normalised names.
    pub names: Vec<String>,
    /// Invoices (of either environment) whose `buyer_id` is this entry.
    pub invoices: i64,
    pub updated_at: DateTime<Utc>,
}

impl From<BuyerEntry> for Buyer {
    fn from(e: BuyerEntry) -> Self {
        Buyer {
            id: Some(e.id),
            name: e.name,
            tin: e.tin,
            email: e.email,
            telephone: e.telephone,
            address: e.address,
        }
    }
}

struct EntryRow {
    id: Uuid,
    name: String,
    tin: Option<String>,
    email: Option<String>,
    telephone: Option<String>,
    address: Option<Json<Address>>,
    account_numbers: Vec<String>,
    names: Vec<String>,
    invoices: i64,
    updated_at: DateTime<Utc>,
    sort_key: String,
}

impl From<EntryRow> for BuyerEntry {
    fn from(r: EntryRow) -> Self {
        BuyerEntry {
            id: r.id,
            name: r.name,
            tin: r.tin,
            email: r.email,
            telephone: r.telephone,
            address: r.address.map(|a| a.0),
            account_numbers: r.account_numbers,
            names: r.names,
            invoices: r.invoices,
            updated_at: r.updated_at,
        }
    }
}

/// An entry's details as stored.
#[derive(Debug, Clone, Default)]
pub struct BuyerDetails {
    pub name: String,
    pub tin: Option<String>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub address: Option<Address>,
}

/// A change of an entry's details; `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct BuyerChange {
    pub name: Option<String>,
    pub tin: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub telephone: Option<Option<String>>,
    pub address: Option<Option<Address>>,
}

pub async fn get(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
) -> Result<Option<BuyerEntry>, sqlx::Error> {
    let row = sqlx::query_as!(
        EntryRow,
        r#"
        SELECT b.id, b.name, b.tin, b.email, b.telephone, b.address AS "address: Json<Address>",
               coalesce((SELECT array_agg(k.match_key ORDER BY k.match_key) FROM buyer_match_keys k
                         WHERE k.org_id = b.org_id AND k.buyer_id = b.id AND k.kind = 'account'), '{}') AS "account_numbers!",
               coalesce((SELECT array_agg(k.match_key ORDER BY k.match_key) FROM buyer_match_keys k
                         WHERE k.org_id = b.org_id AND k.buyer_id = b.id AND k.kind = 'name'), '{}') AS "names!",
               coalesce((SELECT c.invoices FROM buyer_invoice_counts c WHERE c.org_id = b.org_id AND c.buyer_id = b.id), 0)
                 + coalesce((SELECT sum(d.delta) FROM buyer_invoice_deltas d WHERE d.org_id = b.org_id AND d.buyer_id = b.id), 0)
                 AS "invoices!",
               b.updated_at, lower(b.name) AS "sort_key!"
        FROM buyers b
        WHERE b.id = $1 AND b.org_id = $2
        "#,
        id,
        tenant.org_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(BuyerEntry::from))
}

/// The id of the entry the keys name (account number first), without its details.
pub async fn match_id(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_number: Option<&str>,
    name: Option<&str>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        SELECT buyer_id FROM buyer_match_keys
        WHERE org_id = $1
          AND ((kind = 'account' AND match_key = $2) OR (kind = 'name' AND match_key = $3))
        ORDER BY kind = 'account' DESC
        LIMIT 1
        "#,
        tenant.org_id,
        account_number,
        name
    )
    .fetch_optional(db)
    .await
}

/// A page of the directory by name (case-insensitive), after `after` (the last entry's
/// `(lower(name), id)`), up to `limit + 1` entries so the caller knows whether more follow.
/// `pattern` is a `LIKE` pattern matched against names, case-insensitively, and TINs.
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    pattern: Option<&str>,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<(BuyerEntry, String)>, sqlx::Error> {
    let rows = sqlx::query_as!(
        EntryRow,
        r#"
        SELECT b.id, b.name, b.tin, b.email, b.telephone, b.address AS "address: Json<Address>",
               coalesce((SELECT array_agg(k.match_key ORDER BY k.match_key) FROM buyer_match_keys k
                         WHERE k.org_id = b.org_id AND k.buyer_id = b.id AND k.kind = 'account'), '{}') AS "account_numbers!",
               coalesce((SELECT array_agg(k.match_key ORDER BY k.match_key) FROM buyer_match_keys k
                         WHERE k.org_id = b.org_id AND k.buyer_id = b.id AND k.kind = 'name'), '{}') AS "names!",
               coalesce((SELECT c.invoices FROM buyer_invoice_counts c WHERE c.org_id = b.org_id AND c.buyer_id = b.id), 0)
                 + coalesce((SELECT sum(d.delta) FROM buyer_invoice_deltas d WHERE d.org_id = b.org_id AND d.buyer_id = b.id), 0)
                 AS "invoices!",
               b.updated_at, lower(b.name) AS "sort_key!"
        FROM buyers b
        WHERE b.org_id = $1
          AND ($2::text IS NULL OR b.name_folded LIKE lower($2) OR b.tin LIKE $2)
          AND ($3::text IS NULL OR (lower(b.name), b.id) > ($3, $4::uuid))
        ORDER BY lower(b.name), b.id
        LIMIT $5
        "#,
        tenant.org_id,
        pattern,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit + 1
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let key = r.sort_key.clone();
            (BuyerEntry::from(r), key)
        })
        .collect())
}

/// Folds the invoice-count changes the `invoices` triggers appended into each entry's count
/// (migration `20261210000000_buyer_invoice_counts`), in one statement: a reader sees a
/// change either as a delta or in the count, never both, never neither. Changes of entries
/// deleted since are dropped; an entry being deleted meanwhile is waited for (the fold holds
/// its entries, `FOR KEY SHARE`, before it writes their counts), so its count is never
/// written after it went. Entries and counts are taken in one order, so two folds at once
/// (two replicas) and a deletion wait for each other rather than deadlock. Answers the
/// deltas folded.
pub async fn fold_invoice_counts(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let folded = sqlx::query_scalar!(
        r#"
        WITH taken AS (
            DELETE FROM buyer_invoice_deltas RETURNING org_id, buyer_id, delta
        ), summed AS (
            SELECT org_id, buyer_id, sum(delta) AS delta, count(*) AS n FROM taken GROUP BY org_id, buyer_id
        ), alive AS (
            SELECT b.org_id, b.id FROM buyers b JOIN summed s ON s.org_id = b.org_id AND s.buyer_id = b.id
            ORDER BY b.org_id, b.id
            FOR KEY SHARE OF b
        ), kept AS (
            INSERT INTO buyer_invoice_counts AS c (org_id, buyer_id, invoices)
            SELECT s.org_id, s.buyer_id, s.delta FROM summed s
            JOIN alive a ON a.org_id = s.org_id AND a.id = s.buyer_id
            ORDER BY s.org_id, s.buyer_id
            ON CONFLICT (org_id, buyer_id) DO UPDATE SET invoices = c.invoices + excluded.invoices
        )
        SELECT coalesce(sum(n), 0)::int8 AS "folded!" FROM summed
        "#
    )
    .fetch_one(db)
    .await?;
    Ok(folded as u64)
}

/// Deltas folded at once from which a fold is followed by a VACUUM of the deltas table.
pub const VACUUM_AFTER_FOLDING: u64 = 10_000;

/// [`fold_invoice_counts`], then, after a large fold (a bulk write: a long sync, a purge),
/// a VACUUM of the deltas: a read of an entry's deltas walks the index entries of every
/// folded delta until VACUUM removes them (a page of the directory after a million
/// invoices were drafted took 5 ms more for it). Small folds leave that to autovacuum,
/// which the table's settings wake early (the migration). Answers the deltas folded.
pub async fn settle_invoice_counts(db: &PgPool) -> Result<u64, sqlx::Error> {
    let folded = fold_invoice_counts(db).await?;
    if folded >= VACUUM_AFTER_FOLDING {
        sqlx::query("VACUUM (ANALYZE) buyer_invoice_deltas")
            .execute(db)
            .await?;
    }
    Ok(folded)
}

/// How many entries `pattern` finds (all of them without one).
pub async fn count(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    pattern: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM buyers WHERE org_id = $1 AND ($2::text IS NULL OR name_folded LIKE lower($2) OR tin LIKE $2)"#,
        tenant.org_id,
        pattern
    )
    .fetch_one(db)
    .await?;
    Ok(n)
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    d: &BuyerDetails,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO buyers (id, org_id, name, tin, email, telephone, address)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        "#,
        id,
        tenant.org_id,
        d.name,
        d.tin,
        d.email,
        d.telephone,
        d.address.as_ref().map(Json) as Option<Json<&Address>>
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Changes an entry's details (and `updated_at`, even with nothing to change); false when
/// the organization has no such entry.
pub async fn update(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    c: &BuyerChange,
) -> Result<bool, sqlx::Error> {
    let address = c.address.as_ref().map(|a| a.as_ref().map(Json));
    let done = sqlx::query!(
        r#"
        UPDATE buyers
        SET name = coalesce($3, name),
            tin = CASE WHEN $4 THEN $5 ELSE tin END,
            email = CASE WHEN $6 THEN $7 ELSE email END,
            telephone = CASE WHEN $8 THEN $9 ELSE telephone END,
            address = CASE WHEN $10 THEN $11 ELSE address END,
            updated_at = now()
        WHERE id = $1 AND org_id = $2
        "#,
        id,
        tenant.org_id,
        c.name,
        c.tin.is_some(),
        c.tin.clone().flatten(),
        c.email.is_some(),
        c.email.clone().flatten(),
        c.telephone.is_some(),
        c.telephone.clone().flatten(),
        address.is_some(),
        address.flatten() as Option<Json<&Address>>
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Locks an entry for the caller's transaction; false when the organization has no such entry.
pub async fn lock(db: impl PgExecutor<'_>, tenant: &Tenant, id: Uuid) -> Result<bool, sqlx::Error> {
    let found = sqlx::query_scalar!(
        "SELECT id FROM buyers WHERE id = $1 AND org_id = $2 FOR UPDATE",
        id,
        tenant.org_id
    )
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// Serialises changes of the organization's directory until the transaction ends: two
/// confirmations learning one new counterparty make one entry, not two.
pub async fn lock_directory(db: impl PgExecutor<'_>, tenant: &Tenant) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT 1 AS "locked!" FROM (SELECT pg_advisory_xact_lock(hashtextextended('buyers:' || $1::text, 0))) l"#,
        tenant.org_id.to_string()
    )
    .fetch_one(db)
    .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, tenant: &Tenant, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM buyers WHERE id = $1 AND org_id = $2",
        id,
        tenant.org_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The keys of `keys` that another entry than `id` holds, with that entry.
pub async fn keys_held_elsewhere(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    kind: KeyKind,
    keys: &[String],
    id: Uuid,
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT match_key, buyer_id FROM buyer_match_keys
        WHERE org_id = $1 AND kind = $2 AND match_key = ANY($3) AND buyer_id <> $4
        ORDER BY match_key
        "#,
        tenant.org_id,
        kind.as_str(),
        keys,
        id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.match_key, r.buyer_id)).collect())
}

/// Makes `keys` the entry's keys of `kind`, dropping the others it held.
pub async fn replace_keys(
    conn: &mut PgConnection,
    tenant: &Tenant,
    id: Uuid,
    kind: KeyKind,
    keys: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM buyer_match_keys WHERE org_id = $1 AND buyer_id = $2 AND kind = $3 AND NOT match_key = ANY($4)",
        tenant.org_id,
        id,
        kind.as_str(),
        keys
    )
    .execute(&mut *conn)
    .await?;
    add_keys(&mut *conn, tenant, id, kind, keys, false).await
}

/// Adds keys to an entry. A key another entry holds moves to this one when `take` (the
/// counterparty of a confirmed invoice is this buyer now), else stays where it is.
pub async fn add_keys(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    id: Uuid,
    kind: KeyKind,
    keys: &[String],
    take: bool,
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"
        INSERT INTO buyer_match_keys (org_id, kind, match_key, buyer_id)
        SELECT $1, $2, k, $3 FROM unnest($4::text[]) AS u(k)
        ON CONFLICT (org_id, kind, match_key)
        DO UPDATE SET buyer_id = EXCLUDED.buyer_id, created_at = now() WHERE $5
        "#,
        tenant.org_id,
        kind.as_str(),
        id,
        keys,
        take
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Names the buyer of drafts just stored from the directory: for each `(transaction id,
/// normalised account number, normalised name)` of `account_id`, the entry holding the
/// account number, else the name. Drafts that already name a buyer are left alone.
pub async fn prefill_drafts(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    drafts: &[(String, Option<String>, Option<String>)],
) -> Result<u64, sqlx::Error> {
    let transaction_ids: Vec<&str> = drafts.iter().map(|d| d.0.as_str()).collect();
    let accounts: Vec<Option<&str>> = drafts.iter().map(|d| d.1.as_deref()).collect();
    let names: Vec<Option<&str>> = drafts.iter().map(|d| d.2.as_deref()).collect();
    let done = sqlx::query!(
        r#"
        UPDATE invoices i
        SET buyer = jsonb_strip_nulls(jsonb_build_object(
                'id', b.id, 'name', b.name, 'tin', b.tin, 'email', b.email,
                'telephone', b.telephone, 'address', b.address)),
            buyer_name = b.name,
            buyer_id = b.id
        FROM unnest($4::text[], $5::text[], $6::text[]) AS t(transaction_id, account_key, name_key)
        CROSS JOIN LATERAL (
            SELECT bu.id, bu.name, bu.tin, bu.email, bu.telephone, bu.address
            FROM buyer_match_keys k JOIN buyers bu ON bu.org_id = k.org_id AND bu.id = k.buyer_id
            WHERE k.org_id = $2
              AND ((k.kind = 'account' AND k.match_key = t.account_key)
                   OR (k.kind = 'name' AND k.match_key = t.name_key))
            ORDER BY (k.kind = 'account') DESC
            LIMIT 1
        ) b
        WHERE i.env_id = $1 AND i.org_id = $2 AND i.account_id = $3 AND i.transaction_id = t.transaction_id
          AND i.status = 'DRAFT' AND i.buyer IS NULL
        "#,
        tenant.env_id,
        tenant.org_id,
        account_id,
        &transaction_ids as &[&str],
        &accounts as &[Option<&str>],
        &names as &[Option<&str>]
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
