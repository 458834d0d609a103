-- MBS's code lists (invoice types, tax categories, …) as MBS last sent them, one row per list:
-- served from here (refreshed daily in the background, still served when MBS is down).
CREATE TABLE mbs_resources (
    name         text PRIMARY KEY,
    items        jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    fetched_at   timestamptz NOT NULL,
    -- The last refresh begun by any replica: one replica refreshes a list at a time.
    attempted_at timestamptz NOT NULL DEFAULT now(),
    -- Why the last refresh failed, while the list kept is older than it.
    last_error   text
);

-- The crypto keys MBS issued each organization's business (`crypto_keys.txt`), sealed with
-- AES-256-GCM under DATA_ENCRYPTION_KEY: a dump of this table alone reveals nothing.
CREATE TABLE org_crypto_keys (
    org_id      uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    -- SHA-256 of the public key's DER, hex: what the API answers instead of the keys.
    fingerprint text NOT NULL,
    -- Which DATA_ENCRYPTION_KEY sealed it (the first 16 hex of the key's SHA-256).
    sealed_with text NOT NULL,
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    sealed      bytea NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
