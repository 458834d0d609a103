//! Background work, stopped by the shared shutdown token: the job worker (`lanes`, running
//! the kinds of `registry`), the scheduled sync sweep (`sweep`) and the retention purge
//! (`retention`). Every part is safe with several replicas running: the job queue's
//! `FOR UPDATE SKIP LOCKED` decides who runs which job, the per-account sync lock who syncs
//! what.

pub mod lanes;
pub mod registry;
pub mod retention;
pub mod sweep;

pub use lanes::{run, run_with, POLL};
