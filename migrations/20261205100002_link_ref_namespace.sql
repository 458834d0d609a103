-- Widget-link refs are namespaced per organization: a client's ref (`client_ref`) is unique
-- within its organization only, and the ref Mono sees (`ref`) carries the organization's
-- namespace, so one tenant can neither take nor learn of another's refs.
ALTER TABLE mono_link_refs ADD COLUMN client_ref text;
UPDATE mono_link_refs SET client_ref = ref;
ALTER TABLE mono_link_refs ALTER COLUMN client_ref SET NOT NULL;
ALTER TABLE mono_link_refs DROP CONSTRAINT mono_link_refs_ref_check;
ALTER TABLE mono_link_refs ADD CONSTRAINT mono_link_refs_ref_check CHECK (length(ref) BETWEEN 10 AND 240);
ALTER TABLE mono_link_refs ADD CONSTRAINT mono_link_refs_client_ref_check CHECK (length(client_ref) BETWEEN 10 AND 200);
CREATE UNIQUE INDEX mono_link_refs_org_client_ref ON mono_link_refs (org_id, client_ref);
