-- Nothing to change in PostgreSQL (keep in step with the SQLite migration of the same
-- version): there, a write batch's search entries are moved into FTS5 once per batch
-- instead of once per write. PostgreSQL's trigram and digits indexes are GIN indexes
-- kept by PostgreSQL itself, whose fast-update pending list already batches them.
SELECT 1;
