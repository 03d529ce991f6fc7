-- A per-tenant counter of search key changes, PostgreSQL dialect (keep in step with
-- the SQLite migration of the same version). Together with `conversation_counts`
-- (which moves on every new conversation) it makes a tenant's search epoch: while the
-- epoch stands still, no conversation of the tenant was added or got a new search
-- key, so a search total counted at that epoch is still exact. A trigger moves it, not
-- application code, so no path that renames a customer can forget it. Spread over 16
-- slots, like the conversation counters, so concurrent renames do not queue on a row.
CREATE TABLE search_changes (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    slot       SMALLINT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, slot)
);

CREATE FUNCTION count_search_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_changes (tenant_id, slot, n)
    VALUES (NEW.tenant_id, floor(random() * 16)::smallint, 1)
    ON CONFLICT (tenant_id, slot) DO UPDATE SET n = search_changes.n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_search_key_changed
    AFTER UPDATE OF search_key ON conversations
    FOR EACH ROW WHEN (OLD.search_key IS DISTINCT FROM NEW.search_key)
    EXECUTE FUNCTION count_search_key_change();
