//! Where the invoice signing key comes from: `SIGNING_KEY` when it is set, else a key
//! generated once and kept in the database, so every replica (and every restart) signs with
//! the same key and the published public key verifies all of them.

use anyhow::Context;
use sqlx::PgPool;

use crate::config::Settings;
use crate::db::signing_keys;
use crate::signing::{Seed, Signer};

/// The name the generated key is stored under.
const STORED_KEY: &str = "invoices";

pub async fn load(settings: &Settings, db: &PgPool) -> anyhow::Result<Signer> {
    if let Some(seed) = settings.signing_seed() {
        let signer = Signer::from_seed(&seed);
        tracing::info!(key_id = signer.key_id(), "invoice signing key from SIGNING_KEY");
        return Ok(signer);
    }
    let stored = signing_keys::get_or_insert(db, STORED_KEY, &Signer::generate_seed())
        .await
        .context("loading the invoice signing key from the database (or set SIGNING_KEY)")?;
    let seed = Seed::try_from(stored.as_slice()).context("the stored signing key is not 32 bytes")?;
    let signer = Signer::from_seed(&seed);
    tracing::info!(key_id = signer.key_id(), "invoice signing key from the database");
    Ok(signer)
}
