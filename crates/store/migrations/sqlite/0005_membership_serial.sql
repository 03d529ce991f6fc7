-- Membership changes move the revocation serial too, SQLite dialect (keep in step with
-- the PostgreSQL migration of the same version): a server caches each caller's role
-- in a tenant beside its checked token, and drops both when the serial moves, so a
-- member removed or demoted by another process (the CLI, an operator's SQL) loses the
-- access within a second.
CREATE TRIGGER tenant_memberships_inserted AFTER INSERT ON tenant_memberships
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
CREATE TRIGGER tenant_memberships_updated AFTER UPDATE ON tenant_memberships
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
CREATE TRIGGER tenant_memberships_deleted AFTER DELETE ON tenant_memberships
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
