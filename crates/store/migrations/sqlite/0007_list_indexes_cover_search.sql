-- The list-order indexes carry the search key, SQLite dialect (keep in step with the
-- PostgreSQL migration of the same version): a common search finds its page by
-- walking the most recent conversations (`plan::conversation_page_window`), and with
-- the key in the index that walk reads a few index pages instead of one table page
-- per conversation (measured at a million conversations: thousands of page reads per
-- search, most of its time).
DROP INDEX conversations_activity;
DROP INDEX conversations_type_activity;
CREATE INDEX conversations_activity ON conversations (tenant_id, activity_at DESC, id DESC, search_key);
CREATE INDEX conversations_type_activity ON conversations (tenant_id, channel_type, activity_at DESC, id DESC, search_key);
