-- A counter per environment that moves whenever its eligibility policy (settings or rules)
-- changes, so every replica can keep the compiled policy cached and know, with one indexed
-- read, when its copy is stale. Triggers keep it: no write path can forget to bump it.

ALTER TABLE environments ADD COLUMN policy_revision bigint NOT NULL DEFAULT 0;

CREATE FUNCTION environments_bump_policy_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.invoice_currency, NEW.floor_minor, NEW.reference_regex, NEW.business_keywords,
        NEW.personal_keywords, NEW.refund_keywords)
       IS DISTINCT FROM
       (OLD.invoice_currency, OLD.floor_minor, OLD.reference_regex, OLD.business_keywords,
        OLD.personal_keywords, OLD.refund_keywords) THEN
        NEW.policy_revision := OLD.policy_revision + 1;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER environments_policy_revision
    BEFORE UPDATE ON environments
    FOR EACH ROW EXECUTE FUNCTION environments_bump_policy_revision();

CREATE FUNCTION eligibility_rules_bump_policy_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE environments SET policy_revision = policy_revision + 1
    WHERE id IN (SELECT DISTINCT env_id FROM changed_rules);
    RETURN NULL;
END $$;

-- Statement-level with transition tables: a bulk delete bumps each environment once.
CREATE TRIGGER eligibility_rules_policy_revision_insert
    AFTER INSERT ON eligibility_rules REFERENCING NEW TABLE AS changed_rules
    FOR EACH STATEMENT EXECUTE FUNCTION eligibility_rules_bump_policy_revision();
CREATE TRIGGER eligibility_rules_policy_revision_update
    AFTER UPDATE ON eligibility_rules REFERENCING NEW TABLE AS changed_rules
    FOR EACH STATEMENT EXECUTE FUNCTION eligibility_rules_bump_policy_revision();
CREATE TRIGGER eligibility_rules_policy_revision_delete
    AFTER DELETE ON eligibility_rules REFERENCING OLD TABLE AS changed_rules
    FOR EACH STATEMENT EXECUTE FUNCTION eligibility_rules_bump_policy_revision();
