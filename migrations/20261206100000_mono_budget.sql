-- The request budget towards Mono shared by every replica (`MONO_MAX_RPS`), one row per budget.
-- A call may go when fewer than the limit were let through within the last window; each entry
-- of `spent_at` is a token that comes back to the bucket one window after it was spent. This
-- bounds the calls of the whole fleet in every window, which a bucket refilled at a steady
-- rate does not (a full burst followed by a second of refill lets twice the rate through).
CREATE TABLE mono_budget (
    name text PRIMARY KEY,
    -- When each call of the last window was let through, oldest first.
    spent_at timestamptz[] NOT NULL DEFAULT '{}',
    -- Tokens the last take handed out (read back by the take's RETURNING).
    granted integer NOT NULL DEFAULT 0,
    -- Set when Mono answers 429 with Retry-After: no replica calls Mono before then.
    paused_until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO mono_budget (name) VALUES ('mono');
