//! Mono webhooks: authenticated intake that commits each delivery (and its job) before the
//! 2xx, exactly once per dedupe key (`intake`, storing through `runtime::intake`); the job
//! that processes an intake batch's deliveries (`job`); what each event does (`events`, under
//! the delivery's row lock, `delivery`); refused deliveries, counted in memory and flushed
//! once a period (`refusals`); and `webhook-status` (`status`). Reconciliation of
//! transactions against invoices is `services::reconcile`.
//!
//! Processing runs in a job (`jobs` table): one per intake batch and environment, naming its
//! deliveries in arrival order. Each event's effects commit in one transaction together with
//! the delivery leaving `queued`, under the delivery's row lock, so a job run twice (a worker
//! died after the commit, or one of its deliveries failed) finds the finished deliveries done
//! and redoes only the rest.

pub mod delivery;
pub mod events;
pub mod intake;
pub mod job;
pub mod refusals;
pub mod status;
