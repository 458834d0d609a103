//! Transaction sync. `walk` syncs one account from its cursor, deciding each transaction with
//! `decide` (the one decision every path shares); `job` is the queued sync the worker's sync
//! lane runs, queued by `account_updated`, a first link, the sweep every
//! `MONO_SYNC_INTERVAL_SECS` (`worker::sweep`) and `stored`: `sync-stored`, a bulk job of
//! those sync jobs for every linked account of an environment.

pub mod decide;
pub mod job;
pub mod parts;
pub mod stored;
pub mod walk;
