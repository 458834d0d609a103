-- The rule preview decides every stored transaction of an environment. Reading Mono's JSON
-- for that costs the database a jsonb-to-text conversion per row and the service a JSON parse
-- per row, most of a preview's time. So the ledger also keeps, beside the JSON, what the
-- engine reads of a transaction that decoded: its direction, amount, currency, narration,
-- description, reference and counterparty, exactly as in the JSON. `credit` is NULL for a row
-- that did not decode or was written before these columns: the preview reads the JSON of
-- those rows as before. Nullable, no default: adding them rewrites nothing.
ALTER TABLE mono_transactions
    ADD COLUMN credit boolean,
    ADD COLUMN amount bigint,
    ADD COLUMN currency text,
    ADD COLUMN narration text,
    ADD COLUMN description text,
    ADD COLUMN reference text,
    ADD COLUMN counterparty_name text,
    ADD COLUMN counterparty_account text,
    ADD COLUMN counterparty_bank text;
