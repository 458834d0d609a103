-- Bulk DLQ replay runs as a job of its own kind on the general job queue.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('webhook', 'sync', 'dlq_replay'));
