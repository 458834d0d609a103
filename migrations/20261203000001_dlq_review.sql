-- DLQ review, replay and rule preview: the ledger keeps each transaction as Mono sent it (rows
-- written before this have none) and its date; a DLQ record carries what the reviewer reads
-- (amount, currency, narration, reference) and the decision that put it there (rule, keywords,
-- and a hash of the policy in force), plus the invoice a replay drafted.

ALTER TABLE mono_transactions
    ADD COLUMN transaction jsonb,
    ADD COLUMN tx_date timestamptz;

ALTER TABLE dlq_records
    ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN amount bigint,
    ADD COLUMN currency text,
    ADD COLUMN narration text,
    ADD COLUMN reference text,
    ADD COLUMN rule_id text,
    ADD COLUMN keywords text[] NOT NULL DEFAULT '{}',
    ADD COLUMN policy_version text,
    ADD COLUMN invoice_id uuid,
    ADD CONSTRAINT dlq_records_seq_key UNIQUE (seq);

UPDATE dlq_records d
SET amount = e.amount, currency = e.currency, narration = e.narration, reference = e.reference
FROM eligibility_events e
WHERE e.env_id = d.env_id AND e.account_id = d.account_id AND e.transaction_id = d.transaction_id;

CREATE INDEX dlq_records_review_idx ON dlq_records (env_id, status, seq DESC);
-- Retention walks each environment's oldest rows first.
CREATE INDEX mono_transactions_env_created_idx ON mono_transactions (env_id, created_at);
