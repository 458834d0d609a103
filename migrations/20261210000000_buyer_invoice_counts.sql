-- How many invoices name each directory entry (the `invoices` of a buyer), kept as the writes
-- happen instead of counted at every read: a count of an entry's invoices grows with the
-- history, and the directory's search reads one per entry of its page.
--
-- A write does not update the entry's count in place: that would take the count row's lock
-- until the writing transaction ends, so two syncs drafting for one buyer would wait for each
-- other, and transactions taking two such rows in opposite orders would deadlock. Instead a
-- trigger appends the change (+1, -1) to `buyer_invoice_deltas`, which takes no lock another
-- writer waits on, and the worker folds the deltas into `buyer_invoice_counts` every second
-- (`db::buyers::fold_invoice_counts`, one statement). A reader adds the entry's unfolded
-- deltas to its count: exact in any snapshot, since a fold deletes the deltas and adds them
-- to the count in one commit.

CREATE TABLE buyer_invoice_counts (
    org_id      uuid NOT NULL,
    buyer_id    uuid NOT NULL,
    invoices    bigint NOT NULL,
    CONSTRAINT buyer_invoice_counts_pkey PRIMARY KEY (org_id, buyer_id),
    CONSTRAINT buyer_invoice_counts_buyer_fkey FOREIGN KEY (org_id, buyer_id)
        REFERENCES buyers (org_id, id) ON DELETE CASCADE
);

-- No foreign key: an invoice may name an entry deleted since (invoices keep their buyer), and
-- the deltas of such an entry are dropped when folded.
CREATE TABLE buyer_invoice_deltas (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      uuid NOT NULL,
    buyer_id    uuid NOT NULL,
    delta       integer NOT NULL
);

CREATE INDEX buyer_invoice_deltas_buyer_idx ON buyer_invoice_deltas (org_id, buyer_id);

CREATE FUNCTION buyer_invoice_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.buyer_id IS NOT NULL THEN
        INSERT INTO buyer_invoice_deltas (org_id, buyer_id, delta) VALUES (OLD.org_id, OLD.buyer_id, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.buyer_id IS NOT NULL THEN
        INSERT INTO buyer_invoice_deltas (org_id, buyer_id, delta) VALUES (NEW.org_id, NEW.buyer_id, 1);
    END IF;
    RETURN NULL;
END;
$$;

-- The WHEN clauses keep the trigger off every write that names no entry or does not change
-- the one named: most invoices and most updates.
CREATE TRIGGER invoices_buyer_count_insert AFTER INSERT ON invoices
    FOR EACH ROW WHEN (NEW.buyer_id IS NOT NULL) EXECUTE FUNCTION buyer_invoice_delta();
CREATE TRIGGER invoices_buyer_count_update AFTER UPDATE OF buyer_id, org_id ON invoices
    FOR EACH ROW WHEN (OLD.buyer_id IS DISTINCT FROM NEW.buyer_id OR OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION buyer_invoice_delta();
CREATE TRIGGER invoices_buyer_count_delete AFTER DELETE ON invoices
    FOR EACH ROW WHEN (OLD.buyer_id IS NOT NULL) EXECUTE FUNCTION buyer_invoice_delta();

-- The counts of the invoices already stored. No invoice is written meanwhile: the triggers'
-- creation holds a lock on `invoices` that every write waits for, until this commits.
INSERT INTO buyer_invoice_counts (org_id, buyer_id, invoices)
SELECT i.org_id, i.buyer_id, count(*)
FROM invoices i JOIN buyers b ON b.org_id = i.org_id AND b.id = i.buyer_id
GROUP BY i.org_id, i.buyer_id;

-- Every fold leaves its deltas dead until VACUUM, and a read of an entry's deltas walks their
-- index entries: autovacuum takes the table after a thousand of them, not after a fifth of
-- its size (a large fold is vacuumed at once by the fold, `db::buyers::settle_invoice_counts`).
ALTER TABLE buyer_invoice_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
