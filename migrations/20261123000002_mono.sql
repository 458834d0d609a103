-- Mono data: widget-link refs, linked accounts with their sync cursor, allow/deny rules, the
-- ledger of processed transactions, DRAFT invoices, the DLQ, eligibility and monitoring events.

-- A ref issued by widget-link, so an exchange or webhook is attributed to its tenant.
CREATE TABLE mono_link_refs (
    ref             text PRIMARY KEY CHECK (length(ref) BETWEEN 10 AND 200),
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id          uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    scope           text NOT NULL CHECK (scope IN ('auth', 'reauth')),
    customer_id     text,
    customer_name   text,
    customer_email  text,
    account_id      text,
    redirect_url    text NOT NULL,
    mono_url        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX mono_link_refs_env_idx ON mono_link_refs (env_id, created_at DESC);

-- A Mono account id belongs to exactly one organization and environment.
CREATE TABLE mono_accounts (
    id                  text PRIMARY KEY,
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id              uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    name                text,
    account_number      text,
    currency            text,
    type                text,
    balance             bigint,
    bvn_last4           text CHECK (bvn_last4 ~ '^[0-9]{0,4}$'),
    institution_name    text,
    bank_code           text,
    institution_type    text,
    customer_id         text,
    data_status         text,
    auth_method         text,
    reauth_required     boolean NOT NULL DEFAULT false,
    link_ref            text,
    linked_at           timestamptz NOT NULL DEFAULT now(),
    unlinked_at         timestamptz,
    details_fetched_at  timestamptz,
    last_synced_at      timestamptz,
    sync_cursor         text,
    cursor_updated_at   timestamptz
);
CREATE INDEX mono_accounts_env_idx ON mono_accounts (env_id, linked_at);

CREATE TABLE eligibility_rules (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id      uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    list        text NOT NULL CHECK (list IN ('allow', 'deny')),
    field       text NOT NULL CHECK (field IN ('narration', 'counterparty', 'reference')),
    match_kind  text NOT NULL CHECK (match_kind IN ('contains', 'exact', 'regex')),
    pattern     text NOT NULL CHECK (length(pattern) BETWEEN 1 AND 200),
    account_id  text,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eligibility_rules_env_idx ON eligibility_rules (env_id, created_at);

-- One row per transaction ever decided for an account: the exactly-once key.
CREATE TABLE mono_transactions (
    env_id          uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    account_id      text NOT NULL,
    transaction_id  text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('draft', 'dlq', 'skipped')),
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mono_transactions_pkey PRIMARY KEY (env_id, account_id, transaction_id)
);

CREATE TABLE invoices (
    id                  uuid PRIMARY KEY,
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id              uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    status              text NOT NULL DEFAULT 'DRAFT'
                        CHECK (status IN ('DRAFT', 'CONFIRMED', 'VALIDATED', 'SIGNED', 'DISCARDED')),
    source              text NOT NULL CHECK (source IN ('mono', 'manual')),
    kind                text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    account_id          text,
    transaction_id      text,
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            text NOT NULL,
    reference           text,
    counterparty        text,
    narration           text,
    description         text,
    transaction_date    timestamptz,
    payment_status      text NOT NULL DEFAULT 'none' CHECK (payment_status IN ('none', 'pending', 'settled')),
    reason              text,
    rule_id             text,
    trace_id            text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoices_mono_transaction_key UNIQUE (env_id, account_id, transaction_id)
);
CREATE INDEX invoices_env_idx ON invoices (env_id, created_at DESC);
CREATE INDEX invoices_reference_idx ON invoices (env_id, reference) WHERE reference IS NOT NULL;

CREATE TABLE dlq_records (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id          uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    account_id      text NOT NULL,
    transaction_id  text NOT NULL,
    reason          text NOT NULL,
    detail          text,
    transaction     jsonb NOT NULL,
    source          text NOT NULL CHECK (source IN ('sync', 'webhook', 'replay')),
    trace_id        text,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution      text CHECK (resolution IN ('dismissed', 'invoiced_manually', 'replayed')),
    note            text,
    resolved_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dlq_records_transaction_key UNIQUE (env_id, account_id, transaction_id)
);
CREATE INDEX dlq_records_env_idx ON dlq_records (env_id, status, created_at DESC);

-- Every decision, for explaining to a person why; paged newest first by id.
CREATE TABLE eligibility_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id          uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    account_id      text NOT NULL,
    transaction_id  text NOT NULL,
    outcome         text NOT NULL,
    reason          text NOT NULL,
    detail          text,
    amount          bigint NOT NULL,
    currency        text NOT NULL,
    narration       text NOT NULL,
    reference       text,
    source          text NOT NULL CHECK (source IN ('sync', 'webhook', 'replay')),
    trace_id        text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eligibility_events_env_idx ON eligibility_events (env_id, id DESC);
CREATE INDEX eligibility_events_account_idx ON eligibility_events (env_id, account_id, id DESC);

-- Operational events for monitoring; `invoice_failed` for every DLQ record.
CREATE TABLE monitoring_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id          uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    account_id      text,
    transaction_id  text,
    reason          text,
    detail          text,
    trace_id        text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monitoring_events_env_idx ON monitoring_events (env_id, kind, id DESC);
