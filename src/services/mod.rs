//! Orchestration and transaction boundaries: each service owns an invariant and the
//! database transaction that keeps it.

pub mod accounts;
pub mod bulk_sign;
pub mod buyers;
pub mod crypto_keys;
pub mod cursor;
pub mod demo;
pub mod dlq;
pub mod dlq_replay;
pub mod document;
pub mod events;
pub mod invoices;
pub mod job_status;
pub mod limits;
pub mod link;
pub mod mbs_resources;
pub mod ops;
pub mod party_checks;
pub mod preview;
pub mod profile;
pub mod reconcile;
pub mod retention;
pub mod rules;
pub mod settings;
pub mod signing;
pub mod submission;
pub mod sync;
pub mod tenants;
pub mod transfers;
pub mod unlink;
pub mod webhooks;
