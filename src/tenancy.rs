//! Tenancy at the bottom of the crate: who a call acts for (`Tenant`: organization,
//! environment, role) and API keys (generation, SHA-256 at rest). Imports nothing of the
//! crate; the extractor that builds a `Tenant` from a request lives in `http::tenant`.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvName {
    Sandbox,
    Production,
}

impl EnvName {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvName::Sandbox => "sandbox",
            EnvName::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(EnvName::Sandbox),
            "production" => Some(EnvName::Production),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Tenant,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Tenant => "tenant",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tenant" => Some(Role::Tenant),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The caller of a `/si/*` request: whose data it may see and in which environment.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub org_id: Uuid,
    pub env_id: Uuid,
    pub env: EnvName,
    pub role: Role,
    pub key_id: Uuid,
}

impl Tenant {
    /// The tenant a background job acts for: no key, tenant rights, one environment.
    pub fn system(org_id: Uuid, env_id: Uuid, env: EnvName) -> Self {
        Tenant {
            org_id,
            env_id,
            env,
            role: Role::Tenant,
            key_id: Uuid::nil(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A freshly generated key: shown once, stored only as its hash.
pub struct GeneratedKey {
    pub plaintext: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

const KEY_PREFIX: &str = "tpm_";

pub fn generate_api_key() -> GeneratedKey {
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let plaintext = format!("{KEY_PREFIX}{secret}");
    GeneratedKey {
        prefix: plaintext[..KEY_PREFIX.len() + 8].to_string(),
        hash: hash_api_key(&plaintext),
        plaintext,
    }
}

pub fn hash_api_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with("tpm_"));
        assert_eq!(a.prefix.len(), 12);
        assert!(a.plaintext.starts_with(&a.prefix));
        assert_eq!(a.hash, hash_api_key(&a.plaintext));
        assert_eq!(a.hash.len(), 32);
    }
}
