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

/// A tax identification number as FIRS issues it: digits and `-`, 8 to 20 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tin(String);

impl Tin {
    pub const RULE: &'static str = "must be 8 to 20 characters, digits and `-` only";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let tin = raw.trim();
        let shape = (8..=20).contains(&tin.len()) && tin.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        // At least one digit: a TIN of dashes alone identifies nobody.
        if shape && tin.bytes().any(|b| b.is_ascii_digit()) {
            Ok(Tin(tin.to_string()))
        } else {
            Err(Self::RULE)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The service id an organization signs with (part of every IRN): exactly 8 ASCII letters
/// or digits. Generated at creation by the database, changeable through the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceId(String);

impl ServiceId {
    pub const RULE: &'static str = "must be exactly 8 letters or digits";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let id = raw.trim();
        if id.len() == 8 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(ServiceId(id.to_string()))
        } else {
            Err(Self::RULE)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
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

    #[test]
    fn tin_and_service_id_shapes() {
        assert_eq!(Tin::parse(" 12345678-0001 ").unwrap().as_str(), "12345678-0001");
        for bad in [
            "1234567",
            "123456789012345678901",
            "1234567a",
            "--------",
            "1234 5678",
        ] {
            assert!(Tin::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ServiceId::parse("AB12cd34").unwrap().as_str(), "AB12cd34");
        for bad in ["AB12cd3", "AB12cd345", "AB12-d34", "ÄB12cd34"] {
            assert!(ServiceId::parse(bad).is_err(), "{bad}");
        }
    }
}
