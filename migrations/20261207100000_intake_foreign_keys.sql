-- Webhook intake writes a row per delivery on its hottest path, and PostgreSQL checked two
-- foreign keys for each (the organization's and the environment's): a trigger query, with its
-- own executor start and row lock, per key and row, which was the largest share of the
-- intake statement's time after the commit itself.
--
-- The delivery log keeps its tenancy without them: intake writes `org_id` / `env_id` only as
-- it reads them from the stored account or widget-link ref in the same statement, and never
-- updates them. What the keys did besides, removing a deleted environment's deliveries, is
-- done by a trigger on `environments` (deleting an organization deletes its environments).
-- Jobs (one row per intake batch) keep the environment's key; the organization's, implied by
-- it, goes.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_org_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_env_id_fkey;
ALTER TABLE jobs DROP CONSTRAINT jobs_org_id_fkey;

CREATE FUNCTION delete_environment_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_deliveries WHERE env_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER environments_delete_deliveries
    AFTER DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION delete_environment_deliveries();
