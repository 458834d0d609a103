//! Background work, stopped by the shared shutdown token. Every job is safe with several
//! replicas running: the per-account sync lock decides who syncs what, and the job queue's
//! `FOR UPDATE SKIP LOCKED` who runs which job.

pub mod retention;
pub mod scheduled_sync;
pub mod worker;
