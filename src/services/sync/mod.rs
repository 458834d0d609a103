//! Transaction sync. `walk` syncs one account from its cursor, deciding each transaction with
//! `decide` (the one decision every path shares); `stored` is `sync-stored`, every account of
//! an environment at once; `job` is the queued sync the worker's sync lane runs, queued by
//! `account_updated`, a first link and the sweep every `MONO_SYNC_INTERVAL_SECS`
//! (`worker::sweep`).

pub mod decide;
pub mod job;
pub mod stored;
pub mod walk;
