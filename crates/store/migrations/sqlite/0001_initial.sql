-- Switchboard schema, SQLite dialect. The PostgreSQL migration of the same version
-- creates the same tables; keep them in step.
--
-- Every table holding tenant data carries tenant_id, references between tenant rows
-- go through (tenant_id, id) so the database itself refuses a cross-tenant link, and
-- every index that serves a list starts with tenant_id.
-- Timestamps are RFC 3339 UTC text of whole seconds, so text order is time order.

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT NOT NULL,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE tenant_memberships (
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;
CREATE INDEX tenant_memberships_user ON tenant_memberships (user_id);

-- Bearer tokens, stored as SHA-256 hex of the token; the token itself is never kept.
CREATE TABLE access_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL,
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX access_tokens_hash ON access_tokens (token_hash);
CREATE INDEX access_tokens_user ON access_tokens (user_id);

CREATE TABLE channels (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id            INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type                 TEXT NOT NULL CHECK (type IN ('whatsapp', 'instagram', 'website', 'telegram')),
    name                 TEXT NOT NULL,
    address              TEXT NOT NULL,
    inbound_secret_hash  TEXT NOT NULL,
    settings             TEXT NOT NULL DEFAULT '{}',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    deleted_at           TEXT,
    UNIQUE (tenant_id, id)
);

CREATE TABLE customers (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id           INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    first_name          TEXT,
    last_name           TEXT,
    phone_number        TEXT,
    email               TEXT,
    avatar_url          TEXT,
    default_channel_id  INTEGER,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, default_channel_id) REFERENCES channels (tenant_id, id)
);
CREATE INDEX customers_tenant_recent ON customers (tenant_id, id DESC);

-- One conversation per (tenant, channel, normalised address). activity_at is
-- last_message_at, else created_at: the list order, kept in step by every write.
CREATE TABLE conversations (
    id                           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id                    INTEGER NOT NULL,
    channel_id                   INTEGER NOT NULL,
    channel_type                 TEXT NOT NULL,
    customer_id                  INTEGER NOT NULL,
    address                      TEXT NOT NULL,
    search_key                   TEXT NOT NULL,
    last_message_id              INTEGER,
    last_message_preview         TEXT,
    last_message_at              TEXT,
    last_message_type            TEXT,
    last_message_is_customer     INTEGER,
    unread_count                 INTEGER NOT NULL DEFAULT 0,
    activity_at                  TEXT NOT NULL,
    agent_disabled               INTEGER NOT NULL DEFAULT FALSE,
    agent_expires_at             TEXT,
    agent_disabled_by_user_id    INTEGER,
    agent_disabled_by_user_name  TEXT,
    created_at                   TEXT NOT NULL,
    updated_at                   TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE UNIQUE INDEX conversations_address ON conversations (tenant_id, channel_id, address);
CREATE INDEX conversations_activity ON conversations (tenant_id, activity_at DESC, id DESC);
CREATE INDEX conversations_type_activity ON conversations (tenant_id, channel_type, activity_at DESC, id DESC);
CREATE INDEX conversations_customer ON conversations (tenant_id, customer_id);

-- Substring search over the folded key: an FTS5 trigram index kept by triggers.
-- The key is folded by the application, so the tokenizer must not fold again.
CREATE VIRTUAL TABLE conversation_search USING fts5 (
    search_key,
    content = 'conversations',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 1'
);
CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversation_search (rowid, search_key) VALUES (new.id, new.search_key);
END;
CREATE TRIGGER conversations_search_update AFTER UPDATE OF search_key ON conversations BEGIN
    INSERT INTO conversation_search (conversation_search, rowid, search_key) VALUES ('delete', old.id, old.search_key);
    INSERT INTO conversation_search (rowid, search_key) VALUES (new.id, new.search_key);
END;
CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversation_search (conversation_search, rowid, search_key) VALUES ('delete', old.id, old.search_key);
END;

-- Exact totals without counting a large tenant's rows on every list request.
-- PostgreSQL spreads each count over slots to avoid one hot row; SQLite uses slot 0.
CREATE TABLE conversation_counts (
    tenant_id     INTEGER NOT NULL,
    channel_type  TEXT NOT NULL,
    slot          INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, channel_type, slot)
) WITHOUT ROWID;

CREATE TABLE messages (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id             INTEGER NOT NULL,
    conversation_id       INTEGER NOT NULL,
    user_id               INTEGER,
    user_name             TEXT,
    is_customer           INTEGER NOT NULL,
    message_type          TEXT NOT NULL DEFAULT 'text',
    body                  TEXT,
    quoted_message_id     INTEGER,
    status                TEXT,
    external_id           TEXT,
    metadata              TEXT,
    is_edited             INTEGER NOT NULL DEFAULT FALSE,
    edited_by_user_name   TEXT,
    is_deleted            INTEGER NOT NULL DEFAULT FALSE,
    deleted_by_user_name  TEXT,
    read_at               TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id)
);
CREATE INDEX messages_conversation ON messages (tenant_id, conversation_id, id DESC);
CREATE UNIQUE INDEX messages_external_id ON messages (tenant_id, conversation_id, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE channel_blacklists (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    INTEGER NOT NULL,
    channel_id   INTEGER NOT NULL,
    customer_id  INTEGER NOT NULL,
    reason       TEXT NOT NULL CHECK (reason IN ('rate_limit', 'llm_spam', 'manual', 'security_threat', 'abusive_language')),
    note         TEXT,
    metadata     TEXT NOT NULL DEFAULT '[]',
    blocked_at   TEXT NOT NULL,
    expires_at   TEXT,
    is_active    INTEGER NOT NULL DEFAULT TRUE,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE UNIQUE INDEX channel_blacklists_one_active ON channel_blacklists (tenant_id, channel_id, customer_id)
    WHERE deleted_at IS NULL AND is_active;
CREATE INDEX channel_blacklists_customer ON channel_blacklists (tenant_id, customer_id);
CREATE INDEX channel_blacklists_recent ON channel_blacklists (tenant_id, id DESC);
