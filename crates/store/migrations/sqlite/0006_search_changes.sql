-- A per-tenant counter of search key changes, SQLite dialect (keep in step with the
-- PostgreSQL migration of the same version). Together with `conversation_counts`
-- (which moves on every new conversation) it makes a tenant's search epoch: while the
-- epoch stands still, no conversation of the tenant was added or got a new search
-- key, so a search total counted at that epoch is still exact. A trigger moves it, not
-- application code, so no path that renames a customer can forget it.
CREATE TABLE search_changes (
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    slot       INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, slot)
);
CREATE TRIGGER conversations_search_key_changed AFTER UPDATE OF search_key ON conversations
WHEN old.search_key IS NOT new.search_key
BEGIN
    INSERT INTO search_changes (tenant_id, slot, n) VALUES (new.tenant_id, 0, 1)
    ON CONFLICT (tenant_id, slot) DO UPDATE SET n = n + 1;
END;
