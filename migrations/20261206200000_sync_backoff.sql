-- Sync for the whole fleet. Per account: what Mono has retrieved (a PARTIAL account whose
-- transactions are retrieved can be synced), and the backoff after failed queued syncs
-- (`next_sync_at`: the sweep leaves the account alone until then; a success clears it).
ALTER TABLE mono_accounts
    ADD COLUMN retrieved_data  text[],
    ADD COLUMN sync_failures   integer NOT NULL DEFAULT 0 CHECK (sync_failures >= 0),
    ADD COLUMN last_sync_error text,
    ADD COLUMN next_sync_at    timestamptz;

-- Sync jobs have a lane of their own, claimed organization by organization; the other kinds
-- are claimed in due order. One index per lane, so neither scans the other's queue.
DROP INDEX jobs_ready_idx;
CREATE INDEX jobs_sync_ready_idx ON jobs (org_id, run_after) WHERE status = 'queued' AND kind = 'sync';
CREATE INDEX jobs_other_ready_idx ON jobs (run_after) WHERE status = 'queued' AND kind <> 'sync';
