-- OAuth 2.0 authorization server, SQLite dialect (keep in step with the PostgreSQL
-- migration of the same version). Secrets, codes and tokens are stored only as
-- SHA-256 hex of the random value; the values themselves are shown once.

-- Applications. A public client (no secret) must use PKCE; a confidential one
-- authenticates with its secret. Deleting a client sets deleted_at and revokes
-- everything it obtained; the row stays so that tokens keep a valid reference.
CREATE TABLE oauth_clients (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    secret_hash    TEXT,
    redirect_uris  TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    deleted_at     TEXT
);
CREATE UNIQUE INDEX oauth_clients_client_id ON oauth_clients (client_id);
CREATE INDEX oauth_clients_tenant ON oauth_clients (tenant_id, id);

-- One user's authorization of one client: the family of every access and refresh
-- token obtained from one authorization code. Revoking it revokes them all.
CREATE TABLE oauth_grants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   INTEGER NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);

CREATE TABLE oauth_codes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash       TEXT NOT NULL,
    client_id       INTEGER NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    code_challenge  TEXT,
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    grant_id        INTEGER REFERENCES oauth_grants (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX oauth_codes_hash ON oauth_codes (code_hash);
CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);

-- Access tokens issued by the token endpoint. user_id is NULL for client_credentials
-- tokens (the client acts for itself); grant_id is NULL for them too.
CREATE TABLE oauth_access_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL,
    client_id   INTEGER NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    grant_id    INTEGER REFERENCES oauth_grants (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX oauth_access_tokens_hash ON oauth_access_tokens (token_hash);
CREATE INDEX oauth_access_tokens_grant ON oauth_access_tokens (grant_id);
CREATE INDEX oauth_access_tokens_client ON oauth_access_tokens (client_id);

-- Refresh tokens rotate: using one sets used_at and issues the next in the same
-- grant. Presenting one whose used_at is set is a replay and revokes the grant.
CREATE TABLE oauth_refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL,
    grant_id    INTEGER NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT,
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX oauth_refresh_tokens_hash ON oauth_refresh_tokens (token_hash);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);

-- Signed-in browser sessions of the authorization pages (the cookie holds the
-- random session id; the row its hash). csrf_token guards the consent form.
CREATE TABLE oauth_sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    session_hash  TEXT NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX oauth_sessions_hash ON oauth_sessions (session_hash);
CREATE INDEX oauth_sessions_expiry ON oauth_sessions (expires_at);
