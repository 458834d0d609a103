//! Shared application state handed to every handler and job: resources (pools, clients,
//! settings, the shutdown token) and handles to the `runtime` components. It imports nothing
//! above them, so every service may take it.

use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::seal::DataKey;
use crate::signing::Signer;
use mbs::MbsClient;
use mono::MonoClient;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub settings: Arc<Settings>,
    pub mono: MonoClient,
    /// The e-invoicing platform; none when `MBS_BASE_URL` is not set.
    pub mbs: Option<MbsClient>,
    /// Seals what a database dump must not reveal (`DATA_ENCRYPTION_KEY`); none: unset.
    pub data_key: Option<Arc<DataKey>>,
    /// The key invoices are signed with (`SIGNING_KEY`, else kept in the database).
    pub signer: Arc<Signer>,
    /// Cancelled on shutdown; jobs and long requests watch it.
    pub shutdown: CancellationToken,
    /// Syncs this replica runs at once (`MONO_SYNC_CONCURRENCY`): each holds a database
    /// connection of its own for its lock, so this also bounds those connections.
    pub sync_slots: Arc<tokio::sync::Semaphore>,
    /// Wakes the job worker's general lane when work was just queued (it polls anyway).
    pub jobs_notify: Arc<tokio::sync::Notify>,
    /// Wakes the job worker's sync lane when a sync was just queued (it polls anyway).
    pub sync_notify: Arc<tokio::sync::Notify>,
    /// Compiled eligibility policies by environment, checked against the database's revision.
    pub policies: Arc<crate::runtime::policy_cache::PolicyCache>,
    /// Webhook intake, batched into shared commits.
    pub intake: Arc<crate::runtime::intake::IntakeBatcher>,
    /// Requests per API key (`API_RATE_LIMIT`).
    pub rate_limits: Arc<crate::runtime::key_limiter::KeyLimiter>,
    /// Refused webhooks: per source address buckets, and the tallies not flushed yet.
    pub refusals: Arc<crate::runtime::webhook_refusals::Refusals>,
    /// Rule previews running at once (`PREVIEW_CONCURRENCY_PER_ENV`) and the connections they
    /// hold (`PREVIEW_CONCURRENCY`).
    pub previews: Arc<crate::runtime::preview_limiter::PreviewLimiter>,
    /// Webhook processing's own connections (`db::hot_statement_pool`): the same few
    /// statements for every delivery, planned once per connection.
    pub webhook_db: PgPool,
}
