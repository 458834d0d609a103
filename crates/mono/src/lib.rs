//! The upstream: a typed client for Mono Connect v2, its wire types and webhook signatures.
//!
//! `types` is the one set of DTOs shared with the sandbox; `client` speaks HTTP with
//! timeouts, bounded retries and typed errors; `budget` is the request budget every replica
//! shares; `signature` signs and verifies webhooks.

pub mod budget;
pub mod client;
pub mod error;
pub mod signature;
pub mod types;

pub use budget::{BudgetError, RequestBudget};
pub use client::{MonoClient, MonoConfig, TransactionPages};
pub use error::MonoError;
pub use types::*;
