//! The test harness, one module per concern: the application under test and its builder
//! (`app`), HTTP calls and typed answers (`http`, `answers`), the Mono sandbox
//! (`mono_sandbox`) and client (`client`), syncs through the API (`sync`), webhooks both ways
//! (`webhooks`), the per-test database (`database`), a PostgreSQL server of a test's own
//! (`cluster`), waiting for a condition (`wait`), the
//! binary as a process (`process`) and the fixture files (`fixtures`). Tests import it whole:
//! `use crate::helpers::*`.

mod answers;
mod app;
mod client;
mod cluster;
mod database;
mod fixtures;
mod http;
mod metrics;
mod mono_sandbox;
mod process;
mod sync;
mod wait;
mod webhooks;

pub use answers::*;
pub use app::*;
pub use client::*;
pub use cluster::*;
pub use database::*;
pub use fixtures::*;
pub use http::*;
pub use metrics::*;
pub use mono_sandbox::*;
pub use process::*;
pub use sync::*;
pub use wait::*;
pub use webhooks::*;

// Every path into the crate the tests use is named here and nowhere else, so when a crate
// path moves only this block changes.
use taxpoynt_mono::config::Settings;
pub use taxpoynt_mono::db;
pub use taxpoynt_mono::db::accounts::Purged;
pub use taxpoynt_mono::db::events::{EligibilityEvent, MonitoringEvent};
pub use taxpoynt_mono::db::queue as job_queue;
pub use taxpoynt_mono::http::envelope::PageMeta;
pub use taxpoynt_mono::invoice::{InvoiceKind, InvoiceStatus, PaymentStatus};
pub use taxpoynt_mono::jobs::{spec as job_spec, LEASE};
pub use taxpoynt_mono::services::accounts::AccountView;
pub use taxpoynt_mono::services::link::WidgetLink;
pub use taxpoynt_mono::services::sync::job::SyncJob;
pub use taxpoynt_mono::services::tenants;
pub use taxpoynt_mono::services::tenants::CreatedTenant;
pub use taxpoynt_mono::services::unlink::Unlinked;
pub use taxpoynt_mono::services::webhooks::job as webhook_job;
pub use taxpoynt_mono::startup::Application;
pub use taxpoynt_mono::state::AppState;
use taxpoynt_mono::telemetry;
pub use taxpoynt_mono::tenancy::Role;
pub use taxpoynt_mono::worker::{self, sweep};
pub use {eligibility, mono, sandbox};
