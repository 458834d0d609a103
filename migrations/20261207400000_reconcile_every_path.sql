-- Reconciliation never matches a DISCARDED invoice: the lookup view shows each invoice's
-- status (columns are only added at the end, so the view is replaced in place).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'invoices' AND column_name = 'invoice_number') THEN
        EXECUTE 'CREATE OR REPLACE VIEW invoice_lookup AS
                 SELECT id, env_id, account_id, transaction_id, amount, currency, reference,
                        invoice_number::text AS invoice_number, payment_status, created_at, status
                 FROM invoices';
    ELSE
        EXECUTE 'CREATE OR REPLACE VIEW invoice_lookup AS
                 SELECT id, env_id, account_id, transaction_id, amount, currency, reference,
                        NULL::text AS invoice_number, payment_status, created_at, status
                 FROM invoices';
    END IF;
END
$$;
