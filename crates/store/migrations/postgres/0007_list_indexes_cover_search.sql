-- The list-order indexes carry the search key, PostgreSQL dialect (keep in step with
-- the SQLite migration of the same version): a common search finds its page by
-- walking the most recent conversations (`plan::conversation_page_window`), and with
-- the key in the index that walk is an index-only scan instead of one heap fetch per
-- conversation.
DROP INDEX conversations_activity;
DROP INDEX conversations_type_activity;
CREATE INDEX conversations_activity ON conversations (tenant_id, activity_at DESC, id DESC) INCLUDE (search_key);
CREATE INDEX conversations_type_activity ON conversations (tenant_id, channel_type, activity_at DESC, id DESC) INCLUDE (search_key);
