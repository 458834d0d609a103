-- Tenancy: organizations, their environments (each with its own eligibility settings) and API keys.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Settings columns are NULL while the environment follows the configuration defaults.
CREATE TABLE environments (
    id                  uuid PRIMARY KEY,
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                text NOT NULL CHECK (name IN ('sandbox', 'production')),
    invoice_currency    text CHECK (invoice_currency ~ '^[A-Z]{3}$'),
    floor_minor         bigint CHECK (floor_minor >= 0),
    reference_regex     text,
    retention_days      integer CHECK (retention_days > 0),
    business_keywords   text[],
    personal_keywords   text[],
    refund_keywords     text[],
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT environments_org_name_key UNIQUE (org_id, name)
);

-- Only the SHA-256 of a key is stored; the prefix identifies it in listings and logs.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    prefix      text NOT NULL,
    key_hash    bytea NOT NULL,
    role        text NOT NULL CHECK (role IN ('tenant', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);

CREATE INDEX api_keys_org_idx ON api_keys (org_id);
