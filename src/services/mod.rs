//! Orchestration and transaction boundaries: each service owns an invariant and the
//! database transaction that keeps it.

pub mod cursor;
pub mod link;
pub mod policy;
pub mod sync;
pub mod tenants;
