//! An organization's MBS crypto keys (`PUT|GET /si/org/crypto-keys`): the `crypto_keys.txt`
//! MBS issued its business, checked (`mbs::CryptoKeys`), sealed with `DATA_ENCRYPTION_KEY`
//! (`seal`) and stored; what the API shows of them is their fingerprint and upload time. The
//! keys themselves are never answered back or logged; the QR codes of signed invoices are
//! made with them ([`load`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db;
use crate::error::ApiError;
use crate::seal::{DataKey, OpenError, Sealed};
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The `crypto_keys.txt` file MBS issues a business, as is.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the body, which is read as bytes
pub struct CryptoKeysFile {
    /// Base64 of a PEM (or DER) RSA public key of at least 2048 bits.
    #[schema(example = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K...")]
    public_key: String,
    /// Base64, kept exactly as given.
    #[schema(example = "Q0VSVElGSUNBVEU=")]
    certificate: String,
}

/// What `PUT` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysUploaded {
    /// `sha256:` and the hex SHA-256 of the public key (SPKI DER): the same for every form of
    /// one key, safe to show.
    pub fingerprint: String,
    pub uploaded_at: DateTime<Utc>,
}

/// What `GET` answers: whether keys are on file, and which.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysStatus {
    pub present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<DateTime<Utc>>,
}

/// Checks the file's bytes and stores the keys sealed, replacing earlier ones.
pub async fn put(state: &AppState, tenant: &Tenant, file: &[u8]) -> Result<KeysUploaded, ApiError> {
    let keys = mbs::CryptoKeys::parse(file).map_err(|e| ApiError::field(e.field(), e.to_string()))?;
    let data_key = data_key(state)?;
    let sealed = data_key.seal(&keys.to_file_json(), &context(tenant));
    let uploaded_at = db::mbs::put_keys(
        &state.db,
        tenant,
        keys.fingerprint(),
        &sealed.key_id,
        &sealed.nonce,
        &sealed.ciphertext,
    )
    .await?;
    tracing::info!(org_id = %tenant.org_id, fingerprint = keys.fingerprint(), "MBS crypto keys stored");
    Ok(KeysUploaded {
        fingerprint: keys.fingerprint().to_owned(),
        uploaded_at,
    })
}

pub async fn status(state: &AppState, tenant: &Tenant) -> Result<KeysStatus, ApiError> {
    Ok(match db::mbs::keys(&state.db, tenant).await? {
        Some(stored) => KeysStatus {
            present: true,
            fingerprint: Some(stored.fingerprint),
            uploaded_at: Some(stored.uploaded_at),
        },
        None => KeysStatus {
            present: false,
            fingerprint: None,
            uploaded_at: None,
        },
    })
}

/// The organization's keys, opened; 409 `crypto_keys_missing` when none were uploaded.
pub async fn load(state: &AppState, tenant: &Tenant) -> Result<mbs::CryptoKeys, ApiError> {
    let Some(stored) = db::mbs::keys(&state.db, tenant).await? else {
        return Err(ApiError::conflict(
            "crypto_keys_missing",
            "the organization has no MBS crypto keys: upload its crypto_keys.txt with PUT /si/org/crypto-keys",
        ));
    };
    let sealed = Sealed {
        key_id: stored.sealed_with,
        nonce: stored.nonce,
        ciphertext: stored.sealed,
    };
    let file = data_key(state)?
        .open(&sealed, &context(tenant))
        .map_err(|e| match e {
            OpenError::OtherKey(_) => ApiError::conflict(
                "crypto_keys_unreadable",
                format!("the organization's MBS crypto keys were {e}: start the service with that key, or upload the keys again"),
            ),
            OpenError::Altered => ApiError::internal(anyhow::anyhow!(
                "the sealed MBS crypto keys of organization {} do not open: {e}",
                tenant.org_id
            )),
        })?;
    mbs::CryptoKeys::parse(&file).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "stored MBS crypto keys no longer parse: {}",
            e.field()
        ))
    })
}

fn data_key(state: &AppState) -> Result<&DataKey, ApiError> {
    state.data_key.as_deref().ok_or_else(|| ApiError::Unavailable {
        code: "encryption_key_missing",
        message: "DATA_ENCRYPTION_KEY is not set: the service keeps MBS crypto keys only sealed with it"
            .into(),
    })
}

/// What a sealed value is bound to: the organization it belongs to.
fn context(tenant: &Tenant) -> Vec<u8> {
    format!("org_crypto_keys:{}", tenant.org_id).into_bytes()
}
