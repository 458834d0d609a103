//! The integration tests: one binary, one module per area, and `helpers` for what they share.
//!
//! `bash scripts/test.sh` runs them with everything else; `bash scripts/test.sh -E
//! 'test(/^sync::/)'` one module (nextest). Plain `cargo test --test api linking::` runs the
//! tests whose path contains `linking::` (DATABASE_URL from `scripts/pg.sh`).

mod helpers;

mod account_connection;
mod bad_bodies;
mod budget;
mod buyers;
mod chaos;
mod cli_classify;
mod demo_walkthrough;
mod dlq_review;
mod einvoices;
mod fleet_sync;
mod foundation;
mod fuzz_props;
mod invoices;
mod linking;
mod mbs_budget;
mod mbs_platform;
mod money;
mod money_orderings;
mod mono_client_sandbox;
mod mono_client_wiremock;
mod mono_types;
mod openapi;
mod outage;
mod policy_cache;
mod preview_copy;
mod profile;
mod rate_limits;
mod replicas;
mod rules_limits;
mod rules_settings;
mod sandbox_control;
mod sandbox_link_webhooks;
mod scheduled_sync;
mod secrets_in_logs;
mod serve_sandbox;
mod shutdown_metrics;
mod signed_invoices;
mod startup_checks;
mod sync;
mod sync_resume;
mod sync_stored;
mod tenant_isolation;
mod vocab;
mod webhook_refusals;
mod webhook_send;
mod webhooks;
