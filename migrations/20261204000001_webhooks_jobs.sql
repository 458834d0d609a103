-- Webhooks and background jobs: every delivery Mono makes (kept before it is acknowledged),
-- the receipts that store nothing (rejections and duplicates, for webhook-status), a general
-- job queue worked with FOR UPDATE SKIP LOCKED, and the link between a bank transaction and
-- the invoice it pays (reconciliation).

-- A general queue: webhook processing now, sync and bulk DLQ replay later. A job whose lease
-- ran out (its worker died) is queued again; `dedupe_key` makes at most one unfinished job
-- per key (one sync per account).
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('webhook', 'sync')),
    payload         jsonb NOT NULL DEFAULT '{}',
    org_id          uuid REFERENCES organizations (id) ON DELETE CASCADE,
    env_id          uuid REFERENCES environments (id) ON DELETE CASCADE,
    dedupe_key      text,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    run_after       timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL DEFAULT 8 CHECK (max_attempts > 0),
    last_error      text,
    -- Set while running: who holds the job and until when.
    lease_id        uuid,
    locked_until    timestamptz,
    progress        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE UNIQUE INDEX jobs_dedupe_key_unfinished ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX jobs_ready_idx ON jobs (run_after) WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_env_idx ON jobs (env_id, created_at DESC);

-- One row per distinct delivery. `dedupe_key` is Mono's `event_id`, else the hex SHA-256 of
-- the body; the organization and environment are set when the event's account or ref is
-- known. `status`: queued (a job will process it), processed, ignored, failed.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    dedupe_key      text NOT NULL,
    event           text NOT NULL,
    event_id        text,
    account_id      text,
    link_ref        text,
    org_id          uuid REFERENCES organizations (id) ON DELETE CASCADE,
    env_id          uuid REFERENCES environments (id) ON DELETE CASCADE,
    -- The body exactly as it arrived (valid UTF-8 JSON; kept as text, so every byte stays).
    body            text NOT NULL,
    trace_id        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'processed', 'ignored', 'failed')),
    -- What processing did (or why it was ignored), for people and tests.
    result          jsonb,
    error           text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    CONSTRAINT webhook_deliveries_dedupe_key UNIQUE (dedupe_key)
);
CREATE INDEX webhook_deliveries_env_idx ON webhook_deliveries (env_id, received_at DESC);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at DESC);
CREATE INDEX webhook_deliveries_queued_idx ON webhook_deliveries (env_id) WHERE status = 'queued';
CREATE INDEX webhook_deliveries_processed_idx ON webhook_deliveries (env_id, processed_at DESC)
    WHERE processed_at IS NOT NULL;

-- Receipts that store no body: a delivery refused (401; never attributed) or a duplicate of
-- one already stored (attributed like it).
CREATE TABLE webhook_receipts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('rejected', 'duplicate')),
    reason          text NOT NULL,
    delivery_id     uuid,
    env_id          uuid REFERENCES environments (id) ON DELETE CASCADE,
    trace_id        text,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_receipts_received_idx ON webhook_receipts (received_at DESC);
CREATE INDEX webhook_receipts_env_idx ON webhook_receipts (env_id, received_at DESC);

-- A bank transaction that pays an existing invoice: its status only moves forward
-- (pending -> settled).
CREATE TABLE invoice_payments (
    env_id          uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    account_id      text NOT NULL,
    transaction_id  text NOT NULL,
    invoice_id      uuid NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('pending', 'settled')),
    amount          bigint NOT NULL,
    currency        text NOT NULL,
    trace_id        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoice_payments_pkey PRIMARY KEY (env_id, account_id, transaction_id)
);
CREATE INDEX invoice_payments_invoice_idx ON invoice_payments (invoice_id);

-- Reconciliation looks an invoice up by its reference or its invoice number, both
-- case-insensitively. Invoice numbers come with the invoice-review schema; where that is not
-- applied yet the view answers NULL numbers, so the same query serves both schemas.
CREATE INDEX invoices_reference_lower_idx ON invoices (env_id, lower(reference)) WHERE reference IS NOT NULL;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'invoices'
                 AND column_name = 'invoice_number') THEN
        EXECUTE 'CREATE VIEW invoice_lookup AS
                 SELECT id, env_id, account_id, transaction_id, amount, currency, reference,
                        invoice_number::text AS invoice_number, payment_status, created_at
                 FROM invoices';
        EXECUTE 'CREATE INDEX invoices_number_lower_idx ON invoices (env_id, lower(invoice_number))
                 WHERE invoice_number IS NOT NULL';
    ELSE
        EXECUTE 'CREATE VIEW invoice_lookup AS
                 SELECT id, env_id, account_id, transaction_id, amount, currency, reference,
                        NULL::text AS invoice_number, payment_status, created_at
                 FROM invoices';
    END IF;
END
$$;
