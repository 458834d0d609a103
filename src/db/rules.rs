//! Allow/deny rules of an environment.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::eligibility::{MatchKind, PolicyError, Rule, RuleField, RuleList};
use crate::tenancy::Tenant;

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

pub async fn insert(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    rule: NewRule<'_>,
) -> Result<RuleRow, sqlx::Error> {
    sqlx::query_as!(
        RuleRow,
        r#"
        INSERT INTO eligibility_rules (id, org_id, env_id, list, field, match_kind, pattern, account_id, note)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
        rule.note
    )
    .fetch_one(db)
    .await
}

/// Rules of the environment, oldest first, optionally filtered by list and account.
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    list: Option<RuleList>,
    account_id: Option<&str>,
) -> Result<Vec<RuleRow>, sqlx::Error> {
    sqlx::query_as!(
        RuleRow,
        r#"
        SELECT id, list, field, match_kind, pattern, account_id, note, created_at
        FROM eligibility_rules
        WHERE env_id = $1 AND org_id = $2
          AND ($3::text IS NULL OR list = $3)
          AND ($4::text IS NULL OR account_id = $4)
        ORDER BY created_at, id
        "#,
        tenant.env_id,
        tenant.org_id,
        list.map(RuleList::as_str),
        account_id
    )
    .fetch_all(db)
    .await
}

/// Every rule of the environment (all accounts), for compiling its policy.
pub async fn all_for_env(db: impl PgExecutor<'_>, tenant: &Tenant) -> Result<Vec<RuleRow>, sqlx::Error> {
    list(db, tenant, None, None).await
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
