//! The MBS sandbox's world: businesses (id, service id, API key and secret, key material),
//! the invoices they signed (the exact JSON received, payment status, transmission), the log
//! of every call received, the fault rules and the calls counted per second.
//!
//! Each part sits behind its own `std::sync::Mutex`, held for look-ups and updates only, never
//! across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::faults::FaultBook;
use super::keys::{CryptoKeys, KeyMaterial};
use crate::limits::{Limits, SecondCount};

/// Calls kept in the log (the oldest go first).
pub const MAX_LOG: usize = 10_000;
/// Characters of a service id.
pub const SERVICE_ID_LEN: usize = 8;

/// The demo business's fixed identity (`taxpoynt-mono demo`, `serve --sandbox`).
pub const DEMO_BUSINESS_ID: &str = "5f2d7c3e-8a41-4b6e-9d2a-7c1e0b9f4a10";
pub const DEMO_SERVICE_ID: &str = "TXPDEMO1";
pub const DEMO_API_KEY: &str = "mbs_test_key_demo";
pub const DEMO_API_SECRET: &str = "mbs_test_secret_demo";
pub const DEMO_TIN: &str = "12345678-0001";

/// `POST /_sandbox/mbs/businesses` body; everything is generated when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBusiness {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tin: Option<String>,
    /// 8 upper-case letters and digits.
    #[serde(default)]
    pub service_id: Option<String>,
    /// Whether the business has a webhook URL set at MBS: `transmit` fails without one.
    /// True when absent.
    #[serde(default)]
    pub webhook_url_set: Option<bool>,
}

/// A business as the control endpoints show it (private key included: tests decrypt QRs).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    pub business_id: String,
    pub name: String,
    pub tin: String,
    pub service_id: String,
    pub api_key: String,
    pub api_secret: String,
    /// Exactly the `crypto_keys.txt` MBS issues.
    pub crypto_keys: CryptoKeys,
    pub private_key_pem: String,
    pub webhook_url_set: bool,
}

impl std::fmt::Debug for Business {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Business")
            .field("business_id", &self.business_id)
            .field("service_id", &self.service_id)
            .finish_non_exhaustive()
    }
}

impl Business {
    /// The bytes of `crypto_keys.txt`.
    pub fn crypto_keys_txt(&self) -> Vec<u8> {
        serde_json::to_vec(&self.crypto_keys).unwrap_or_default()
    }
}

/// `GET /_sandbox/mbs/calls`: the `/api` calls counted per whole second of the wall clock
/// (a test checks a client's request budget against it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    /// Calls since the sandbox started, refused and faulted ones included.
    pub requests: u64,
    /// The second with the most calls (the earliest of equals).
    pub busiest_second: Option<SecondCount>,
    /// The last seconds with calls, oldest first (`rate_limited` is always 0: MBS sets none).
    pub seconds: Vec<SecondCount>,
}

/// A signed invoice.
#[derive(Debug, Clone)]
pub struct StoredInvoice {
    pub irn: String,
    pub business_id: String,
    /// The body exactly as received.
    pub raw: Bytes,
    pub invoice: Value,
    pub signed_at: DateTime<Utc>,
    pub payment_status: String,
    pub payment_reference: Option<String>,
    pub transmitted: bool,
    pub delivered: bool,
}

/// `GET /_sandbox/mbs/invoices/{irn}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceView {
    pub irn: String,
    pub business_id: String,
    pub invoice: Value,
    pub signed_at: DateTime<Utc>,
    pub payment_status: String,
    pub payment_reference: Option<String>,
    pub transmitted: bool,
    pub delivered: bool,
}

impl From<&StoredInvoice> for InvoiceView {
    fn from(s: &StoredInvoice) -> Self {
        InvoiceView {
            irn: s.irn.clone(),
            business_id: s.business_id.clone(),
            invoice: s.invoice.clone(),
            signed_at: s.signed_at,
            payment_status: s.payment_status.clone(),
            payment_reference: s.payment_reference.clone(),
            transmitted: s.transmitted,
            delivered: s.delivered,
        }
    }
}

/// One call received under `/api`, as `GET /_sandbox/mbs/log` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header but the key and secret, whose presence is told apart.
    pub headers: std::collections::BTreeMap<String, String>,
    pub api_key_present: bool,
    pub api_secret_present: bool,
    /// The body as JSON; a string when it is not JSON, null when empty.
    pub body: Value,
    /// The status answered (or that would have been, for a dropped answer); null for a hang.
    pub status: Option<u16>,
    /// False when a fault kept the answer from the client.
    pub answered: bool,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct MbsWorld {
    pub businesses: HashMap<String, Business>,
    /// Business id by API key.
    pub by_key: HashMap<String, String>,
    pub invoices: HashMap<String, StoredInvoice>,
}

struct Inner {
    world: Mutex<MbsWorld>,
    faults: Mutex<FaultBook>,
    log: Mutex<VecDeque<LogEntry>>,
    calls: Mutex<Limits>,
    /// Serialises the demo business's creation.
    demo: Mutex<()>,
    shutdown: CancellationToken,
}

/// The MBS sandbox's state; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct MbsState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MbsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbsState").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update leaves the data consistent: a poisoned lock is recovered from.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MbsState {
    /// An empty world; `shutdown` ends hangs.
    pub fn new(shutdown: CancellationToken) -> Self {
        MbsState {
            inner: Arc::new(Inner {
                world: Mutex::new(MbsWorld::default()),
                faults: Mutex::new(FaultBook::default()),
                log: Mutex::new(VecDeque::new()),
                calls: Mutex::new(Limits::default()),
                demo: Mutex::new(()),
                shutdown,
            }),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, MbsWorld> {
        lock(&self.inner.world)
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultBook> {
        lock(&self.inner.faults)
    }

    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Creates a business with fresh keys. Blocking (key generation): from async code, call
    /// it through `spawn_blocking`.
    pub fn create_business(&self, spec: NewBusiness) -> Result<Business, String> {
        if let Some(id) = &spec.service_id {
            if !is_service_id(id) {
                return Err("`service_id` must be 8 upper-case letters and digits".into());
            }
        }
        if let Some(tin) = &spec.tin {
            if tin.len() < 5 || !tin.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                return Err("`tin` must be at least 5 characters, digits and '-'".into());
            }
        }
        let keys = KeyMaterial::generate()?;
        let business = Business {
            business_id: uuid::Uuid::new_v4().to_string(),
            name: spec.name.unwrap_or_else(|| "Sandbox Business Limited".to_owned()),
            tin: spec.tin.unwrap_or_else(random_tin),
            service_id: spec.service_id.unwrap_or_else(random_service_id),
            api_key: format!("mbs_test_key_{}", uuid::Uuid::new_v4().simple()),
            api_secret: format!("mbs_test_secret_{}", uuid::Uuid::new_v4().simple()),
            crypto_keys: keys.crypto_keys,
            private_key_pem: keys.private_key_pem,
            webhook_url_set: spec.webhook_url_set.unwrap_or(true),
        };
        self.insert(business.clone());
        Ok(business)
    }

    /// The demo business (fixed id, service id, key and secret; keys made once). Blocking the
    /// first time.
    pub fn demo_business(&self) -> Result<Business, String> {
        let _once = lock(&self.inner.demo);
        if let Some(b) = self.business(DEMO_BUSINESS_ID) {
            return Ok(b);
        }
        let keys = KeyMaterial::generate()?;
        let business = Business {
            business_id: DEMO_BUSINESS_ID.to_owned(),
            name: "Taxpoynt Demo Supplies Limited".to_owned(),
            tin: DEMO_TIN.to_owned(),
            service_id: DEMO_SERVICE_ID.to_owned(),
            api_key: DEMO_API_KEY.to_owned(),
            api_secret: DEMO_API_SECRET.to_owned(),
            crypto_keys: keys.crypto_keys,
            private_key_pem: keys.private_key_pem,
            webhook_url_set: true,
        };
        self.insert(business.clone());
        Ok(business)
    }

    fn insert(&self, business: Business) {
        let mut world = self.world();
        world
            .by_key
            .insert(business.api_key.clone(), business.business_id.clone());
        world.businesses.insert(business.business_id.clone(), business);
    }

    pub fn business(&self, id: &str) -> Option<Business> {
        self.world().businesses.get(id).cloned()
    }

    /// The business holding `key` and `secret` (compared in constant time).
    pub fn authenticate(&self, key: &[u8], secret: &[u8]) -> Option<Business> {
        let world = self.world();
        let key = std::str::from_utf8(key).ok()?;
        let business = world.businesses.get(world.by_key.get(key)?)?;
        bool::from(business.api_secret.as_bytes().ct_eq(secret)).then(|| business.clone())
    }

    pub fn invoice(&self, irn: &str) -> Option<InvoiceView> {
        self.world().invoices.get(irn).map(InvoiceView::from)
    }

    // ------------------------------------------------------------------------ log and counts

    /// Counts one `/api` call arriving at `unix_ms`.
    pub fn count_call(&self, unix_ms: u64) {
        lock(&self.inner.calls).admit(unix_ms);
    }

    /// The `/api` calls counted per whole second.
    pub fn calls(&self) -> CallCounts {
        let view = lock(&self.inner.calls).view();
        CallCounts {
            requests: view.requests,
            busiest_second: view.busiest_second,
            seconds: view.seconds,
        }
    }

    pub fn record(&self, entry: LogEntry) {
        let mut log = lock(&self.inner.log);
        if log.len() >= MAX_LOG {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// Every call received, oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        lock(&self.inner.log).iter().cloned().collect()
    }

    pub fn clear_log(&self) -> usize {
        std::mem::take(&mut *lock(&self.inner.log)).len()
    }
}

/// 8 upper-case letters and digits.
pub fn is_service_id(s: &str) -> bool {
    s.len() == SERVICE_ID_LEN && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn random_service_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..SERVICE_ID_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn random_tin() -> String {
    format!(
        "{:08}-0001",
        rand::thread_rng().gen_range(10_000_000..100_000_000u32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn businesses_are_found_by_key_and_secret_only() {
        let state = MbsState::new(CancellationToken::new());
        let b = state
            .create_business(NewBusiness {
                service_id: Some("94ND90NR".into()),
                ..NewBusiness::default()
            })
            .unwrap();
        assert!(is_service_id(&b.service_id) && b.service_id == "94ND90NR");
        assert_eq!(
            state
                .authenticate(b.api_key.as_bytes(), b.api_secret.as_bytes())
                .map(|x| x.business_id),
            Some(b.business_id.clone())
        );
        assert!(state.authenticate(b.api_key.as_bytes(), b"nope").is_none());
        assert!(state.authenticate(b"nope", b.api_secret.as_bytes()).is_none());
        assert!(is_service_id(&random_service_id()));
        let demo = state.demo_business().unwrap();
        assert_eq!(state.demo_business().unwrap(), demo);
        assert!(state
            .create_business(NewBusiness {
                service_id: Some("short".into()),
                ..NewBusiness::default()
            })
            .is_err());
    }
}
