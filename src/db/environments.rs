//! An environment's own eligibility settings: each column is NULL while the environment
//! follows the configuration.

use sqlx::PgExecutor;

use crate::tenancy::Tenant;
use eligibility::Overrides;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvSettings {
    pub overrides: Overrides,
    pub retention_days: Option<i32>,
}

pub async fn settings(db: impl PgExecutor<'_>, tenant: &Tenant) -> Result<EnvSettings, sqlx::Error> {
    let r = sqlx::query!(
        r#"
        SELECT invoice_currency, floor_minor, reference_regex, retention_days,
               business_keywords, personal_keywords, refund_keywords
        FROM environments WHERE id = $1 AND org_id = $2
        "#,
        tenant.env_id,
        tenant.org_id
    )
    .fetch_one(db)
    .await?;
    Ok(EnvSettings {
        overrides: Overrides {
            floor_minor: r.floor_minor,
            reference_regex: r.reference_regex,
            invoice_currency: r.invoice_currency,
            business_keywords: r.business_keywords,
            personal_keywords: r.personal_keywords,
            refund_keywords: r.refund_keywords,
        },
        retention_days: r.retention_days,
    })
}

/// The environment's policy revision: moved by the database whenever its settings or rules
/// change (migration `policy_revision`), so a cached compiled policy can be checked cheaply.
pub async fn policy_revision(db: impl PgExecutor<'_>, tenant: &Tenant) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT policy_revision FROM environments WHERE id = $1 AND org_id = $2",
        tenant.env_id,
        tenant.org_id
    )
    .fetch_one(db)
    .await
}

pub async fn save_settings(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
    row: &EnvSettings,
) -> Result<(), sqlx::Error> {
    let o = &row.overrides;
    sqlx::query!(
        r#"
        UPDATE environments
        SET invoice_currency = $3, floor_minor = $4, reference_regex = $5, retention_days = $6,
            business_keywords = $7, personal_keywords = $8, refund_keywords = $9, updated_at = now()
        WHERE id = $1 AND org_id = $2
        "#,
        tenant.env_id,
        tenant.org_id,
        o.invoice_currency,
        o.floor_minor,
        o.reference_regex,
        row.retention_days,
        o.business_keywords.as_deref(),
        o.personal_keywords.as_deref(),
        o.refund_keywords.as_deref()
    )
    .execute(db)
    .await?;
    Ok(())
}
