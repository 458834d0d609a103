//! The sandbox's world: customers and their bank accounts, linked Mono accounts, widget
//! sessions, exchange codes, the sandbox clock, faults and the webhook sender, and the MBS
//! sandbox's own state (`mbs::state`).
//!
//! All mutable state sits behind one `std::sync::Mutex` held only for map look-ups and
//! updates, never across an `.await`; transaction pages are generated from `Arc` snapshots
//! after the lock is released.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::data::{
    bank_account_spec, customer_from_details, hex_id, mix, seeded_customer, BankAccountSpec, CustomerProfile,
    History,
};
use super::faults::FaultBook;
use super::limits::Limits;
use super::mbs::state::MbsState;
use super::webhooks::{WebhookTarget, Webhooks};
use crate::config::SandboxConfig;
use mono::types::*;

/// How far the sandbox clock may run ahead of the wall clock in total (100 years).
pub const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `sync_status` of an account in good standing.
pub const SYNC_STATUS_OK: &str = "SUCCESSFUL";

/// A customer with the bank accounts they hold.
#[derive(Debug, Clone)]
pub struct CustomerEntry {
    pub profile: CustomerProfile,
    pub index: usize,
    pub bank_accounts: Vec<BankAccountSpec>,
    /// The Mono account currently linked over each bank account, if any.
    pub linked: Vec<Option<String>>,
}

/// A Mono account: a link over one bank account.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: String,
    pub customer: usize,
    pub bank_account: usize,
    pub spec: BankAccountSpec,
    pub ledger: Arc<History>,
    /// Transactions added through `/_sandbox`, oldest first, all newer than the ledger's.
    pub extras: Arc<Vec<MonoTransaction>>,
    pub balance: i64,
    pub data_status: DataStatus,
    pub retrieved_data: Vec<String>,
    pub sync_status: String,
    pub has_new_data: bool,
    pub reference: Option<String>,
    pub redirect_url: Option<Url>,
    pub linked_at: DateTime<Utc>,
    pub unlinked_at: Option<DateTime<Utc>>,
    pub extra_seq: u64,
}

impl AccountRecord {
    pub fn is_linked(&self) -> bool {
        self.unlinked_at.is_none()
    }

    pub fn transaction_count(&self) -> usize {
        self.ledger.len() + self.extras.len()
    }
}

/// A widget session opened by `initiate`.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub customer: usize,
    pub scope: Scope,
    pub account: Option<String>,
    pub redirect_url: Option<Url>,
    pub reference: Option<String>,
    pub institution: Option<String>,
    pub used: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct CodeEntry {
    pub account_id: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

#[derive(Debug, Default)]
pub struct World {
    pub customers: Vec<CustomerEntry>,
    pub customer_by_id: HashMap<String, usize>,
    pub customer_by_email: HashMap<String, usize>,
    pub accounts: HashMap<String, AccountRecord>,
    /// Account ids in link order, for listing.
    pub order: Vec<String>,
    pub sessions: HashMap<String, Session>,
    pub codes: HashMap<String, CodeEntry>,
}

impl World {
    pub fn linked_account(&self, id: &str) -> Option<&AccountRecord> {
        self.accounts.get(id).filter(|a| a.is_linked())
    }

    pub fn linked_account_mut(&mut self, id: &str) -> Option<&mut AccountRecord> {
        self.accounts.get_mut(id).filter(|a| a.is_linked())
    }

    fn add_customer(&mut self, profile: CustomerProfile) -> usize {
        let index = self.customers.len();
        self.customer_by_id.insert(profile.id.clone(), index);
        self.customer_by_email
            .insert(profile.email.to_ascii_lowercase(), index);
        self.customers.push(CustomerEntry {
            profile,
            index,
            bank_accounts: Vec::new(),
            linked: Vec::new(),
        });
        index
    }

    /// Appends bank account number `j` to `customer` (derived, so stable) and answers its index.
    fn add_bank_account(&mut self, customer: usize, currency: Option<&str>, bank: Option<&str>) -> usize {
        let entry = &mut self.customers[customer];
        let j = entry.bank_accounts.len();
        let spec = bank_account_spec(&entry.profile, entry.index, j, currency, bank);
        entry.bank_accounts.push(spec);
        entry.linked.push(None);
        j
    }
}

/// What a control call may set when it creates an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub customer: Option<usize>,
    pub currency: Option<String>,
    pub bank: Option<String>,
    pub transactions: usize,
    pub seed: Option<u64>,
    pub data_status: DataStatus,
    pub retrieved_data: Vec<String>,
    pub reference: Option<String>,
}

pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub world: Mutex<World>,
    pub faults: Mutex<FaultBook>,
    pub limits: Mutex<Limits>,
    pub webhooks: Webhooks,
    pub mbs: MbsState,
    pub clock_offset_ms: AtomicI64,
    pub shutdown: CancellationToken,
}

/// The sandbox's state; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct SandboxState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxState")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl SandboxState {
    /// Builds the seeded world. Needs no runtime; the webhook task starts on the first event.
    pub fn new(config: SandboxConfig) -> Self {
        let shutdown = CancellationToken::new();
        let webhooks = Webhooks::new(
            WebhookTarget {
                url: config.webhook_url.clone(),
                secret: config.webhook_secret.clone(),
            },
            shutdown.clone(),
        );
        let state = SandboxState {
            shared: Arc::new(Shared {
                faults: Mutex::new(FaultBook::new(config.seed)),
                limits: Mutex::new(Limits::new(config.limits.clone())),
                world: Mutex::new(World::default()),
                webhooks,
                mbs: MbsState::new(shutdown.clone()),
                clock_offset_ms: AtomicI64::new(0),
                shutdown,
                config,
            }),
        };
        state.seed_world();
        state
    }

    fn seed_world(&self) {
        let cfg = &self.shared.config;
        let now = self.now();
        let mut world = self.world();
        for i in 0..cfg.customers {
            let c = world.add_customer(seeded_customer(cfg.seed, i));
            for j in 0..cfg.accounts_per_customer {
                world.add_bank_account(c, None, None);
                // All but the last bank account start linked; the last waits for the widget.
                if j + 1 < cfg.accounts_per_customer {
                    let id = hex_id(mix(cfg.seed, 0xacc), mix(i as u64, j as u64));
                    let count = cfg.transactions_per_account;
                    let id = self.link(&mut world, id, c, j, count, None, now, None, None);
                    if let Some(a) = world.accounts.get_mut(&id) {
                        a.data_status = DataStatus::Available;
                    }
                }
            }
        }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The world, locked. Poisoning is recovered from: every update leaves it consistent.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.shared
            .world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultBook> {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The rate limit, latency and per-second counts of the `/v2` calls.
    pub fn limits(&self) -> MutexGuard<'_, Limits> {
        self.shared
            .limits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn webhooks(&self) -> &Webhooks {
        &self.shared.webhooks
    }

    /// The MBS sandbox: businesses, signed invoices, its log, faults and counts.
    pub fn mbs(&self) -> &MbsState {
        &self.shared.mbs
    }

    /// Cancelled when the sandbox shuts down (ends hangs and the webhook task).
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shared.shutdown
    }

    /// The sandbox clock: wall clock plus whatever `/_sandbox/clock` added.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.checked_add_signed(chrono::Duration::milliseconds(self.clock_offset_ms()))
            .unwrap_or(now)
    }

    pub fn clock_offset_ms(&self) -> i64 {
        self.shared.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the sandbox clock forward; the total offset is capped at [`MAX_CLOCK_OFFSET`].
    pub fn advance_clock(&self, by: Duration) -> DateTime<Utc> {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let cap = MAX_CLOCK_OFFSET.as_millis() as i64;
        let _ = self
            .shared
            .clock_offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                Some(cur.saturating_add(ms).min(cap))
            });
        self.now()
    }

    /// Creates a linked account over bank account `j` of `customer`.
    #[allow(clippy::too_many_arguments)]
    fn link(
        &self,
        world: &mut World,
        id: String,
        customer: usize,
        j: usize,
        transactions: usize,
        seed: Option<u64>,
        now: DateTime<Utc>,
        reference: Option<String>,
        redirect_url: Option<Url>,
    ) -> String {
        let spec = world.customers[customer].bank_accounts[j].clone();
        let ledger = self.ledger_for(&id, &spec, transactions, seed, now);
        self.insert_link(world, id, customer, j, ledger, now, reference, redirect_url)
    }

    /// The history of a new link over `spec`.
    fn ledger_for(
        &self,
        id: &str,
        spec: &BankAccountSpec,
        transactions: usize,
        seed: Option<u64>,
        now: DateTime<Utc>,
    ) -> History {
        History::new(
            id,
            seed.unwrap_or(spec.tx_seed),
            transactions,
            now,
            self.shared.config.history_days,
            &spec.currency,
            spec.business,
        )
    }

    /// Records a link over bank account `j` of `customer` with its history.
    #[allow(clippy::too_many_arguments)]
    fn insert_link(
        &self,
        world: &mut World,
        id: String,
        customer: usize,
        j: usize,
        ledger: History,
        now: DateTime<Utc>,
        reference: Option<String>,
        redirect_url: Option<Url>,
    ) -> String {
        let spec = world.customers[customer].bank_accounts[j].clone();
        let record = AccountRecord {
            id: id.clone(),
            customer,
            bank_account: j,
            balance: ledger.closing_balance(),
            ledger: Arc::new(ledger),
            extras: Arc::new(Vec::new()),
            spec,
            data_status: DataStatus::Processing,
            retrieved_data: vec!["identity".into(), "balance".into(), "transactions".into()],
            sync_status: SYNC_STATUS_OK.into(),
            has_new_data: true,
            reference,
            redirect_url,
            linked_at: now,
            unlinked_at: None,
            extra_seq: 0,
        };
        world.customers[customer].linked[j] = Some(id.clone());
        world.accounts.insert(id.clone(), record);
        world.order.push(id.clone());
        id
    }

    /// A fresh random id in Mono's 24-hex shape. Runtime links get random ids so that a
    /// restarted sandbox never hands out an id an earlier run already gave another link.
    pub fn random_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()[..24].to_owned()
    }

    /// A fresh single-use exchange code for `account_id`.
    pub fn issue_code(&self, world: &mut World, account_id: &str) -> (String, DateTime<Utc>) {
        let code = format!("code_{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
        let ttl =
            chrono::Duration::from_std(self.shared.config.code_ttl).unwrap_or(chrono::Duration::minutes(10));
        let now = self.now();
        let expires_at = now.checked_add_signed(ttl).unwrap_or(now);
        world.codes.insert(
            code.clone(),
            CodeEntry {
                account_id: account_id.to_owned(),
                expires_at,
                used: false,
            },
        );
        (code, expires_at)
    }

    /// The customer for an initiate call: known by id, or by email, or created.
    pub fn customer_for(&self, world: &mut World, customer: &InitiateCustomer) -> Result<usize, String> {
        match customer {
            InitiateCustomer::Existing { id } => world
                .customer_by_id
                .get(id)
                .copied()
                .ok_or_else(|| format!("Customer {id} was not found")),
            InitiateCustomer::New { name, email, .. } => {
                if name.trim().is_empty() {
                    return Err("customer.name must not be empty".into());
                }
                if !email.contains('@') {
                    return Err("customer.email must be an email address".into());
                }
                if let Some(&c) = world.customer_by_email.get(&email.to_ascii_lowercase()) {
                    return Ok(c);
                }
                let c = world.add_customer(customer_from_details(self.shared.config.seed, name, email));
                for _ in 0..self.shared.config.accounts_per_customer.max(1) {
                    world.add_bank_account(c, None, None);
                }
                Ok(c)
            }
        }
    }

    /// Links the bank account a widget visit chose: the one numbered `account_number`, else
    /// the first unlinked one at `bank`, else the first unlinked one, else a new one.
    pub fn link_for_widget(
        &self,
        world: &mut World,
        session: &Session,
        account_number: Option<&str>,
        bank: Option<&str>,
    ) -> Result<String, String> {
        let c = session.customer;
        let entry = &world.customers[c];
        let at_bank = |spec: &BankAccountSpec, key: &str| {
            spec.bank.code == key
                || spec.bank.institution_id() == key
                || spec.bank.name.eq_ignore_ascii_case(key)
        };
        let chosen = if let Some(number) = account_number {
            Some(
                entry
                    .bank_accounts
                    .iter()
                    .position(|s| s.account_number == number)
                    .ok_or_else(|| format!("No bank account {number} for this customer"))?,
            )
        } else if let Some(key) = bank {
            entry
                .bank_accounts
                .iter()
                .zip(&entry.linked)
                .position(|(s, l)| l.is_none() && at_bank(s, key))
        } else {
            entry.linked.iter().position(Option::is_none)
        };
        let j = match chosen {
            Some(j) => j,
            None => {
                if let Some(key) = bank {
                    if super::data::find_bank(key, None).is_none() {
                        return Err(format!("Institution {key} was not found"));
                    }
                }
                let currency = bank
                    .and_then(|k| super::data::find_bank(k, None))
                    .map(|b| b.currency);
                world.add_bank_account(c, currency, bank)
            }
        };
        let now = self.now();
        let id = self.link(
            world,
            Self::random_id(),
            c,
            j,
            self.shared.config.transactions_per_account,
            None,
            now,
            session.reference.clone(),
            session.redirect_url.clone(),
        );
        Ok(id)
    }

    /// Creates a linked account from a control call.
    pub fn create_account(&self, spec: NewAccount) -> Result<(String, String, DateTime<Utc>), String> {
        if let Some(bank) = &spec.bank {
            if super::data::find_bank(bank, spec.currency.as_deref()).is_none() {
                return Err(format!("`bank` {bank} is not a known bank for that currency"));
            }
        }
        let id = Self::random_id();
        let now = self.now();
        let (c, j, bank_account) = {
            let mut world = self.world();
            let c = match spec.customer {
                Some(c) => c,
                None => {
                    let n = world.customers.len();
                    world.add_customer(seeded_customer(mix(self.shared.config.seed, 0xc7), n))
                }
            };
            let currency = spec.currency.as_deref().or(Some("NGN"));
            let j = world.add_bank_account(c, currency, spec.bank.as_deref());
            // Reserved now so a widget link cannot take it while the history is built.
            world.customers[c].linked[j] = Some(id.clone());
            (c, j, world.customers[c].bank_accounts[j].clone())
        };
        // Built without the lock: a history of millions takes a moment.
        let ledger = self.ledger_for(&id, &bank_account, spec.transactions, spec.seed, now);
        let mut world = self.world();
        let id = self.insert_link(&mut world, id, c, j, ledger, now, spec.reference, None);
        if let Some(a) = world.accounts.get_mut(&id) {
            a.data_status = spec.data_status;
            if !spec.retrieved_data.is_empty() {
                a.retrieved_data = spec.retrieved_data;
            }
        }
        let (code, expires) = self.issue_code(&mut world, &id);
        Ok((id, code, expires))
    }

    // ------------------------------------------------------------------------ webhook payloads

    /// Queues a webhook, stamped with a fresh event id and the sandbox time.
    pub fn emit<T: serde::Serialize>(&self, event: &str, account_id: Option<&str>, data: &T) -> String {
        let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
        match WebhookEnvelope::new(event, event_id.clone(), self.now(), data) {
            Ok(envelope) => {
                self.webhooks().emit(&envelope, account_id);
            }
            Err(e) => tracing::warn!(event, error = %e, "could not build a sandbox webhook"),
        }
        event_id
    }

    pub fn connected_payload(&self, world: &World, account: &AccountRecord) -> AccountConnected {
        AccountConnected {
            id: account.id.clone(),
            customer: Some(world.customers[account.customer].profile.id.clone()),
            meta: WebhookAccountMeta {
                data_status: Some(account.data_status),
                auth_method: Some(account.spec.auth_method.to_owned()),
                reference: account.reference.clone(),
                ..Default::default()
            },
            app: Some(hex_id(self.shared.config.seed, 0xa99)),
            business: Some(hex_id(self.shared.config.seed, 0xb15)),
        }
    }

    pub fn updated_payload(&self, world: &World, account: &AccountRecord) -> AccountUpdated {
        let profile = &world.customers[account.customer].profile;
        AccountUpdated {
            account: UpdatedAccount {
                id: account.id.clone(),
                name: Some(account.spec.name.clone()),
                account_number: Some(account.spec.account_number.clone()),
                currency: Some(account.spec.currency.clone()),
                balance: Some(account.balance),
                account_type: Some(account.spec.account_type.to_owned()),
                bvn: Some(profile.bvn[profile.bvn.len().saturating_sub(4)..].to_owned()),
                auth_method: Some(account.spec.auth_method.to_owned()),
                institution: Some(UpdatedInstitution {
                    name: account.spec.bank.name.to_owned(),
                    bank_code: Some(account.spec.bank.code.to_owned()),
                    kind: Some(institution_type(account.spec.business).to_owned()),
                }),
            },
            meta: WebhookAccountMeta {
                data_status: Some(account.data_status),
                auth_method: Some(account.spec.auth_method.to_owned()),
                reference: account.reference.clone(),
                retrieved_data: account.retrieved_data.clone(),
                sync_status: Some(account.sync_status.clone()),
                has_new_data: Some(account.has_new_data),
            },
        }
    }

    /// Emits `account_updated` for `id` as it stands now.
    pub fn emit_updated(&self, id: &str) -> Option<String> {
        let payload = {
            let world = self.world();
            let account = world.accounts.get(id)?;
            self.updated_payload(&world, account)
        };
        Some(self.emit(events::ACCOUNT_UPDATED, Some(id), &payload))
    }

    /// After a link: `account_connected` now, then AVAILABLE and `account_updated` once the
    /// configured processing delay has passed (at once when it is zero).
    pub fn after_link(&self, id: &str) {
        let connected = {
            let world = self.world();
            world.accounts.get(id).map(|a| self.connected_payload(&world, a))
        };
        if let Some(payload) = connected {
            self.emit(events::ACCOUNT_CONNECTED, Some(id), &payload);
        }
        let delay = self.shared.config.processing_delay;
        if delay.is_zero() {
            self.finish_processing(id);
        } else if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let state = self.clone();
            let id = id.to_owned();
            handle.spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(delay) => state.finish_processing(&id),
                    () = state.shutdown_token().cancelled() => {}
                }
            });
        } else {
            self.finish_processing(id);
        }
    }

    fn finish_processing(&self, id: &str) {
        let changed = {
            let mut world = self.world();
            match world.linked_account_mut(id) {
                Some(a) if a.data_status == DataStatus::Processing => {
                    a.data_status = DataStatus::Available;
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.emit_updated(id);
        }
    }
}

/// Mono's institution type for personal and business accounts.
pub fn institution_type(business: bool) -> &'static str {
    if business {
        "BUSINESS_BANKING"
    } else {
        "PERSONAL_BANKING"
    }
}
