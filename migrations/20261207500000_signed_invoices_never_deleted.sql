-- A SIGNED invoice is never deleted. It carries an IRN and the service's signature: it is the
-- tax record, and `invoices_signed_are_final` already stops it from changing. Every DELETE of
-- the service excludes SIGNED rows in its WHERE, re-checked on the row it deletes (see
-- `db::retention::delete_batch` and `db::accounts::purge`); this trigger catches any other
-- writer, and any statement of the service that would get it wrong.
--
-- SQLSTATE 23001 `restrict_violation`: the delete is refused, as a foreign key declared
-- ON DELETE RESTRICT refuses one, and the whole statement (with whatever else it deleted or
-- cascaded) is rolled back. The message names the invoice and its IRN.
--
-- Deleting an organization or an environment. `invoices` references both ON DELETE CASCADE,
-- and a cascaded delete fires this trigger like any other. The service has no path that
-- deletes an organization or an environment (only an operator's own SQL does), and the
-- decision is to REFUSE: deleting an organization or environment that holds a SIGNED invoice
-- fails with 23001 and deletes nothing; one without signed invoices is deleted as before, with
-- its unsigned invoices and everything else that cascades. An operator who must remove a
-- tenant's signed invoices (after the period the law requires them kept, and once exported)
-- does it on purpose, as the table's owner, in one transaction:
--     BEGIN;
--     ALTER TABLE invoices DISABLE TRIGGER invoices_signed_never_deleted;
--     DELETE FROM organizations WHERE id = '…';
--     ALTER TABLE invoices ENABLE TRIGGER invoices_signed_never_deleted;
--     COMMIT;
-- (docs/operations.md). Allowing the cascade by itself (say, when the environment row is gone)
-- would make "delete the environment" a way around the rule that any writer could take.
CREATE FUNCTION invoices_signed_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice % (IRN %) is signed and is never deleted', OLD.id, OLD.irn
        USING ERRCODE = 'restrict_violation',
              HINT = 'a signed invoice is a tax record; see docs/operations.md, "Signed invoices"';
END
$$;

-- WHEN is evaluated on the row version being deleted (the one the DELETE locked), so an
-- invoice signed by a transaction that committed while the DELETE waited for it is caught.
CREATE TRIGGER invoices_signed_never_deleted BEFORE DELETE ON invoices
    FOR EACH ROW WHEN (OLD.status = 'SIGNED') EXECUTE FUNCTION invoices_signed_never_deleted();

-- TRUNCATE fires no row triggers: it is refused while any invoice is signed (TRUNCATE …
-- CASCADE from organizations or environments reaches `invoices` too).
CREATE FUNCTION invoices_signed_never_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM invoices WHERE status = 'SIGNED') THEN
        RAISE EXCEPTION 'invoices holds signed invoices, which are never deleted'
            USING ERRCODE = 'restrict_violation',
                  HINT = 'a signed invoice is a tax record; see docs/operations.md, "Signed invoices"';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER invoices_signed_never_truncated BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_signed_never_truncated();
