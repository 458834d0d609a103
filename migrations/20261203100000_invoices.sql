-- Invoices: review, validation and signing. The organization profile (supplier name, TIN,
-- service id), invoice numbers assigned by the database on every insert path, the fields a
-- review and a signature add, and the service's Ed25519 key when SIGNING_KEY is not set.

-- Organization profile. The service id is generated at creation (and backfilled here);
-- the TIN is FIRS's and set by `tenant create --tin` or `PUT /si/org/profile`.
CREATE FUNCTION random_service_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 1 + floor(random() * 36)::int, 1), '')
    FROM generate_series(1, 8)
$$;

ALTER TABLE organizations
    ADD COLUMN tin        text CONSTRAINT organizations_tin_check CHECK (tin ~ '^[0-9-]{8,20}$'),
    ADD COLUMN service_id text NOT NULL DEFAULT random_service_id()
                          CONSTRAINT organizations_service_id_check CHECK (service_id ~ '^[A-Za-z0-9]{8}$'),
    ADD COLUMN address    text CONSTRAINT organizations_address_check CHECK (length(address) <= 500),
    ADD COLUMN email      text CONSTRAINT organizations_email_check CHECK (length(email) <= 254),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Per-organization invoice numbers. The counter row is taken with an upsert, so two
-- transactions numbering invoices of one organization queue on it, and a rollback returns
-- its numbers (a conflicting insert that is then skipped may leave a gap; numbers are only
-- promised to be unique).
CREATE TABLE invoice_counters (
    org_id  uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    next    bigint NOT NULL CHECK (next > 0)
);

ALTER TABLE invoices
    ADD COLUMN invoice_number      text,
    ADD COLUMN issue_date          date,
    ADD COLUMN keywords            text[] NOT NULL DEFAULT '{}',
    -- Corrections made at confirmation; `counterparty` keeps what Mono sent.
    ADD COLUMN buyer_name          text,
    ADD COLUMN due_date            date,
    -- No foreign key: purging an account's invoices must not depend on which credit notes
    -- point at them. The service checks the id at confirmation.
    ADD COLUMN credited_invoice_id uuid,
    ADD COLUMN irn                 text,
    ADD COLUMN signed_at           timestamptz,
    ADD COLUMN signed_payload      jsonb,
    ADD COLUMN signature           jsonb;

CREATE FUNCTION format_invoice_number(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'INV' || CASE WHEN n < 1000000 THEN lpad(n::text, 6, '0') ELSE n::text END
$$;

-- Existing invoices, numbered per organization in the order they were made.
WITH numbered AS (
    SELECT id, row_number() OVER (PARTITION BY org_id ORDER BY created_at, id) AS n FROM invoices
)
UPDATE invoices i
SET invoice_number = format_invoice_number(numbered.n),
    issue_date = (coalesce(i.transaction_date, i.created_at) AT TIME ZONE 'UTC')::date
FROM numbered
WHERE i.id = numbered.id;

INSERT INTO invoice_counters (org_id, next)
SELECT org_id, count(*) + 1 FROM invoices GROUP BY org_id;

-- Every insert path, present and future, gets a number and an issue date (the transaction's
-- date in UTC, else the day the invoice was made).
CREATE FUNCTION invoices_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF NEW.invoice_number IS NULL THEN
        INSERT INTO invoice_counters AS c (org_id, next) VALUES (NEW.org_id, 2)
        ON CONFLICT (org_id) DO UPDATE SET next = c.next + 1
        RETURNING c.next - 1 INTO n;
        NEW.invoice_number := format_invoice_number(n);
    END IF;
    IF NEW.issue_date IS NULL THEN
        NEW.issue_date := (coalesce(NEW.transaction_date, NEW.created_at, now()) AT TIME ZONE 'UTC')::date;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER invoices_before_insert BEFORE INSERT ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_before_insert();

ALTER TABLE invoices
    ALTER COLUMN invoice_number SET NOT NULL,
    ALTER COLUMN issue_date SET NOT NULL,
    ADD CONSTRAINT invoices_invoice_number_check CHECK (invoice_number ~ '^[A-Za-z0-9]+$'),
    ADD CONSTRAINT invoices_org_invoice_number_key UNIQUE (org_id, invoice_number),
    ADD CONSTRAINT invoices_signed_complete CHECK (
        status <> 'SIGNED'
        OR (irn IS NOT NULL AND signed_at IS NOT NULL AND signed_payload IS NOT NULL AND signature IS NOT NULL)
    );

CREATE UNIQUE INDEX invoices_org_irn_key ON invoices (org_id, irn) WHERE irn IS NOT NULL;

-- The list pages newest first on (created_at, id).
DROP INDEX invoices_env_idx;
CREATE INDEX invoices_env_idx ON invoices (env_id, created_at DESC, id DESC);

-- A signed invoice never changes again, except its payment status. The service's UPDATEs
-- already say so; this catches any other writer.
CREATE FUNCTION invoices_signed_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'payment_status' - 'updated_at') IS DISTINCT FROM
       (to_jsonb(OLD) - 'payment_status' - 'updated_at') THEN
        RAISE EXCEPTION 'invoice % is signed; only its payment status may change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER invoices_signed_are_final BEFORE UPDATE ON invoices
    FOR EACH ROW WHEN (OLD.status = 'SIGNED') EXECUTE FUNCTION invoices_signed_are_final();

-- The service's signing key when SIGNING_KEY is not set: made once by whichever replica
-- starts first (insert-if-absent), read by every other.
CREATE TABLE signing_keys (
    name        text PRIMARY KEY,
    alg         text NOT NULL CHECK (alg = 'Ed25519'),
    seed        bytea NOT NULL CHECK (length(seed) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
