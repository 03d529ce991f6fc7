-- A counter that every token revocation moves, PostgreSQL dialect (keep in step with
-- the SQLite migration of the same version). A server caches checked bearer tokens;
-- it watches this counter so that a revocation made by another process (the CLI,
-- another server, an operator's SQL) reaches it within a second. Triggers move the
-- counter, not application code, so no revocation path can forget it.
CREATE TABLE revocation_serial (
    id      SMALLINT PRIMARY KEY CHECK (id = 1),
    serial  BIGINT NOT NULL
);
INSERT INTO revocation_serial (id, serial) VALUES (1, 0);

CREATE FUNCTION bump_revocation_serial() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER access_tokens_revocation
    AFTER UPDATE OF revoked_at, expires_at OR DELETE ON access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revocation_serial();
CREATE TRIGGER oauth_access_tokens_revocation
    AFTER UPDATE OF revoked_at, expires_at OR DELETE ON oauth_access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revocation_serial();
