//! Allow/deny rules of an environment.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tenancy::Tenant;
use eligibility::{MatchKind, PolicyError, Rule, RuleField, RuleList};

/// A rule as stored; its vocabulary columns are parsed by [`TryFrom`] into the engine's rule.
#[derive(Debug, Clone)]
pub struct RuleRow {
    pub id: Uuid,
    pub list: String,
    pub field: String,
    pub match_kind: String,
    pub pattern: String,
    pub account_id: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<RuleRow> for Rule {
    type Error = PolicyError;

    fn try_from(row: RuleRow) -> Result<Self, PolicyError> {
        Ok(Rule {
            id: row.id.to_string(),
            list: row.list.parse()?,
            account_id: row.account_id,
            field: row.field.parse()?,
            match_kind: row.match_kind.parse()?,
            pattern: row.pattern,
        })
    }
}

pub struct NewRule<'a> {
    pub list: RuleList,
    pub field: RuleField,
    pub match_kind: MatchKind,
    pub pattern: &'a str,
    pub account_id: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// Inserts the rule unless the environment already has `max` rules (None then), inside the
/// caller's transaction. The environment's row is locked first, in a statement of its own, so
/// the count that follows sees every insert committed before: concurrent inserts count one
/// after another and the cap holds.
pub async fn insert(
    tx: &mut sqlx::PgConnection,
    tenant: &Tenant,
    rule: NewRule<'_>,
    max: i64,
) -> Result<Option<RuleRow>, sqlx::Error> {
    sqlx::query!(
        "SELECT id FROM environments WHERE id = $1 AND org_id = $2 FOR UPDATE",
        tenant.env_id,
        tenant.org_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query_as!(
        RuleRow,
        r#"
        INSERT INTO eligibility_rules (id, org_id, env_id, list, field, match_kind, pattern, account_id, note)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
        WHERE (SELECT count(*) FROM eligibility_rules WHERE env_id = $3) < $10
        RETURNING id, list, field, match_kind, pattern, account_id, note, created_at
        "#,
        Uuid::now_v7(),
        tenant.org_id,
        tenant.env_id,
        rule.list.as_str(),
        rule.field.as_str(),
        rule.match_kind.as_str(),
        rule.pattern,
        rule.account_id,
        rule.note,
        max
    )
    .fetch_optional(&mut *tx)
    .await
}

/// Rules of the environment, oldest first (ids are time-ordered), optionally filtered by list
/// and account, after the id `after`, at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    list: Option<RuleList>,
    account_id: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<RuleRow>, sqlx::Error> {
    sqlx::query_as!(
        RuleRow,
        r#"
        SELECT id, list, field, match_kind, pattern, account_id, note, created_at
        FROM eligibility_rules
        WHERE env_id = $1 AND org_id = $2
          AND ($3::text IS NULL OR list = $3)
          AND ($4::text IS NULL OR account_id = $4)
          AND ($5::uuid IS NULL OR id > $5)
        ORDER BY id
        LIMIT $6
        "#,
        tenant.env_id,
        tenant.org_id,
        list.map(RuleList::as_str),
        account_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// Every rule of the environment (all accounts), for compiling its policy.
pub async fn all_for_env(db: impl PgExecutor<'_>, tenant: &Tenant) -> Result<Vec<RuleRow>, sqlx::Error> {
    list(db, tenant, None, None, None, i64::MAX).await
}

pub async fn delete(db: impl PgExecutor<'_>, tenant: &Tenant, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM eligibility_rules WHERE id = $1 AND env_id = $2 AND org_id = $3",
        id,
        tenant.env_id,
        tenant.org_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many rules the environment holds, with the same filters as [`list`].
pub async fn count(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    list: Option<RuleList>,
    account_id: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let n = sqlx::query_scalar!(
        r#"
        SELECT count(*) AS "n!" FROM eligibility_rules
        WHERE env_id = $1 AND org_id = $2
          AND ($3::text IS NULL OR list = $3)
          AND ($4::text IS NULL OR account_id = $4)
        "#,
        tenant.env_id,
        tenant.org_id,
        list.map(RuleList::as_str),
        account_id
    )
    .fetch_one(db)
    .await?;
    Ok(n)
}
