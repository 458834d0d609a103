//! What a background job is. A job kind is a type: its serde payload, its name, its lane, its
//! attempts and its `run` ([`BackgroundJob`]), defined beside the service whose work it does
//! and listed once in the worker's registry (`worker::registry`). A service queues one with
//! [`enqueue`], in the same transaction as the work that asks for it; the worker claims,
//! runs and records it. The queue's storage is `db::queue`.
//!
//! A kind with a dedupe key coalesces: asked for while its job of that key is queued, the
//! request rides on that job; while it runs, the job is marked and goes round once more
//! when its run ends, so nothing asked for during a run is dropped.
//!
//! A bulk kind (`BULK`) has at most one unfinished job per environment: [`enqueue`] answers
//! 409 `job_running` naming the one there is. A job may be a part of a bulk job made of
//! other jobs (a sync of every stored account): when a run of it ends, its kind's
//! [`BackgroundJob::report_to_parent`] counts the run there, in the transaction that records
//! the end.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::db::queue::{self as db, NewJob};
pub use crate::db::queue::{ClaimedJob, Enqueued, JobSpec, Lane, Rode};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::{EnvName, Tenant};

/// How long a claim holds a job before another worker may take it, renewed while it runs,
/// unless `JOB_LEASE_SECS` says otherwise.
pub const LEASE: Duration = crate::config::DEFAULT_JOB_LEASE;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: f64 = 300.0;

/// A kind of background job. Its value is the payload stored with the job (so it must read
/// back every payload its kind ever stored).
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind's name in the `jobs` table; unique among the registered kinds.
    const KIND: &'static str;
    /// The worker lane that runs it.
    const LANE: Lane = Lane::General;
    /// Runs before the job is failed for good.
    const MAX_ATTEMPTS: i32 = 8;
    /// A bulk kind: at most one unfinished job of it per environment, so one organization
    /// cannot hold the shared lanes ([`enqueue`] answers 409 `job_running` meanwhile).
    const BULK: bool = false;

    /// At most one unfinished job per key (the job table's unique index); None: no limit. A
    /// job asked for while one of its key is unfinished rides on that one ([`enqueue`]).
    fn dedupe_key(&self, _tenant: &Tenant) -> Option<String> {
        None
    }

    /// Does the work of one attempt.
    fn run(self, ctx: JobContext) -> impl Future<Output = Result<Ran, ApiError>> + Send;

    /// The job ran out of attempts (or its last worker stopped): settle what it leaves behind,
    /// inside the transaction that fails it.
    fn gave_up<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
        _error: &'a str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send + 'a {
        async { Ok(()) }
    }

    /// This job's part in the bulk job `parent` ended (the run claimed with that parent
    /// finished, or failed): count it there, inside the transaction that records the end.
    fn report_to_parent<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
        _parent: Uuid,
        _ended: Ended<'a>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send + 'a {
        async { Ok(()) }
    }
}

/// How the part of a job in a bulk job ended ([`BackgroundJob::report_to_parent`]).
#[derive(Debug, Clone, Copy)]
pub struct Ended<'a> {
    /// The run finished with this progress (`Ran::Done`), or failed with this error code
    /// (whether or not the job is retried).
    pub outcome: Result<&'a Value, &'a str>,
    /// What the part added up while it ran (`db::queue::add_to_tally`).
    pub tally: &'a Value,
}

/// What a kind stores with each of its jobs.
pub const fn spec<J: BackgroundJob>() -> JobSpec {
    JobSpec {
        kind: J::KIND,
        lane: J::LANE,
        max_attempts: J::MAX_ATTEMPTS,
        bulk: J::BULK,
    }
}

/// Queues `job` for the tenant's environment, or coalesces it with the unfinished job of its
/// dedupe key (queued: left as it is; running: marked to go round once more when it ends);
/// answers the job it rode on, new or not. A bulk kind is not coalesced: while the
/// environment's job of its kind is unfinished the answer is 409 `job_running` naming it.
/// Wake the lane ([`wake`]) once the transaction commits.
pub async fn enqueue<J: BackgroundJob>(
    conn: &mut PgConnection,
    tenant: &Tenant,
    job: &J,
) -> Result<Enqueued, ApiError> {
    let payload = serde_json::to_value(job).map_err(ApiError::internal)?;
    let key = job.dedupe_key(tenant);
    let new = NewJob {
        spec: spec::<J>(),
        payload,
        org_id: Some(tenant.org_id),
        env_id: Some(tenant.env_id),
        dedupe_key: key.as_deref(),
    };
    if J::BULK {
        let id = db::insert_bulk(conn, new, None)
            .await?
            .map_err(|running| ApiError::job_running(J::KIND, running.0))?;
        return Ok(Enqueued { id, rode: Rode::New });
    }
    Ok(db::enqueue(conn, new).await?)
}

/// 409 `job_running` when the environment's bulk job of `J`'s kind is unfinished: a cheap
/// look before the work of selecting what a new one would take ([`enqueue`] decides).
pub async fn ensure_no_bulk<J: BackgroundJob>(
    db: impl PgExecutor<'_>,
    tenant: &Tenant,
) -> Result<(), ApiError> {
    match db::unfinished_bulk(db, Some(tenant.env_id), J::KIND).await? {
        Some(running) => Err(ApiError::job_running(J::KIND, running)),
        None => Ok(()),
    }
}

/// Wakes this replica's worker lane that runs `lane` (it polls anyway).
pub fn wake(state: &AppState, lane: Lane) {
    match lane {
        Lane::General => state.jobs_notify.notify_one(),
        Lane::Sync => state.sync_notify.notify_one(),
    }
}

/// What running a job came to.
#[derive(Debug)]
pub enum Ran {
    /// Finished; the value is kept as its progress.
    Done(Value),
    /// Not finished through no fault of its own (its account is busy with another sync, or
    /// has more to fetch): queued again after `after` without using up an attempt.
    Later { after: Duration, progress: Value },
    /// Failed with the error `code` (`ApiError::code`); tried again after `after` (instead
    /// of the queue's own backoff) while attempts remain.
    Retry {
        code: &'static str,
        error: String,
        after: Duration,
    },
}

/// What a running job may use: the application's state and its own row.
pub struct JobContext {
    pub state: AppState,
    pub job: ClaimedJob,
}

impl JobContext {
    /// The environment the job was queued for, named `env` in its payload.
    pub fn tenant(&self, env: &str) -> Result<Tenant, ApiError> {
        match (self.job.org_id, self.job.env_id, EnvName::parse(env)) {
            (Some(org), Some(env_id), Some(env)) => Ok(Tenant::system(org, env_id, env)),
            _ => Err(ApiError::internal(anyhow::anyhow!(
                "job {} names no environment",
                self.job.id
            ))),
        }
    }

    /// The progress recorded so far (a resumable job continues from it); the default when
    /// there is none or it does not read.
    pub fn progress<T: DeserializeOwned + Default>(&self) -> T {
        serde_json::from_value(self.job.progress.clone()).unwrap_or_default()
    }

    /// Records progress while the job runs; an error when the job's lease was lost (another
    /// worker has it now, so this one must stop).
    pub async fn save_progress(&self, progress: &impl Serialize) -> Result<(), ApiError> {
        let value = serde_json::to_value(progress).map_err(ApiError::internal)?;
        if db::set_progress(&self.state.db, &self.job, &value).await? {
            Ok(())
        } else {
            Err(ApiError::internal(anyhow::anyhow!(
                "job {} lost its lease",
                self.job.id
            )))
        }
    }

    /// The wait before this job's next attempt.
    pub fn backoff(&self) -> Duration {
        backoff(self.job.attempt)
    }
}

/// The wait before attempt `attempt + 1`: 1 s doubled per attempt, at most 5 minutes, with
/// ±20 % jitter so failed jobs do not come back in step.
pub fn backoff(attempt: i32) -> Duration {
    let base = 2f64.powi(attempt.clamp(1, 30) - 1).min(MAX_BACKOFF_SECS);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Duration::from_secs_f64(base * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        for (attempt, base) in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 300.0), (40, 300.0)] {
            let got = backoff(attempt).as_secs_f64();
            assert!(got >= base * 0.8 && got <= base * 1.2, "attempt {attempt}: {got}");
        }
    }
}
