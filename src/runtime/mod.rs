//! Components that live as long as the process, held by `AppState` and used by the services:
//! they sit below the services and import none of them.
//!
//! - `intake`: webhook deliveries stored in batches, one commit for many.
//! - `policy_cache`: compiled eligibility policies by environment.
//! - `key_limiter`: the per-key request budget of `API_RATE_LIMIT`.
//! - `webhook_refusals`: refused webhooks, throttled per source address and tallied.
//! - `preview_limiter`: rule previews at once, per environment and in all.

pub mod intake;
pub mod key_limiter;
pub mod policy_cache;
pub mod preview_limiter;
pub mod webhook_refusals;
