//! Linked Mono accounts (with their sync cursor) and the refs issued by widget-link.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tenancy::Tenant;

#[derive(Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub org_id: Uuid,
    pub env_id: Uuid,
    pub name: Option<String>,
    pub account_number: Option<String>,
    pub currency: Option<String>,
    pub r#type: Option<String>,
    pub balance: Option<i64>,
    pub bvn_last4: Option<String>,
    pub institution_name: Option<String>,
    pub bank_code: Option<String>,
    pub institution_type: Option<String>,
    pub customer_id: Option<String>,
    pub data_status: Option<String>,
    pub auth_method: Option<String>,
    pub reauth_required: bool,
    pub link_ref: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub unlinked_at: Option<DateTime<Utc>>,
    pub details_fetched_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub sync_cursor: Option<String>,
    pub cursor_updated_at: Option<DateTime<Utc>>,
    /// What Mono has retrieved (`meta.retrieved_data`); None until Mono said.
    pub retrieved_data: Option<Vec<String>>,
    /// Why the last queued sync failed; cleared by a success.
    pub last_sync_error: Option<String>,
    /// Until when queued syncs leave the account alone after failures.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// `ok`, `reauth_required` or `sync_failed` (`unlinked` is read from `unlinked_at`).
    pub connection: String,
    /// The account's unfinished sync job (queued or running), read with the account.
    pub sync_job_id: Option<Uuid>,
    /// `queued` or `running` when there is such a job.
    pub sync_job_status: Option<String>,
}

redact::debug_redacted!(AccountRow { id, org_id, env_id, name, currency, r#type, balance, bvn_last4, institution_name, bank_code, institution_type, customer_id, data_status, auth_method, reauth_required, link_ref, linked_at, unlinked_at, details_fetched_at, last_synced_at, retrieved_data, last_sync_error, next_sync_at, connection, sync_job_id, sync_job_status; account_number });

impl AccountRow {
    /// Whether Mono has the account's transactions: AVAILABLE, or PARTIAL with transactions
    /// among what it retrieved.
    pub fn transactions_ready(&self) -> bool {
        match self.data_status.as_deref() {
            Some("AVAILABLE") => true,
            Some("PARTIAL") => self
                .retrieved_data
                .iter()
                .flatten()
                .any(|d| d.eq_ignore_ascii_case("transactions")),
            _ => false,
        }
    }
}

/// Account details as fetched from Mono, ready to store (BVN already cut to 4 digits).
#[derive(Clone, Default)]
pub struct DetailsUpdate {
    pub name: Option<String>,
    pub account_number: Option<String>,
    pub currency: Option<String>,
    pub r#type: Option<String>,
    pub balance: Option<i64>,
    pub bvn_last4: Option<String>,
    pub institution_name: Option<String>,
    pub bank_code: Option<String>,
    pub institution_type: Option<String>,
    pub customer_id: Option<String>,
    pub data_status: Option<String>,
    pub auth_method: Option<String>,
    pub retrieved_data: Option<Vec<String>>,
}

redact::debug_redacted!(DetailsUpdate { name, currency, r#type, balance, bvn_last4, institution_name, bank_code, institution_type, customer_id, data_status, auth_method, retrieved_data; account_number });

/// Claims a real-time refresh of the account: `Some(None)` when it may go ahead (the claim is
/// recorded), `Some(Some(last))` when the last one was less than `cooldown_secs` ago, `None`
/// when the account is not the tenant's. One statement, so two replicas cannot both claim it.
pub async fn claim_realtime_refresh(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    cooldown_secs: f64,
) -> Result<Option<Option<DateTime<Utc>>>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        WITH account AS (
            SELECT id, realtime_refreshed_at FROM mono_accounts
            WHERE id = $1 AND org_id = $2 AND env_id = $3
        ),
        claimed AS (
            UPDATE mono_accounts m SET realtime_refreshed_at = now()
            FROM account a
            WHERE m.id = a.id
              AND (a.realtime_refreshed_at IS NULL
                   OR a.realtime_refreshed_at <= now() - make_interval(secs => $4))
            RETURNING m.id
        )
        SELECT (SELECT count(*) FROM claimed) AS "claimed!", a.realtime_refreshed_at
        FROM account a
        "#,
        account_id,
        tenant.org_id,
        tenant.env_id,
        cooldown_secs
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        if r.claimed > 0 {
            None
        } else {
            r.realtime_refreshed_at
        }
    }))
}

/// Who holds an account id, whatever the tenant.
pub async fn owner(db: impl PgExecutor<'_>, account_id: &str) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT org_id, env_id FROM mono_accounts WHERE id = $1",
        account_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.org_id, r.env_id)))
}

/// Links (or relinks) an account to the tenant. Does nothing and returns false when another
/// organization or environment holds it.
pub async fn link(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    link_ref: Option<&str>,
    details: Option<&DetailsUpdate>,
) -> Result<bool, sqlx::Error> {
    let d = details.cloned().unwrap_or_default();
    let fetched = details.is_some();
    let done = sqlx::query!(
        r#"
        INSERT INTO mono_accounts AS a (
            id, org_id, env_id, link_ref, name, account_number, currency, type, balance, bvn_last4,
            institution_name, bank_code, institution_type, customer_id, data_status, auth_method,
            details_fetched_at, retrieved_data)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                CASE WHEN $17 THEN now() END, $18)
        ON CONFLICT (id) DO UPDATE SET
            link_ref = COALESCE(EXCLUDED.link_ref, a.link_ref),
            name = COALESCE(EXCLUDED.name, a.name),
            account_number = COALESCE(EXCLUDED.account_number, a.account_number),
            currency = COALESCE(EXCLUDED.currency, a.currency),
            type = COALESCE(EXCLUDED.type, a.type),
            balance = COALESCE(EXCLUDED.balance, a.balance),
            bvn_last4 = COALESCE(EXCLUDED.bvn_last4, a.bvn_last4),
            institution_name = COALESCE(EXCLUDED.institution_name, a.institution_name),
            bank_code = COALESCE(EXCLUDED.bank_code, a.bank_code),
            institution_type = COALESCE(EXCLUDED.institution_type, a.institution_type),
            customer_id = COALESCE(EXCLUDED.customer_id, a.customer_id),
            data_status = COALESCE(EXCLUDED.data_status, a.data_status),
            auth_method = COALESCE(EXCLUDED.auth_method, a.auth_method),
            details_fetched_at = COALESCE(EXCLUDED.details_fetched_at, a.details_fetched_at),
            retrieved_data = COALESCE(EXCLUDED.retrieved_data, a.retrieved_data),
            unlinked_at = NULL,
            linked_at = CASE WHEN a.unlinked_at IS NOT NULL THEN now() ELSE a.linked_at END
        WHERE a.org_id = EXCLUDED.org_id AND a.env_id = EXCLUDED.env_id
        "#,
        account_id,
        tenant.org_id,
        tenant.env_id,
        link_ref,
        d.name,
        d.account_number,
        d.currency,
        d.r#type,
        d.balance,
        d.bvn_last4,
        d.institution_name,
        d.bank_code,
        d.institution_type,
        d.customer_id,
        d.data_status,
        d.auth_method,
        fetched,
        d.retrieved_data.as_deref()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_reauth_required(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    required: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE mono_accounts SET reauth_required = $4,
             connection = CASE WHEN $4 THEN 'reauth_required'
                               WHEN connection = 'reauth_required' THEN 'ok' ELSE connection END
         WHERE id = $1 AND env_id = $2 AND org_id = $3",
        account_id,
        tenant.env_id,
        tenant.org_id,
        required
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as!(
        AccountRow,
        r#"SELECT a.id, a.org_id, a.env_id, a.name, a.account_number, a.currency, a.type AS "type", a.balance,
                  a.bvn_last4, a.institution_name, a.bank_code, a.institution_type, a.customer_id,
                  a.data_status, a.auth_method, a.reauth_required, a.link_ref, a.linked_at, a.unlinked_at,
                  a.details_fetched_at, a.last_synced_at, a.sync_cursor, a.cursor_updated_at,
                  a.retrieved_data, a.last_sync_error, a.next_sync_at, a.connection,
                  j.id AS "sync_job_id?", j.status AS "sync_job_status?"
           FROM mono_accounts a
           LEFT JOIN LATERAL (
               SELECT id, status FROM jobs
               WHERE dedupe_key = 'sync:' || a.env_id || ':' || a.id AND status IN ('queued', 'running')
           ) j ON true
           WHERE a.id = $1 AND a.org_id = $2 AND a.env_id = $3"#,
        account_id,
        tenant.org_id,
        tenant.env_id
    )
    .fetch_optional(db)
    .await
}

/// Linked (not unlinked) accounts of an environment, oldest link first; `connection` Some keeps
/// those in that state.
pub async fn list_linked(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    connection: Option<&str>,
) -> Result<Vec<AccountRow>, sqlx::Error> {
    sqlx::query_as!(
        AccountRow,
        r#"SELECT a.id, a.org_id, a.env_id, a.name, a.account_number, a.currency, a.type AS "type", a.balance,
                  a.bvn_last4, a.institution_name, a.bank_code, a.institution_type, a.customer_id,
                  a.data_status, a.auth_method, a.reauth_required, a.link_ref, a.linked_at, a.unlinked_at,
                  a.details_fetched_at, a.last_synced_at, a.sync_cursor, a.cursor_updated_at,
                  a.retrieved_data, a.last_sync_error, a.next_sync_at, a.connection,
                  j.id AS "sync_job_id?", j.status AS "sync_job_status?"
           FROM mono_accounts a
           LEFT JOIN LATERAL (
               SELECT id, status FROM jobs
               WHERE dedupe_key = 'sync:' || a.env_id || ':' || a.id AND status IN ('queued', 'running')
           ) j ON true
           WHERE a.env_id = $1 AND a.org_id = $2 AND a.unlinked_at IS NULL
             AND ($3::text IS NULL OR a.connection = $3)
           ORDER BY a.linked_at, a.id"#,
        tenant.env_id,
        tenant.org_id,
        connection
    )
    .fetch_all(db)
    .await
}

/// Moves the sync cursor of a still linked account (inside the transaction that commits the
/// page it follows); false when the account was unlinked meanwhile. The row lock it takes
/// orders the page against a concurrent unlink: whichever commits second sees the other.
pub async fn save_cursor(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    cursor: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE mono_accounts SET sync_cursor = $4, cursor_updated_at = now(), last_synced_at = now()
         WHERE id = $1 AND env_id = $2 AND org_id = $3 AND unlinked_at IS NULL",
        account_id,
        tenant.env_id,
        tenant.org_id,
        cursor
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub struct NewLinkRef<'a> {
    pub r#ref: &'a str,
    pub scope: &'a str,
    pub customer_id: Option<&'a str>,
    pub customer_name: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub redirect_url: &'a str,
    pub mono_url: &'a str,
    /// The ref as the client named it (`ref` is the namespaced one Mono sees).
    pub client_ref: &'a str,
}

/// Records a widget-link ref; false when the ref (or the client's ref in the organization) is
/// already taken.
pub async fn insert_link_ref(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    r: NewLinkRef<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"INSERT INTO mono_link_refs (ref, org_id, env_id, scope, customer_id, customer_name, customer_email,
                                       account_id, redirect_url, mono_url, client_ref)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"#,
        r.r#ref,
        tenant.org_id,
        tenant.env_id,
        r.scope,
        r.customer_id,
        r.customer_name,
        r.customer_email,
        r.account_id,
        r.redirect_url,
        r.mono_url,
        r.client_ref
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the organization has issued this ref already (other organizations' refs are not
/// looked at: each organization's refs are its own namespace).
pub async fn client_ref_exists(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    client_ref: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM mono_link_refs WHERE org_id = $1 AND client_ref = $2)",
        tenant.org_id,
        client_ref
    )
    .fetch_one(db)
    .await?
    .unwrap_or(false))
}

/// A ref issued to the tenant's environment, named as the client knows it or as Mono echoes
/// it; answers the ref Mono knows.
pub async fn find_link_ref_of(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    r#ref: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT ref FROM mono_link_refs WHERE org_id = $1 AND env_id = $2 AND (client_ref = $3 OR ref = $3)
         ORDER BY (client_ref = $3) DESC LIMIT 1",
        tenant.org_id,
        tenant.env_id,
        r#ref
    )
    .fetch_optional(db)
    .await
}

/// Whether a Mono customer id was seen in the organization (a link or an account of it).
pub async fn customer_seen(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    customer_id: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM mono_link_refs WHERE org_id = $1 AND customer_id = $2)
             OR EXISTS (SELECT 1 FROM mono_accounts WHERE org_id = $1 AND customer_id = $2)",
        tenant.org_id,
        customer_id
    )
    .fetch_one(db)
    .await?
    .unwrap_or(false))
}

pub struct LinkRefRow {
    pub org_id: Uuid,
    pub env_id: Uuid,
    pub scope: String,
    pub account_id: Option<String>,
}

/// The ref's tenant and scope, whoever asks (webhooks carry no key).
pub async fn find_link_ref(db: impl PgExecutor<'_>, r#ref: &str) -> Result<Option<LinkRefRow>, sqlx::Error> {
    sqlx::query_as!(
        LinkRefRow,
        "SELECT org_id, env_id, scope, account_id FROM mono_link_refs WHERE ref = $1",
        r#ref
    )
    .fetch_optional(db)
    .await
}

/// Whether the tenant's account was unlinked after the widget-link ref `r` was issued: a late
/// `account_connected` of that ref must not link it again. Locks the account's row for the
/// caller's transaction, so an unlink cannot land between this answer and the link.
pub async fn unlinked_since_ref(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    r#ref: &str,
) -> Result<bool, sqlx::Error> {
    let since = sqlx::query_scalar!(
        r#"SELECT COALESCE(a.unlinked_at > l.created_at, false) AS "since!"
           FROM mono_accounts a JOIN mono_link_refs l ON l.ref = $4
           WHERE a.id = $1 AND a.env_id = $2 AND a.org_id = $3
           FOR UPDATE OF a"#,
        account_id,
        tenant.env_id,
        tenant.org_id,
        r#ref
    )
    .fetch_optional(db)
    .await?;
    Ok(since.unwrap_or(false))
}

pub async fn complete_link_ref(db: impl PgExecutor<'_>, r#ref: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE mono_link_refs SET completed_at = COALESCE(completed_at, now()) WHERE ref = $1",
        r#ref
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Counts of what a purge removed.
#[derive(
    Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema,
)]
pub struct Purged {
    pub invoices: i64,
    pub dlq: i64,
    pub events: i64,
}

/// Deletes an account's Mono invoices (never a SIGNED one), DLQ records, eligibility and monitoring events and its
/// ledger, and forgets its cursor, in one statement inside the caller's transaction.
///
/// The invoices' DELETE states its whole predicate on the row it deletes (no sub-select), so
/// an invoice signed by a transaction that commits while the DELETE waits on its row lock is
/// re-read under READ COMMITTED, found SIGNED and kept; its payments (`invoice_payments`,
/// deleted only by the cascade from their invoice) stay with it. The
/// `invoices_signed_never_deleted` trigger refuses any SIGNED row that would get through.
pub async fn purge(
    tx: &mut sqlx::PgConnection,
    tenant: &Tenant,
    account_id: &str,
) -> Result<Purged, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        WITH invoices AS (
            DELETE FROM invoices
            WHERE env_id = $1 AND account_id = $2 AND source = 'mono' AND status <> 'SIGNED' RETURNING 1
        ),
        dlq AS (DELETE FROM dlq_records WHERE env_id = $1 AND account_id = $2 RETURNING 1),
        events AS (DELETE FROM eligibility_events WHERE env_id = $1 AND account_id = $2 RETURNING 1),
        monitoring AS (DELETE FROM monitoring_events WHERE env_id = $1 AND account_id = $2 RETURNING 1),
        ledger AS (DELETE FROM mono_transactions WHERE env_id = $1 AND account_id = $2 RETURNING 1),
        cursor AS (
            UPDATE mono_accounts SET sync_cursor = NULL, cursor_updated_at = NULL WHERE id = $2 AND env_id = $1 RETURNING 1
        )
        SELECT (SELECT count(*) FROM invoices) AS "invoices!",
               (SELECT count(*) FROM dlq) AS "dlq!",
               (SELECT count(*) FROM events) AS "events!"
        "#,
        tenant.env_id,
        account_id
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Purged {
        invoices: row.invoices,
        dlq: row.dlq,
        events: row.events,
    })
}

/// Every account of the environment (linked or not) with its currency: what a decision of a
/// stored transaction needs when the transaction names none.
pub async fn currencies(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
) -> Result<std::collections::HashMap<String, Option<String>>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, currency FROM mono_accounts WHERE env_id = $1 AND org_id = $2",
        tenant.env_id,
        tenant.org_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.currency)).collect())
}

/// Refreshes an account of the tenant from Mono or a webhook (absent values keep what is stored);
/// `reauth_required` Some sets or clears the flag. False when the tenant has no such account.
pub async fn update_details(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    d: &DetailsUpdate,
    reauth_required: Option<bool>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE mono_accounts SET
            name = COALESCE($4, name),
            account_number = COALESCE($5, account_number),
            currency = COALESCE($6, currency),
            type = COALESCE($7, type),
            balance = COALESCE($8, balance),
            bvn_last4 = COALESCE($9, bvn_last4),
            institution_name = COALESCE($10, institution_name),
            bank_code = COALESCE($11, bank_code),
            institution_type = COALESCE($12, institution_type),
            customer_id = COALESCE($13, customer_id),
            data_status = COALESCE($14, data_status),
            auth_method = COALESCE($15, auth_method),
            reauth_required = COALESCE($16, reauth_required),
            connection = CASE WHEN $16 THEN 'reauth_required'
                              WHEN NOT $16 AND connection = 'reauth_required' THEN 'ok'
                              ELSE connection END,
            retrieved_data = COALESCE($17, retrieved_data),
            details_fetched_at = now()
        WHERE id = $1 AND env_id = $2 AND org_id = $3
        "#,
        account_id,
        tenant.env_id,
        tenant.org_id,
        d.name,
        d.account_number,
        d.currency,
        d.r#type,
        d.balance,
        d.bvn_last4,
        d.institution_name,
        d.bank_code,
        d.institution_type,
        d.customer_id,
        d.data_status,
        d.auth_method,
        reauth_required,
        d.retrieved_data.as_deref()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks an account of the tenant unlinked (Mono said so); false when there is no such account.
pub async fn mark_unlinked(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE mono_accounts SET unlinked_at = COALESCE(unlinked_at, now())
         WHERE id = $1 AND env_id = $2 AND org_id = $3",
        account_id,
        tenant.env_id,
        tenant.org_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed queued sync: the error, and the account left alone for 1 minute after
/// the first failure, doubling per failure in a row up to 1 hour. Answers when it is due again.
pub async fn record_sync_failure(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    error: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"UPDATE mono_accounts SET
               sync_failures = sync_failures + 1,
               last_sync_error = $4,
               next_sync_at = now() + make_interval(
                   secs => least($5 * power(2, least(sync_failures, 20)), $6))
           WHERE id = $1 AND env_id = $2 AND org_id = $3
           RETURNING next_sync_at AS "next_sync_at!""#,
        account_id,
        tenant.env_id,
        tenant.org_id,
        error,
        SYNC_BACKOFF_FIRST_SECS,
        SYNC_BACKOFF_MAX_SECS
    )
    .fetch_optional(db)
    .await
}

/// The first wait after a failed queued sync, and the longest.
pub const SYNC_BACKOFF_FIRST_SECS: f64 = 60.0;
pub const SYNC_BACKOFF_MAX_SECS: f64 = 3600.0;

/// Ends an account's backoff, and a `sync_failed` connection, after a sync that succeeded
/// (writes only when there is one); `reauth_required` stays until Mono says reauthorised.
pub async fn clear_sync_failure(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE mono_accounts SET sync_failures = 0, last_sync_error = NULL, next_sync_at = NULL,
             connection = CASE WHEN connection = 'sync_failed' THEN 'ok' ELSE connection END
         WHERE id = $1 AND env_id = $2 AND org_id = $3
           AND (sync_failures > 0 OR last_sync_error IS NOT NULL OR next_sync_at IS NOT NULL
                OR connection = 'sync_failed')",
        account_id,
        tenant.env_id,
        tenant.org_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Mono reported a failed sync of the account (`mono.events.sync_failed`): the connection is
/// `sync_failed` with the reason, unless the customer must reauthorise anyway (the stronger
/// state). False when the tenant has no such account.
pub async fn mark_sync_failed(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    account_id: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE mono_accounts SET last_sync_error = $4,
             connection = CASE WHEN connection = 'reauth_required' THEN connection ELSE 'sync_failed' END
         WHERE id = $1 AND env_id = $2 AND org_id = $3",
        account_id,
        tenant.env_id,
        tenant.org_id,
        error
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
