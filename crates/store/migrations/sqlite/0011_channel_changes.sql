-- Channel changes move the revocation serial too, SQLite dialect (keep in step with
-- the PostgreSQL migration of the same version): a server caches each channel with
-- its inbound secret's hash for the ingest's gate, and drops the cache when the serial
-- moves, so a secret rotated or a channel deleted by another process (an operator's
-- SQL) stops working there within a second. Channels change rarely; creating one needs
-- no trigger (nothing caches a channel that is not there).
CREATE TRIGGER channels_updated AFTER UPDATE ON channels
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
CREATE TRIGGER channels_deleted AFTER DELETE ON channels
BEGIN
    UPDATE revocation_serial SET serial = serial + 1 WHERE id = 1;
END;
