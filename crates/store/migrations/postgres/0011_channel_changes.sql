-- Channel changes move the revocation serial too, PostgreSQL dialect (keep in step
-- with the SQLite migration of the same version): a server caches each channel with
-- its inbound secret's hash for the ingest's gate, and drops the cache when the serial
-- moves, so a secret rotated or a channel deleted by another process (another server,
-- an operator's SQL) stops working there within a second. Channels change rarely;
-- creating one needs no trigger (nothing caches a channel that is not there).
CREATE TRIGGER channels_change
    AFTER UPDATE OR DELETE ON channels
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revocation_serial();
