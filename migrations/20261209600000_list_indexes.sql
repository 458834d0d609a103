-- The dashboard's lists at ten million rows: one index per common filter, in the list's own
-- keyset order, so a page reads its 50 rows (and the one after) whatever the filter's value
-- and however much history lies behind it. Without them a filter on a rare value (a status
-- few invoices have, one account of 500, a rare DLQ reason) walks the whole environment's
-- index newest first, testing each row.

-- GET /si/invoices?status=… and ?accountId=… (newest first on (created_at, id)).
CREATE INDEX invoices_env_status_idx ON invoices (env_id, status, created_at DESC, id DESC);
CREATE INDEX invoices_env_account_idx ON invoices (env_id, account_id, created_at DESC, id DESC);

-- GET /si/mono/dlq?reason=… and ?accountId=… (open or resolved, newest first on seq).
CREATE INDEX dlq_records_reason_idx ON dlq_records (env_id, status, reason, seq DESC);
CREATE INDEX dlq_records_account_idx ON dlq_records (env_id, status, account_id, seq DESC);
