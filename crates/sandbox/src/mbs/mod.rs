//! The MBS sandbox: a fake of the e-invoicing platform (`spec/MBS.md`) on the same port as the
//! Mono sandbox. It serves every MBS call under `/api` with MBS's envelopes and exact texts,
//! checks submissions on the raw JSON (never through the `mbs` crate's types, so their bugs
//! show), keeps businesses with their keys and the invoices they signed, and answers faults on
//! demand, a log of what it received and its calls per second to tests
//! (`/_sandbox/mbs/...`).
//!
//! `api` holds the calls and their gate, `validate` the invoice and IRN checks, `resources`
//! the reference data, `reply` the envelopes and texts, `state` the businesses, invoices, log
//! and counts, `keys` the RSA key material of `crypto_keys.txt`, `faults` the fault rules,
//! `control` the control endpoints.

pub mod api;
pub mod control;
pub mod faults;
pub mod keys;
pub mod reply;
pub mod resources;
pub mod state;
pub mod validate;

use axum::Router;

/// The MBS calls and their control endpoints over `state`, for any outer router state.
pub fn routes<S: Clone + Send + Sync + 'static>(state: state::MbsState) -> Router<S> {
    api::routes(state.clone())
        .merge(control::routes())
        .with_state(state)
}
