-- The digits index, PostgreSQL dialect (keep in step with the SQLite migration of
-- the same version). A search of six digits or more (a phone number, most often) is
-- found through the suffixes of the digit runs of each conversation's search key,
-- searched by prefix: one short lookup, where the trigram index intersects lists as
-- long as the tenant (every Turkish mobile number holds "905" and "053"; 4 ms a
-- search at a million conversations, against 0.1 ms).
--
-- Here the index derives the suffixes from `search_key` itself
-- (`search_digit_suffixes`, the SQL twin of `switchboard_core::search::
-- digit_suffixes`: runs of six digits or more, each suffix of six or more; a store
-- test compares the two on every key it writes), so no row is ever missing from it
-- and the table stays as narrow as before: the list page's deep OFFSET reads the
-- visibility map for each row it skips, and a table past 32,672 pages (256 MB) needs
-- more than one map page, visited in turn (measured: page 1,000 of a million
-- conversations at half the speed when a stored suffix column pushed the table past
-- it). `search_digits` exists for the statements both databases share and stays NULL
-- here; SQLite, whose FTS5 index needs the text, stores it.
ALTER TABLE conversations ADD COLUMN search_digits TEXT;

CREATE FUNCTION search_digit_suffixes(key TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(DISTINCT substr(run.m[1], i), ' '), '')
    FROM regexp_matches(key, '[0-9]{6,}', 'g') AS run(m),
         generate_series(1, length(run.m[1]) - 5) AS i
$$;

CREATE INDEX conversations_search_digits ON conversations
    USING gin (to_tsvector('simple'::regconfig, search_digit_suffixes(search_key)));
