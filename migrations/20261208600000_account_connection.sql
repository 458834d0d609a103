-- The state of an account's connection to its bank as the dashboard shows it: `ok`,
-- `reauth_required` (Mono needs the customer to reauthorise; only `account_reauthorized` or a
-- new link ends it) or `sync_failed` (Mono reported a failed sync; a successful sync ends it).
-- `unlinked` is not stored: it is answered from `unlinked_at`.
ALTER TABLE mono_accounts
    ADD COLUMN connection text NOT NULL DEFAULT 'ok'
        CONSTRAINT mono_accounts_connection_check
        CHECK (connection IN ('ok', 'reauth_required', 'sync_failed'));

UPDATE mono_accounts SET connection = 'reauth_required' WHERE reauth_required;
