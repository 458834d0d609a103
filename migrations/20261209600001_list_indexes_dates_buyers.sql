-- GET /si/invoices?accountId=…&from=…&to=…: the account's invoices of an issue-date window
-- are read from the window (and sorted, a few hundred at most) instead of walking every
-- newer invoice of the account to reach an old window.
CREATE INDEX invoices_env_account_issue_idx ON invoices (env_id, account_id, issue_date);

-- The buyer directory answers each entry's match keys by kind: an index on exactly that, so
-- the plan never walks every key of the organization to find one entry's (as it did while
-- the planner had no statistics of the table). It serves the foreign key to `buyers` too.
CREATE INDEX buyer_match_keys_entry_idx ON buyer_match_keys (org_id, buyer_id, kind, match_key);
DROP INDEX buyer_match_keys_buyer_idx;
