-- Messaging: media files, the outbound outbox, idempotency keys, blocked-ingest
-- counters, server settings. Same version in both dialects; keep them in step.

ALTER TABLE messages ADD COLUMN file_path TEXT;
ALTER TABLE messages ADD COLUMN file_name TEXT;
ALTER TABLE messages ADD COLUMN file_mime_type TEXT;
ALTER TABLE messages ADD COLUMN file_size INTEGER;

-- Outbound messages wait here for the channel connectors; the row is written in
-- the same transaction as the message, so nothing acknowledged is lost.
-- status: queued -> sent -> delivered -> read, or failed.
CREATE TABLE message_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        INTEGER NOT NULL,
    message_id       INTEGER NOT NULL,
    channel_id       INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (tenant_id, message_id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
);
-- Connectors drain across tenants, oldest first.
CREATE INDEX message_outbox_pending ON message_outbox (status, id);

-- Idempotency-Key of a send: the same key replays the first response.
CREATE TABLE idempotency_keys (
    tenant_id        INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    idempotency_key  TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    message_id       INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, idempotency_key)
) WITHOUT ROWID;

ALTER TABLE channel_blacklists ADD COLUMN blocked_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channel_blacklists ADD COLUMN last_blocked_at TEXT;

ALTER TABLE customers ADD COLUMN search_key TEXT NOT NULL DEFAULT '';
CREATE INDEX channels_tenant_recent ON channels (tenant_id, id DESC);

-- Server-wide secrets (the file URL signing key), created on first use.
CREATE TABLE server_settings (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
