-- The digits index's function in PL/pgSQL, PostgreSQL only (SQLite's migration of the
-- same version changes nothing: its application writes the suffixes itself).
--
-- Every statement that writes a conversation's search key forms the entry of the
-- digits index (0008), and with it called `search_digit_suffixes`. As SQL with a
-- `FROM`, the function could not be inlined, so each statement parsed and planned
-- its body again (perf during the create benchmark: 13 % of the machine). PL/pgSQL
-- is compiled once per session, and this body runs no query at all: only
-- expressions, which PL/pgSQL evaluates without the executor. Measured (pgbench,
-- 2 clients, one insert per transaction into a table with the digits index alone):
-- 6,800 inserts/s with the SQL function, 11,000 with this one, 17,000 with the
-- suffixes stored in a column.
--
-- The result is the same set of suffixes, in the order they are found (the SQL
-- function sorted them), which `to_tsvector` sorts the same: the entries already in
-- the index stay right and nothing is rebuilt. A store test compares the function
-- with `switchboard_core::search::digit_suffixes` on the keys hard for it.
CREATE OR REPLACE FUNCTION search_digit_suffixes(key TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    run TEXT;
    suffix TEXT;
    seen TEXT[] := '{}';
BEGIN
    -- Runs of six digits or more, each suffix of six or more, each suffix once.
    FOREACH run IN ARRAY regexp_split_to_array(key, '[^0-9]+') LOOP
        FOR start IN 1 .. length(run) - 5 LOOP
            suffix := substr(run, start);
            IF NOT suffix = ANY (seen) THEN
                seen := seen || suffix;
            END IF;
        END LOOP;
    END LOOP;
    RETURN array_to_string(seen, ' ');
END
$$;
