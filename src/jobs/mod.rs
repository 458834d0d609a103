//! Background work, stopped by the shared shutdown token. Every job is safe with several
//! replicas running: the per-account sync lock decides who works on what.

pub mod retention;
pub mod scheduled_sync;
