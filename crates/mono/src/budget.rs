//! The request budget the client takes a token from before every attempt: the shared
//! `request_budget` trait, re-exported where this crate's users found it.

pub use request_budget::{BudgetError, BudgetFuture, RequestBudget};
