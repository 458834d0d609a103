-- A lease that runs out is not a failed attempt: its worker may be alive and working (a
-- renewal starved of a connection). Such a job is queued again whatever its attempts, and
-- given up only after `db::queue::MAX_LEASE_EXPIRIES` expiries (a job that kills its process
-- each time it runs).
ALTER TABLE jobs
    ADD COLUMN lease_expiries integer NOT NULL DEFAULT 0 CONSTRAINT jobs_lease_expiries_check CHECK (lease_expiries >= 0);
