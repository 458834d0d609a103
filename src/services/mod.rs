//! Orchestration and transaction boundaries: each service owns an invariant and the
//! database transaction that keeps it.

pub mod cursor;
pub mod events;
pub mod jobs;
pub mod link;
pub mod ops;
pub mod rules;
pub mod settings;
pub mod sync;
pub mod tenants;
pub mod webhooks;
