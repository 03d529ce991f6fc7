-- Membership changes move the revocation serial too, PostgreSQL dialect (keep in step
-- with the SQLite migration of the same version): a server caches each caller's role
-- in a tenant beside its checked token, and drops both when the serial moves, so a
-- member removed or demoted by another process (the CLI, another server, an
-- operator's SQL) loses the access within a second.
CREATE TRIGGER tenant_memberships_change
    AFTER INSERT OR UPDATE OR DELETE ON tenant_memberships
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revocation_serial();
