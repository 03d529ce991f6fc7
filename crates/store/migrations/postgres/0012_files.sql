-- The files of the file store, PostgreSQL dialect (keep in step with the SQLite
-- migration of the same version). A file is named by its content, per tenant, so one
-- file may be held by several messages; its bytes can go only when no live message
-- holds it. An upload records its file here before it writes the bytes, and the
-- sweeper removes a file's bytes inside a transaction that holds this row: an upload
-- of the same bytes waits for that transaction, then writes them anew.
CREATE TABLE files (
    tenant_id      BIGINT NOT NULL REFERENCES tenants (id),
    key            TEXT NOT NULL,
    -- The last upload of these bytes; the sweeper leaves them alone for a grace
    -- period after it, while the message that holds them is being stored.
    uploaded_at    TIMESTAMPTZ NOT NULL,
    -- Due for a look: uploaded and not yet seen held, or a message holding it was
    -- deleted since.
    sweep_pending  BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX files_to_sweep ON files (uploaded_at) WHERE sweep_pending;

-- Whether a live message still holds a file; media messages only.
CREATE INDEX messages_file ON messages (tenant_id, file_path) WHERE file_path IS NOT NULL;

-- Files stored before this version: each is looked at once, so the bytes of messages
-- deleted before it go too.
INSERT INTO files (tenant_id, key, uploaded_at, sweep_pending)
SELECT DISTINCT tenant_id, file_path, now(), TRUE FROM messages WHERE file_path IS NOT NULL;
