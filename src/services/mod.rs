//! Orchestration and transaction boundaries: each service owns an invariant and the
//! database transaction that keeps it.

pub mod cursor;
pub mod demo;
pub mod dlq;
pub mod events;
pub mod invoices;
pub mod jobs;
pub mod limits;
pub mod link;
pub mod ops;
pub mod preview;
pub mod profile;
pub mod retention;
pub mod rules;
pub mod settings;
pub mod signing;
pub mod sync;
pub mod tenants;
pub mod webhooks;
