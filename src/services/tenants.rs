//! Creating organizations and API keys (the `tenant` and `key` commands).

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::tenancy;
use crate::error::ApiError;
use crate::tenancy::{generate_api_key, hash_api_key, EnvName, Role, Tenant, Tin};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTenant {
    pub org_id: Uuid,
    /// Part of every IRN; generated here, changeable through `PUT /si/org/profile`.
    pub service_id: String,
    pub environments: Vec<CreatedEnvironment>,
    pub api_key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreatedEnvironment {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    pub key_id: Uuid,
    pub api_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("name must be 1 to 200 characters")]
    InvalidName,
    #[error("tin {0}")]
    InvalidTin(&'static str),
    #[error("no organization with id {0}")]
    UnknownOrganization(Uuid),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An organization, its `sandbox` and `production` environments and a first tenant key, in
/// one transaction.
pub async fn create_tenant(pool: &PgPool, name: &str) -> Result<CreatedTenant, TenantError> {
    create_tenant_with_tin(pool, name, None).await
}

/// As [`create_tenant`], with the organization's TIN (`tenant create --tin`).
pub async fn create_tenant_with_tin(
    pool: &PgPool,
    name: &str,
    tin: Option<&str>,
) -> Result<CreatedTenant, TenantError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(TenantError::InvalidName);
    }
    let tin = tin.map(Tin::parse).transpose().map_err(TenantError::InvalidTin)?;
    let mut tx = pool.begin().await?;
    let org = tenancy::create_organization(&mut tx, name, tin.as_ref().map(Tin::as_str)).await?;
    let key = generate_api_key();
    tenancy::insert_api_key(
        &mut *tx,
        Uuid::now_v7(),
        org.org_id,
        &key.prefix,
        &key.hash,
        Role::Tenant,
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedTenant {
        org_id: org.org_id,
        service_id: org.service_id,
        environments: org
            .environments
            .into_iter()
            .map(|(id, env)| CreatedEnvironment {
                id,
                name: env.as_str().to_string(),
            })
            .collect(),
        api_key: key.plaintext,
    })
}

pub async fn create_key(pool: &PgPool, org_id: Uuid, role: Role) -> Result<CreatedKey, TenantError> {
    if !tenancy::organization_exists(pool, org_id).await? {
        return Err(TenantError::UnknownOrganization(org_id));
    }
    let key = generate_api_key();
    let key_id = Uuid::now_v7();
    tenancy::insert_api_key(pool, key_id, org_id, &key.prefix, &key.hash, role).await?;
    Ok(CreatedKey {
        key_id,
        api_key: key.plaintext,
    })
}

pub async fn revoke_key(pool: &PgPool, key_id: Uuid) -> Result<bool, TenantError> {
    Ok(tenancy::revoke_api_key(pool, key_id).await?)
}

/// The tenant a bearer key acts for in the environment asked for (by id, else by name):
/// 401 for an unknown or revoked key, 404 for an environment the organization does not have.
pub async fn resolve_key(
    db: &PgPool,
    key: &str,
    env_id: Option<Uuid>,
    env_name: EnvName,
) -> Result<Tenant, ApiError> {
    let resolved = tenancy::resolve_key(db, &hash_api_key(key), env_id, env_name)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))?;
    let (env_id, env) = resolved
        .env
        .ok_or_else(|| ApiError::not_found("environment not found"))?;
    Ok(Tenant {
        org_id: resolved.org_id,
        env_id,
        env,
        role: resolved.role,
        key_id: resolved.key_id,
    })
}

/// The caller's organization's environments, `(id, name)`.
pub async fn environments(db: &PgPool, tenant: &Tenant) -> Result<Vec<(Uuid, EnvName)>, ApiError> {
    Ok(tenancy::list_environments(db, tenant.org_id).await?)
}
