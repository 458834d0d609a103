-- Retention (`db::retention`) deletes each environment's rows older than its cutoff, oldest
-- first, a batch at a time. Without an index on (env_id, created_at) every batch scanned the
-- table; after a batch's deletes the next scan walked the dead prefix again, so a purge of
-- N rows cost about N^2 / batch row visits. With these, a batch is a range read from the
-- oldest eligible row. Each is partial where the purge's predicate allows, so what a purge
-- keeps for good (signed invoices, ledger rows and deliveries whose bodies are cleared) drops
-- out of the index and is not walked again by the next hour's purge.
CREATE INDEX eligibility_events_env_created_idx ON eligibility_events (env_id, created_at);
CREATE INDEX dlq_records_env_created_idx ON dlq_records (env_id, created_at);
CREATE INDEX monitoring_events_env_created_idx ON monitoring_events (env_id, created_at);
CREATE INDEX invoices_retention_idx ON invoices (env_id, created_at)
    WHERE source = 'mono' AND status <> 'SIGNED';

-- The ledger's index for retention (only retention read it) keeps only the rows whose bodies
-- are still stored: the ledger keeps every row for good, and the full index made each purge
-- walk every body already cleared.
DROP INDEX mono_transactions_env_created_idx;
CREATE INDEX mono_transactions_env_created_idx ON mono_transactions (env_id, created_at)
    WHERE transaction IS NOT NULL;

CREATE INDEX webhook_deliveries_body_idx ON webhook_deliveries (env_id, received_at)
    WHERE body <> '';
