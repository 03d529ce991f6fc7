-- The digits index, SQLite dialect (keep in step with the PostgreSQL migration of the
-- same version). A search of six digits or more (a phone number, most often) is found
-- through the suffixes of the digit runs of each conversation's search key
-- (`switchboard_core::search::digit_suffixes`), searched by prefix in an FTS5 table
-- whose tokens are those suffixes: one short lookup, where the trigram index reads a
-- long list for each of the query's trigrams (every Turkish mobile number holds
-- "905" and "053"). The application writes `search_digits` with `search_key`; NULL
-- means not derived yet, and the store derives those rows when it migrates, before it
-- serves. The triggers skip NULLs: FTS5 must be told exactly what it indexed.
ALTER TABLE conversations ADD COLUMN search_digits TEXT;
CREATE VIRTUAL TABLE conversation_digits USING fts5 (
    search_digits,
    content = 'conversations',
    content_rowid = 'id',
    tokenize = 'unicode61',
    -- Which rows hold a token is all a prefix lookup needs: no positions.
    detail = 'none'
);
CREATE TRIGGER conversations_digits_insert AFTER INSERT ON conversations
WHEN new.search_digits IS NOT NULL BEGIN
    INSERT INTO conversation_digits (rowid, search_digits) VALUES (new.id, new.search_digits);
END;
-- One trigger, so that the old entries go before the new ones come (FTS5 must not
-- hold a row twice).
CREATE TRIGGER conversations_digits_update AFTER UPDATE OF search_digits ON conversations BEGIN
    INSERT INTO conversation_digits (conversation_digits, rowid, search_digits)
    SELECT 'delete', old.id, old.search_digits WHERE old.search_digits IS NOT NULL;
    INSERT INTO conversation_digits (rowid, search_digits)
    SELECT new.id, new.search_digits WHERE new.search_digits IS NOT NULL;
END;
CREATE TRIGGER conversations_digits_delete AFTER DELETE ON conversations
WHEN old.search_digits IS NOT NULL BEGIN
    INSERT INTO conversation_digits (conversation_digits, rowid, search_digits)
    VALUES ('delete', old.id, old.search_digits);
END;
