-- The digits index, PostgreSQL dialect (keep in step with the SQLite migration of
-- the same version). A search of six digits or more (a phone number, most often) is
-- found through the suffixes of the digit runs of each conversation's search key
-- (`switchboard_core::search::digit_suffixes`), searched by prefix: one short lookup,
-- where the trigram index intersects lists as long as the tenant (every Turkish
-- mobile number holds "905" and "053"; 4 ms a search at a million conversations,
-- against 0.1 ms). The application writes `search_digits` with `search_key`; NULL
-- means not derived yet, and the store derives those rows when it migrates, before
-- it serves.
ALTER TABLE conversations ADD COLUMN search_digits TEXT;
CREATE INDEX conversations_search_digits ON conversations
    USING gin (to_tsvector('simple'::regconfig, search_digits));
