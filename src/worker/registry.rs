//! The job kinds this service runs, each registered once, and running a claimed job by its
//! kind. Adding a kind: its type (a `BackgroundJob`, in a file beside the service whose work it
//! does) and one line in [`registry`].

use std::collections::HashMap;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::ApiError;
use crate::jobs::{BackgroundJob, Ended, JobContext, JobSpec, Lane, Ran};
use crate::services::bulk_sign::BulkSignJob;
use crate::services::dlq_replay::DlqReplayJob;
use crate::services::submission::{PaymentUpdateJob, SubmissionJob};
use crate::services::sync::job::SyncJob;
use crate::services::webhooks::job::WebhookJob;

/// Every kind the worker runs.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        Registry::default()
            .register::<WebhookJob>()
            .register::<SyncJob>()
            .register::<DlqReplayJob>()
            .register::<SubmissionJob>()
            .register::<PaymentUpdateJob>()
            .register::<BulkSignJob>()
    });
    &REGISTRY
}

type RunFn = fn(JobContext) -> BoxFuture<'static, Result<Ran, ApiError>>;
type GaveUpFn = for<'a> fn(&'a Value, &'a mut PgConnection, &'a str) -> BoxFuture<'a, Result<(), ApiError>>;
type ReportFn =
    for<'a> fn(&'a Value, &'a mut PgConnection, Uuid, Ended<'a>) -> BoxFuture<'a, Result<(), ApiError>>;

#[derive(Clone, Copy)]
struct Kind {
    spec: JobSpec,
    run: RunFn,
    gave_up: GaveUpFn,
    report: ReportFn,
}

/// Job kinds by name.
#[derive(Default)]
pub struct Registry {
    kinds: HashMap<&'static str, Kind>,
}

impl Registry {
    /// Adds `J`; a name registered twice is a programming error, found at start-up.
    pub fn register<J: BackgroundJob>(mut self) -> Self {
        let kind = Kind {
            spec: crate::jobs::spec::<J>(),
            run: run_kind::<J>,
            gave_up: gave_up_kind::<J>,
            report: report_kind::<J>,
        };
        assert!(
            self.kinds.insert(J::KIND, kind).is_none(),
            "job kind {} registered twice",
            J::KIND
        );
        self
    }

    /// The kinds, for documentation and tests.
    pub fn specs(&self) -> Vec<JobSpec> {
        let mut specs: Vec<JobSpec> = self.kinds.values().map(|k| k.spec).collect();
        specs.sort_by_key(|s| s.kind);
        specs
    }

    /// The registered kinds of `lane`.
    pub fn kinds_of(&self, lane: Lane) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self
            .kinds
            .values()
            .filter(|k| k.spec.lane == lane)
            .map(|k| k.spec.kind)
            .collect();
        kinds.sort_unstable();
        kinds
    }

    /// Runs one attempt of a claimed job: its payload read as its kind, then the kind's `run`.
    pub async fn run(&self, ctx: JobContext) -> Result<Ran, ApiError> {
        match self.kinds.get(ctx.job.kind.as_str()) {
            Some(kind) => (kind.run)(ctx).await,
            None => Err(ApiError::internal(anyhow::anyhow!(
                "job {} is of a kind this service does not know: {}",
                ctx.job.id,
                ctx.job.kind
            ))),
        }
    }

    /// Settles what a job that ran out of attempts leaves behind, inside `conn`'s transaction.
    pub async fn gave_up(
        &self,
        kind: &str,
        payload: &Value,
        conn: &mut PgConnection,
        error: &str,
    ) -> Result<(), ApiError> {
        match self.kinds.get(kind) {
            Some(k) => (k.gave_up)(payload, conn, error).await,
            None => Ok(()),
        }
    }

    /// Counts a run of a job of `kind` that ended in the bulk job `parent` it is a part of,
    /// inside `conn`'s transaction (the one recording the end).
    pub async fn report_to_parent(
        &self,
        kind: &str,
        payload: &Value,
        conn: &mut PgConnection,
        parent: Uuid,
        ended: Ended<'_>,
    ) -> Result<(), ApiError> {
        match self.kinds.get(kind) {
            Some(k) => (k.report)(payload, conn, parent, ended).await,
            None => {
                tracing::error!(kind, %parent, "a job of a kind this service does not know cannot be counted in its bulk job");
                Ok(())
            }
        }
    }
}

fn report_kind<'a, J: BackgroundJob>(
    payload: &'a Value,
    conn: &'a mut PgConnection,
    parent: Uuid,
    ended: Ended<'a>,
) -> BoxFuture<'a, Result<(), ApiError>> {
    Box::pin(async move {
        match read::<J>(payload) {
            Ok(job) => job.report_to_parent(conn, parent, ended).await,
            // Recording the end must not wait on a payload that will never read.
            Err(e) => {
                tracing::error!(%parent, error = %e, "a part of a bulk job cannot be counted there");
                Ok(())
            }
        }
    })
}

fn read<J: BackgroundJob>(payload: &Value) -> Result<J, ApiError> {
    serde_json::from_value(payload.clone()).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "a {} job's payload does not read: {}",
            J::KIND,
            redact::serde_problem(&e.to_string())
        ))
    })
}

fn run_kind<J: BackgroundJob>(ctx: JobContext) -> BoxFuture<'static, Result<Ran, ApiError>> {
    Box::pin(async move {
        let job = read::<J>(&ctx.job.payload)?;
        job.run(ctx).await
    })
}

fn gave_up_kind<'a, J: BackgroundJob>(
    payload: &'a Value,
    conn: &'a mut PgConnection,
    error: &'a str,
) -> BoxFuture<'a, Result<(), ApiError>> {
    Box::pin(async move {
        match read::<J>(payload) {
            Ok(job) => job.gave_up(conn, error).await,
            // Nothing it names can be settled; the job itself is failed all the same.
            Err(_) => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once_with_its_lane() {
        let specs = registry().specs();
        let kinds: Vec<&str> = specs.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                "dlq_replay",
                "mbs_bulk_sign",
                "mbs_payment_update",
                "mbs_submission",
                "sync",
                "webhook"
            ]
        );
        assert_eq!(registry().kinds_of(Lane::Sync), ["sync"]);
        assert_eq!(
            registry().kinds_of(Lane::General),
            [
                "dlq_replay",
                "mbs_bulk_sign",
                "mbs_payment_update",
                "mbs_submission",
                "webhook"
            ]
        );
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_kind_registered_twice_is_refused() {
        let _ = Registry::default().register::<SyncJob>().register::<SyncJob>();
    }
}
