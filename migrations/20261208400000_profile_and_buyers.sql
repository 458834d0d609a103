-- The organization profile as MBS needs the supplier (business id, telephone, a structured
-- postal address, the defaults a draft takes), and the buyer directory: the buyers an
-- organization invoices, each with the counterparty keys (account numbers, normalised names)
-- that make a transaction's draft name it.

-- The profile. The old free-text `address` cannot become a structured address honestly (no
-- reliable split into street, city and country codes), so it is kept, renamed, as
-- `legacy_address`: no longer served or used on invoices, left for an operator to re-enter
-- as `address` through `PUT /si/org/profile`. `postal_address` is `crate::party::Address`
-- (`{street, city, postalZone?, country, state?, lga?}`), checked by the service.
ALTER TABLE organizations RENAME COLUMN address TO legacy_address;
ALTER TABLE organizations RENAME CONSTRAINT organizations_address_check TO organizations_legacy_address_check;

ALTER TABLE organizations
    ADD COLUMN business_id          uuid,
    ADD COLUMN telephone            text CONSTRAINT organizations_telephone_check CHECK (telephone ~ '^\+[0-9 -]+$' AND length(telephone) <= 40),
    ADD COLUMN postal_address       jsonb CONSTRAINT organizations_postal_address_check CHECK (jsonb_typeof(postal_address) = 'object'),
    ADD COLUMN description          text CONSTRAINT organizations_description_check CHECK (length(description) <= 1000),
    ADD COLUMN default_service_code text CONSTRAINT organizations_default_service_code_check CHECK (length(default_service_code) BETWEEN 1 AND 50),
    ADD COLUMN default_tax_category text NOT NULL DEFAULT 'STANDARD_VAT'
                                    CONSTRAINT organizations_default_tax_category_check CHECK (length(default_tax_category) BETWEEN 1 AND 50),
    ADD COLUMN default_invoice_kind text CONSTRAINT organizations_default_invoice_kind_check CHECK (default_invoice_kind IN ('B2B', 'B2C', 'B2G')),
    ADD COLUMN payment_terms_days   integer NOT NULL DEFAULT 0
                                    CONSTRAINT organizations_payment_terms_days_check CHECK (payment_terms_days BETWEEN 0 AND 365);

-- The buyer directory, one per organization: both environments of an organization invoice
-- the same buyers, as they share its profile.
CREATE TABLE buyers (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    tin         text CHECK (tin ~ '^[0-9-]{8,20}$'),
    email       text CHECK (length(email) <= 254),
    telephone   text CHECK (telephone ~ '^\+[0-9 -]+$' AND length(telephone) <= 40),
    address     jsonb CHECK (jsonb_typeof(address) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT buyers_org_id_id_key UNIQUE (org_id, id)
);

-- The directory is listed by name; `q` filters within one organization's entries.
CREATE INDEX buyers_org_name_idx ON buyers (org_id, lower(name), id);

-- What makes a transaction name an entry: the counterparty's account number, else its
-- normalised name (`services::buyers::normalise_name`). A key names at most one entry of an
-- organization, so a match is never ambiguous; the primary key is the lookup index.
CREATE TABLE buyer_match_keys (
    org_id      uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('account', 'name')),
    match_key   text NOT NULL CHECK (length(match_key) BETWEEN 1 AND 200),
    buyer_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT buyer_match_keys_pkey PRIMARY KEY (org_id, kind, match_key),
    CONSTRAINT buyer_match_keys_buyer_fkey FOREIGN KEY (org_id, buyer_id)
        REFERENCES buyers (org_id, id) ON DELETE CASCADE
);

CREATE INDEX buyer_match_keys_buyer_idx ON buyer_match_keys (buyer_id);

-- The directory entry an invoice's buyer came from or went to. No foreign key: deleting an
-- entry leaves the invoices (and their buyer details) as they are.
ALTER TABLE invoices ADD COLUMN buyer_id uuid;

CREATE INDEX invoices_org_buyer_idx ON invoices (org_id, buyer_id) WHERE buyer_id IS NOT NULL;
