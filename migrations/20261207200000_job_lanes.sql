-- A job names its lane: the worker claims each lane apart (syncs organization by organization,
-- everything else oldest first), and a new job kind says its lane in code instead of a kind
-- list in SQL. Kinds are the worker's registry to check, so adding one needs no migration:
-- a job of a kind no replica knows is failed by the worker with a clear error. The default
-- keeps a replica of the previous version (which names no lane) working during a rolling
-- upgrade: its jobs run in the general lane.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD COLUMN lane text NOT NULL DEFAULT 'general'
    CONSTRAINT jobs_lane_check CHECK (lane IN ('general', 'sync'));
UPDATE jobs SET lane = 'sync' WHERE kind = 'sync';

DROP INDEX jobs_sync_ready_idx;
DROP INDEX jobs_other_ready_idx;
CREATE INDEX jobs_sync_ready_idx ON jobs (org_id, run_after) WHERE status = 'queued' AND lane = 'sync';
CREATE INDEX jobs_general_ready_idx ON jobs (run_after) WHERE status = 'queued' AND lane = 'general';
