-- Invoices become e-invoices: what MBS needs beyond an amount (issue time, invoice kind, a
-- service line's code, the tax category and its percent, the supplier as validated, the
-- credited invoice's reference), and one submission per invoice with its own state machine,
-- so an invoice is never submitted twice, across retries, replicas and crashes.

ALTER TABLE invoices
    -- B2B, B2C or B2G when set at confirmation; NULL: B2B when the buyer has a TIN, else B2C.
    ADD COLUMN invoice_kind       text CONSTRAINT invoices_invoice_kind_check CHECK (invoice_kind IN ('B2B', 'B2C', 'B2G')),
    ADD COLUMN issue_time         time,
    -- The line's service code (MBS `services-codes`) and the tax category (MBS
    -- `tax-categories`) with its percent in hundredths (750 = 7.5 %); NULL percent: not known
    -- yet (the category is not in the cached list), fixed at validation.
    ADD COLUMN service_code       text,
    ADD COLUMN tax_category       text,
    ADD COLUMN tax_percent_bp     integer CONSTRAINT invoices_tax_percent_check CHECK (tax_percent_bp BETWEEN 0 AND 10000),
    -- The buyer as confirmed ({id?, name, tin?, email?, telephone?, address?}); NULL: the
    -- draft's, from `buyer_name`, else the counterparty.
    ADD COLUMN buyer              jsonb,
    -- The supplier as validated: a snapshot of the organization profile.
    ADD COLUMN supplier           jsonb,
    -- On a credit note, the credited invoice's {irn, issueDate}, fixed at validation.
    ADD COLUMN billing_reference  jsonb;

-- The percent of a tax category: from MBS's list as last cached, else what the contract
-- fixes for the three it names (STANDARD_VAT 7.5, ZERO_VAT and EXEMPTED none).
CREATE FUNCTION tax_category_percent_bp(category text) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT round((item->>'percent')::numeric * 100)::integer
         FROM mbs_resources r, jsonb_array_elements(r.items) item
         WHERE r.name = 'tax-categories' AND item->>'code' = category
           AND item->>'percent' ~ '^[0-9]{1,3}(\.[0-9]{1,2})?$'
         LIMIT 1),
        CASE category WHEN 'STANDARD_VAT' THEN 750 WHEN 'ZERO_VAT' THEN 0 WHEN 'EXEMPTED' THEN 0 END
    )
$$;

-- Existing invoices: the time of their transaction (else of their making), the
-- organization's defaults for the line and the tax, and a due date from its payment terms.
UPDATE invoices i
SET issue_time = (coalesce(i.transaction_date, i.created_at) AT TIME ZONE 'UTC')::time(0),
    service_code = o.default_service_code,
    tax_category = o.default_tax_category,
    tax_percent_bp = tax_category_percent_bp(o.default_tax_category),
    due_date = coalesce(i.due_date, i.issue_date + o.payment_terms_days)
FROM organizations o
WHERE o.id = i.org_id AND i.status <> 'SIGNED';
-- Invoices sealed before submission existed keep everything they were signed with; only
-- their issue time is filled in (the trigger that guards them is lifted for that alone).
ALTER TABLE invoices DISABLE TRIGGER invoices_signed_are_final;
UPDATE invoices
SET issue_time = (coalesce(transaction_date, created_at) AT TIME ZONE 'UTC')::time(0),
    tax_category = 'STANDARD_VAT',
    tax_percent_bp = 750
WHERE status = 'SIGNED';
ALTER TABLE invoices ENABLE TRIGGER invoices_signed_are_final;

ALTER TABLE invoices
    ALTER COLUMN issue_time SET NOT NULL,
    ALTER COLUMN tax_category SET NOT NULL;

-- Every insert path gets the organization's defaults too.
CREATE OR REPLACE FUNCTION invoices_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    org organizations%ROWTYPE;
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
    IF NEW.issue_time IS NULL THEN
        NEW.issue_time := (coalesce(NEW.transaction_date, NEW.created_at, now()) AT TIME ZONE 'UTC')::time(0);
    END IF;
    IF NEW.tax_category IS NULL OR NEW.due_date IS NULL OR NEW.service_code IS NULL OR NEW.invoice_kind IS NULL THEN
        SELECT * INTO org FROM organizations WHERE id = NEW.org_id;
        NEW.tax_category := coalesce(NEW.tax_category, org.default_tax_category, 'STANDARD_VAT');
        NEW.service_code := coalesce(NEW.service_code, org.default_service_code);
        NEW.invoice_kind := coalesce(NEW.invoice_kind, org.default_invoice_kind);
        NEW.due_date := coalesce(NEW.due_date, NEW.issue_date + coalesce(org.payment_terms_days, 0));
    END IF;
    IF NEW.tax_percent_bp IS NULL THEN
        NEW.tax_percent_bp := tax_category_percent_bp(NEW.tax_category);
    END IF;
    RETURN NEW;
END
$$;

-- One submission per invoice. `prepared` at validation (the IRN and payload fixed);
-- `submitted` while a sign call is out (until `lease_until`, after which the settle job asks
-- MBS); then `accepted` (the invoice is SIGNED), `rejected` (MBS refused it: the invoice
-- stays VALIDATED and may be signed again) or `unknown` (no answer: settled by `confirm`
-- before anything is sent again).
CREATE TABLE invoice_submissions (
    invoice_id          uuid PRIMARY KEY REFERENCES invoices (id) ON DELETE CASCADE,
    org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    env_id              uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    irn                 text NOT NULL,
    status              text NOT NULL CHECK (status IN ('prepared', 'submitted', 'accepted', 'rejected', 'unknown')),
    payload             jsonb NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    lease_until         timestamptz,
    submitted_at        timestamptz,
    settled_at          timestamptz,
    last_error          text,
    -- What MBS was last told of the payment (`PAID`), and when.
    mbs_payment_status  text,
    mbs_payment_at      timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoice_submissions_open_idx ON invoice_submissions (lease_until)
    WHERE status IN ('submitted', 'unknown');
