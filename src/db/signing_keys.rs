//! The service's own signing key, kept in the database when `SIGNING_KEY` is not set. Not
//! tenant data: one key signs every organization's invoices.

use sqlx::PgExecutor;

/// The seed stored under `name`, inserting `candidate` when there is none yet. One statement:
/// replicas starting together all end with the first one's seed (`ON CONFLICT DO UPDATE`
/// returns the row that won, where `DO NOTHING` would return nothing).
pub async fn get_or_insert(
    db: impl PgExecutor<'_>,
    name: &str,
    candidate: &[u8],
) -> Result<Vec<u8>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        INSERT INTO signing_keys AS k (name, alg, seed) VALUES ($1, 'Ed25519', $2)
        ON CONFLICT (name) DO UPDATE SET name = k.name
        RETURNING k.seed
        "#,
        name,
        candidate
    )
    .fetch_one(db)
    .await
}
