-- A write batch's search entries reach FTS5 once per batch, SQLite dialect (keep in
-- step with the PostgreSQL migration of the same version, which changes nothing).
--
-- FTS5 writes the terms it holds in memory out as a new segment at every SAVEPOINT
-- once an index is part of the transaction (fts5SavepointMethod), and group commit
-- (`group_commit.rs`) runs each write of a batch in a savepoint of its own: a batch of
-- 32 creates left 64 one-row segments, and merging them was a fifth of the server's
-- CPU under the create benchmark (BENCHMARKS.md). So a new conversation's entries wait
-- in `conversation_search_pending`, a plain table, and the batch moves them all into
-- both indexes in one statement each just before its COMMIT, in the same transaction
-- (`plan::SQLITE_INDEX_PENDING_SEARCH`): one segment per batch, and a reader sees a
-- conversation's search entries exactly when it sees the conversation. A row is in the
-- pending table exactly while its entries are not in the indexes; outside a write
-- transaction the table is empty (the store moves whatever a writer that did not know
-- left there when it migrates).
CREATE TABLE conversation_search_pending (
    id             INTEGER PRIMARY KEY,
    search_key     TEXT NOT NULL,
    search_digits  TEXT
);

DROP TRIGGER conversations_search_insert;
DROP TRIGGER conversations_digits_insert;
CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversation_search_pending (id, search_key, search_digits)
    VALUES (new.id, new.search_key, new.search_digits);
END;

-- A changed key of a pending row changes the pending row; one already in an index is
-- replaced there at once (renames are rare: not worth a second path through the
-- pending table). The existence test comes before any change of the pending table.
DROP TRIGGER conversations_search_update;
CREATE TRIGGER conversations_search_update AFTER UPDATE OF search_key ON conversations BEGIN
    INSERT INTO conversation_search (conversation_search, rowid, search_key)
    SELECT 'delete', old.id, old.search_key
    WHERE NOT EXISTS (SELECT 1 FROM conversation_search_pending WHERE id = old.id);
    INSERT INTO conversation_search (rowid, search_key)
    SELECT new.id, new.search_key
    WHERE NOT EXISTS (SELECT 1 FROM conversation_search_pending WHERE id = old.id);
    UPDATE conversation_search_pending SET search_key = new.search_key WHERE id = old.id;
END;
DROP TRIGGER conversations_digits_update;
CREATE TRIGGER conversations_digits_update AFTER UPDATE OF search_digits ON conversations BEGIN
    INSERT INTO conversation_digits (conversation_digits, rowid, search_digits)
    SELECT 'delete', old.id, old.search_digits
    WHERE old.search_digits IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM conversation_search_pending WHERE id = old.id);
    INSERT INTO conversation_digits (rowid, search_digits)
    SELECT new.id, new.search_digits
    WHERE new.search_digits IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM conversation_search_pending WHERE id = old.id);
    UPDATE conversation_search_pending SET search_digits = new.search_digits WHERE id = old.id;
END;

-- One trigger for both indexes: two would each have to see the pending row before
-- either removed it, and SQLite does not promise an order among triggers.
DROP TRIGGER conversations_search_delete;
DROP TRIGGER conversations_digits_delete;
CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversation_search (conversation_search, rowid, search_key)
    SELECT 'delete', old.id, old.search_key
    WHERE NOT EXISTS (SELECT 1 FROM conversation_search_pending WHERE id = old.id);
    INSERT INTO conversation_digits (conversation_digits, rowid, search_digits)
    SELECT 'delete', old.id, old.search_digits
    WHERE old.search_digits IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM conversation_search_pending WHERE id = old.id);
    DELETE FROM conversation_search_pending WHERE id = old.id;
END;
