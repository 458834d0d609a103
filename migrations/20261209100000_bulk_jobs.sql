-- Bulk jobs: at most one of each kind per environment, and a bulk job made of other jobs.
--
-- `bulk` marks a job of a kind that works through an environment's data at large (a sync of
-- every stored account, a bulk DLQ replay, a bulk submission to MBS). One organization must
-- not hold the shared worker lanes, so at most one bulk job of each kind per environment is
-- queued or running: the partial unique index below decides it, whichever replica asks, and
-- the service maps its violation to 409 `job_running` naming the unfinished job.
--
-- `parent_id` names the bulk job a job is a part of (each `sync` job a sync of every stored
-- account queued or joined), and `tally` adds up what the part did while it runs (a sync's
-- drafts and skips, in each page's own transaction). When the part ends, the statement that
-- records the end and the update of the parent's progress with the tally commit together,
-- and the part lets go of its parent there, so a part is counted exactly once whatever
-- replica runs it or dies running it (`db::queue`, `worker::lanes`).
ALTER TABLE jobs ADD COLUMN bulk boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN parent_id uuid REFERENCES jobs (id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN tally jsonb NOT NULL DEFAULT '{}';

-- Unfinished bulk jobs of the previous version: one per environment and kind becomes the
-- environment's bulk job of its kind (the oldest); any other finishes as it was.
UPDATE jobs SET bulk = true
WHERE id IN (
    SELECT DISTINCT ON (env_id, kind) id FROM jobs
    WHERE kind IN ('dlq_replay', 'mbs_bulk_sign') AND status IN ('queued', 'running')
    ORDER BY env_id, kind, created_at, id);

CREATE UNIQUE INDEX jobs_one_bulk_per_env ON jobs (env_id, kind)
    WHERE bulk AND status IN ('queued', 'running');
CREATE INDEX jobs_parent_idx ON jobs (parent_id) WHERE parent_id IS NOT NULL;
