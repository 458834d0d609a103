-- Transfers between an organization's own linked accounts: the second leg to arrive looks
-- for the first among the other accounts' transactions of the same day or so.
CREATE INDEX mono_transactions_account_date_idx ON mono_transactions (env_id, account_id, tx_date);
