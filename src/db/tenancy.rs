//! Organizations, environments and API keys.

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::tenancy::{EnvName, Role};

use super::unknown_value;

pub struct NewOrganization {
    pub org_id: Uuid,
    pub environments: Vec<(Uuid, EnvName)>,
}

/// Creates an organization with its `sandbox` and `production` environments.
pub async fn create_organization(
    tx: &mut sqlx::PgConnection,
    name: &str,
) -> Result<NewOrganization, sqlx::Error> {
    let org_id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO organizations (id, name) VALUES ($1, $2)",
        org_id,
        name
    )
    .execute(&mut *tx)
    .await?;
    let mut environments = Vec::new();
    for env in [EnvName::Sandbox, EnvName::Production] {
        let env_id = Uuid::now_v7();
        sqlx::query!(
            "INSERT INTO environments (id, org_id, name) VALUES ($1, $2, $3)",
            env_id,
            org_id,
            env.as_str()
        )
        .execute(&mut *tx)
        .await?;
        environments.push((env_id, env));
    }
    Ok(NewOrganization { org_id, environments })
}

pub async fn organization_exists(db: impl PgExecutor<'_>, org_id: Uuid) -> Result<bool, sqlx::Error> {
    let found = sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)",
        org_id
    )
    .fetch_one(db)
    .await?;
    Ok(found.unwrap_or(false))
}

pub async fn insert_api_key(
    db: impl PgExecutor<'_>,
    key_id: Uuid,
    org_id: Uuid,
    prefix: &str,
    key_hash: &[u8],
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO api_keys (id, org_id, prefix, key_hash, role) VALUES ($1, $2, $3, $4, $5)",
        key_id,
        org_id,
        prefix,
        key_hash,
        role.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a key revoked; false when no such live key exists.
pub async fn revoke_api_key(db: &PgPool, key_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        key_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a bearer key resolves to, together with the environment asked for.
pub struct KeyResolution {
    pub key_id: Uuid,
    pub org_id: Uuid,
    pub role: Role,
    /// None when the organization has no such environment.
    pub env: Option<(Uuid, EnvName)>,
}

/// One round trip: the live key by hash, joined with the environment chosen by id, else by name.
pub async fn resolve_key(
    db: &PgPool,
    key_hash: &[u8],
    env_id: Option<Uuid>,
    env_name: EnvName,
) -> Result<Option<KeyResolution>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        SELECT k.id AS key_id, k.org_id, k.role,
               e.id AS "env_id?", e.name AS "env_name?"
        FROM api_keys k
        LEFT JOIN environments e
          ON e.org_id = k.org_id
         AND CASE WHEN $2::uuid IS NOT NULL THEN e.id = $2 ELSE e.name = $3 END
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL
        "#,
        key_hash,
        env_id,
        env_name.as_str()
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(KeyResolution {
            key_id: r.key_id,
            org_id: r.org_id,
            role: Role::parse(&r.role).ok_or_else(|| unknown_value("api_keys.role", &r.role))?,
            env: match (r.env_id, r.env_name) {
                (Some(id), Some(name)) => Some((
                    id,
                    EnvName::parse(&name).ok_or_else(|| unknown_value("environments.name", &name))?,
                )),
                _ => None,
            },
        })
    })
    .transpose()
}

pub async fn list_environments(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
) -> Result<Vec<(Uuid, EnvName)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, name FROM environments WHERE org_id = $1 ORDER BY name DESC",
        org_id
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let name = EnvName::parse(&r.name).ok_or_else(|| unknown_value("environments.name", &r.name))?;
            Ok((r.id, name))
        })
        .collect()
}
