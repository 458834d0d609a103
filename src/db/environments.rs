//! An environment's own eligibility settings (NULL columns follow the configuration).

use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvSettingsRow {
    pub invoice_currency: Option<String>,
    pub floor_minor: Option<i64>,
    pub reference_regex: Option<String>,
    pub retention_days: Option<i32>,
    pub business_keywords: Option<Vec<String>>,
    pub personal_keywords: Option<Vec<String>>,
    pub refund_keywords: Option<Vec<String>>,
}

pub async fn settings(db: impl PgExecutor<'_>, env_id: Uuid) -> Result<EnvSettingsRow, sqlx::Error> {
    sqlx::query_as!(
        EnvSettingsRow,
        r#"
        SELECT invoice_currency, floor_minor, reference_regex, retention_days,
               business_keywords, personal_keywords, refund_keywords
        FROM environments WHERE id = $1
        "#,
        env_id
    )
    .fetch_one(db)
    .await
}

pub async fn save_settings(
    db: impl PgExecutor<'_>,
    env_id: Uuid,
    row: &EnvSettingsRow,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        UPDATE environments
        SET invoice_currency = $2, floor_minor = $3, reference_regex = $4, retention_days = $5,
            business_keywords = $6, personal_keywords = $7, refund_keywords = $8, updated_at = now()
        WHERE id = $1
        "#,
        env_id,
        row.invoice_currency,
        row.floor_minor,
        row.reference_regex,
        row.retention_days,
        row.business_keywords.as_deref(),
        row.personal_keywords.as_deref(),
        row.refund_keywords.as_deref()
    )
    .execute(db)
    .await?;
    Ok(())
}
