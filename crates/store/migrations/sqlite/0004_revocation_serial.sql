-- A counter that every token revocation moves, SQLite dialect (keep in step with the
-- PostgreSQL migration of the same version). A server caches checked bearer tokens;
-- it watches this counter so that a revocation made by another process (the CLI, an
-- operator's SQL) reaches it within a second. Triggers move the counter, not
-- application code, so no revocation path can forget it.
CREATE TABLE revocation_serial (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    serial  INTEGER NOT NULL
);
INSERT INTO revocation_serial (id, serial) VALUES (1, 0);

CREATE TRIGGER access_tokens_revoked AFTER UPDATE OF revoked_at, expires_at ON access_tokens
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
CREATE TRIGGER access_tokens_deleted AFTER DELETE ON access_tokens
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
CREATE TRIGGER oauth_access_tokens_revoked AFTER UPDATE OF revoked_at, expires_at ON oauth_access_tokens
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
CREATE TRIGGER oauth_access_tokens_deleted AFTER DELETE ON oauth_access_tokens
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
