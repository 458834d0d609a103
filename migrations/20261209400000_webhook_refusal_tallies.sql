-- Refused webhook deliveries are counted in each replica's memory and written once a period
-- (`MONO_WEBHOOK_REFUSAL_FLUSH_SECS`): one receipt per reason and period, `count` refusals,
-- the last at `received_at`, with a bounded `sample` of the latest ([{at, source, traceId,
-- throttled}]; never what was presented). Every receipt written before, and every duplicate
-- receipt, counts one.
ALTER TABLE webhook_receipts
    ADD COLUMN count integer NOT NULL DEFAULT 1
        CONSTRAINT webhook_receipts_count_positive CHECK (count > 0),
    ADD COLUMN sample jsonb;
