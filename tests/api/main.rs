//! The integration tests: one binary, one module per area, and `helpers` for what they share.
//!
//! `cargo test --test api` runs them all; `cargo test --test api sync::` one module;
//! `cargo nextest run -E 'test(/^sync::/)'` the same under nextest.

mod helpers;

mod cli_classify;
mod eligibility_classify;
mod eligibility_fixtures;
mod eligibility_props;
mod foundation;
mod linking;
mod mono_client_sandbox;
mod mono_client_wiremock;
mod mono_types;
mod rules_settings;
mod sandbox_control;
mod sandbox_link_webhooks;
mod scheduled_sync;
mod serve_sandbox;
mod sync;
