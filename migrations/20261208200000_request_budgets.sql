-- One table of request budgets, one row per upstream: `mono` (`MONO_MAX_RPS`) and `mbs`
-- (`MBS_MAX_RPS`). The rows share the window logic of the Mono budget they grew from.
ALTER TABLE mono_budget RENAME TO request_budgets;
ALTER TABLE request_budgets RENAME CONSTRAINT mono_budget_pkey TO request_budgets_pkey;

COMMENT ON COLUMN request_budgets.paused_until IS
    'Set when the upstream answers 429 (or 503) with Retry-After: no replica calls it before then.';

INSERT INTO request_budgets (name) VALUES ('mbs') ON CONFLICT (name) DO NOTHING;
