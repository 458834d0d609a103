-- When an account was last pulled from Mono in real time (`GET /si/mono/accounts/{id}?refresh=true`):
-- the cooldown between two such pulls holds across replicas by claiming this column.
ALTER TABLE mono_accounts ADD COLUMN realtime_refreshed_at timestamptz;
