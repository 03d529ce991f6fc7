-- A list page without a search skips its offset over an index of the list order
-- alone, PostgreSQL dialect (keep in step with the SQLite migration of the same
-- version). Since 0007 the list-order indexes carry the search key for the search
-- walks, which makes their entries twice as wide; page 1,000 of a list reads past
-- 14,985 of them. Over these narrower ones the same page costs less than two thirds
-- (measured at a million conversations: PostgreSQL 3.4 -> 2.0 ms, SQLite 0.68 ->
-- 0.28 ms). The wide indexes stay for the walks, which need the key; each planner
-- takes the narrower index when it covers the statement.
CREATE INDEX conversations_list_page ON conversations (tenant_id, activity_at DESC, id DESC);
CREATE INDEX conversations_type_list_page ON conversations (tenant_id, channel_type, activity_at DESC, id DESC);
