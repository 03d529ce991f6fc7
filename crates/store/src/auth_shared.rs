//! The `AuthStore` implementation both backends share (see `shared.rs` for why it
//! is a macro): SQL in the dialect SQLite and PostgreSQL both accept, `$1`
//! placeholders, write transactions from the backend's `begin_write()`.

use chrono::{DateTime, Utc};
use switchboard_core::auth_store::*;
use switchboard_core::{StoreError, TenantId, UserId};

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    pub id: i64,
    pub tenant_id: i64,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
}

pub(crate) const CLIENT_COLUMNS: &str =
    "id, tenant_id, client_id, name, secret_hash, redirect_uris, scopes, created_at";

impl TryFrom<ClientRow> for OAuthClient {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(OAuthClient {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: serde_json::from_str(&r.redirect_uris)
                .map_err(|_| crate::rows::corrupt("redirect uris", &r.redirect_uris))?,
            scopes: words(&r.scopes),
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CodeRow {
    pub id: i64,
    pub client_id: i64,
    pub tenant_id: i64,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scopes: String,
    pub code_challenge: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub grant_id: Option<i64>,
}

impl From<CodeRow> for AuthCode {
    fn from(r: CodeRow) -> Self {
        AuthCode {
            id: r.id,
            client_id: r.client_id,
            tenant_id: TenantId(r.tenant_id),
            user_id: UserId(r.user_id),
            redirect_uri: r.redirect_uri,
            scopes: words(&r.scopes),
            code_challenge: r.code_challenge,
            expires_at: r.expires_at,
            used_at: r.used_at,
            grant_id: r.grant_id,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccessRow {
    pub id: i64,
    pub client_id: i64,
    pub client_public_id: String,
    pub tenant_id: i64,
    pub user_id: Option<i64>,
    pub grant_id: Option<i64>,
    pub scopes: String,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<AccessRow> for OAuthAccessToken {
    fn from(r: AccessRow) -> Self {
        OAuthAccessToken {
            id: r.id,
            client_id: r.client_id,
            client_public_id: r.client_public_id,
            tenant_id: TenantId(r.tenant_id),
            user_id: r.user_id.map(UserId),
            grant_id: r.grant_id,
            scopes: words(&r.scopes),
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RefreshRow {
    pub id: i64,
    pub grant_id: i64,
    pub client_id: i64,
    pub client_public_id: String,
    pub tenant_id: i64,
    pub user_id: i64,
    pub scopes: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<RefreshRow> for RefreshToken {
    fn from(r: RefreshRow) -> Self {
        RefreshToken {
            id: r.id,
            grant_id: r.grant_id,
            client_id: r.client_id,
            client_public_id: r.client_public_id,
            tenant_id: TenantId(r.tenant_id),
            user_id: UserId(r.user_id),
            scopes: words(&r.scopes),
            expires_at: r.expires_at,
            used_at: r.used_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<MemberRow> for TenantMember {
    type Error = StoreError;
    fn try_from(r: MemberRow) -> Result<Self, StoreError> {
        Ok(TenantMember {
            user_id: UserId(r.user_id),
            email: r.email,
            name: r.name,
            role: r
                .role
                .parse()
                .map_err(|_| crate::rows::corrupt("role", &r.role))?,
            since: r.created_at,
        })
    }
}

/// Instantiates `AuthStore` for `$store` over database `$db` with connections `$conn`.
macro_rules! impl_auth_store {
    ($store:ty, $db:ty, $conn:ty) => {
        impl $store {
            /// Inserts an access token (and refresh token) into `grant_id`.
            async fn insert_tokens(
                conn: &mut $conn,
                grant_id: i64,
                client_id: i64,
                tenant_id: i64,
                user_id: i64,
                tokens: &switchboard_core::auth_store::NewTokens,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                let scopes = tokens.scopes.join(" ");
                sqlx::query::<$db>(
                    "INSERT INTO oauth_access_tokens (token_hash, client_id, tenant_id, user_id, grant_id, scopes, \
                     expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&tokens.access_hash)
                .bind(client_id)
                .bind(tenant_id)
                .bind(user_id)
                .bind(grant_id)
                .bind(&scopes)
                .bind(tokens.access_expires_at)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
                if let Some((hash, expires_at)) = &tokens.refresh {
                    sqlx::query::<$db>(
                        "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, scopes, expires_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(hash)
                    .bind(grant_id)
                    .bind(&scopes)
                    .bind(*expires_at)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                }
                Ok(())
            }

            async fn revoke_grants_where(
                conn: &mut $conn,
                condition: &str,
                value: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                for sql in [
                    format!("UPDATE oauth_grants SET revoked_at = $2 WHERE revoked_at IS NULL AND {condition}"),
                    format!(
                        "UPDATE oauth_access_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND grant_id IN \
                         (SELECT id FROM oauth_grants WHERE {condition})"
                    ),
                    format!(
                        "UPDATE oauth_refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND grant_id IN \
                         (SELECT id FROM oauth_grants WHERE {condition})"
                    ),
                ] {
                    sqlx::query::<$db>(&sql)
                        .bind(value)
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl switchboard_core::AuthStore for $store {
            async fn create_oauth_client(
                &self,
                client: switchboard_core::auth_store::NewOAuthClient,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::auth_store::OAuthClient> {
                let uris = serde_json::to_string(&client.redirect_uris)
                    .map_err(|e| switchboard_core::StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.begin_write().await?;
                let row: crate::auth_shared::ClientRow = sqlx::query_as::<$db, _>(&format!(
                    "INSERT INTO oauth_clients (tenant_id, client_id, name, secret_hash, redirect_uris, scopes, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {}",
                    crate::auth_shared::CLIENT_COLUMNS
                ))
                .bind(client.tenant_id.0)
                .bind(&client.client_id)
                .bind(&client.name)
                .bind(&client.secret_hash)
                .bind(uris)
                .bind(client.scopes.join(" "))
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if crate::rows::is_foreign_key_violation(&e) {
                        switchboard_core::StoreError::NotFound("tenant")
                    } else if crate::rows::is_unique_violation(&e) {
                        switchboard_core::StoreError::Duplicate("client")
                    } else {
                        crate::rows::db_err(e)
                    }
                })?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                row.try_into()
            }

            async fn find_oauth_client(
                &self,
                client_id: &str,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::auth_store::OAuthClient>> {
                let row: Option<crate::auth_shared::ClientRow> = sqlx::query_as::<$db, _>(&format!(
                    "SELECT {} FROM oauth_clients WHERE client_id = $1 AND deleted_at IS NULL",
                    crate::auth_shared::CLIENT_COLUMNS
                ))
                .bind(client_id)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_oauth_clients(
                &self,
                tenant: switchboard_core::TenantId,
            ) -> switchboard_core::store::StoreResult<Vec<switchboard_core::auth_store::OAuthClient>> {
                let rows: Vec<crate::auth_shared::ClientRow> = sqlx::query_as::<$db, _>(&format!(
                    "SELECT {} FROM oauth_clients WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id",
                    crate::auth_shared::CLIENT_COLUMNS
                ))
                .bind(tenant.0)
                .fetch_all(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn delete_oauth_client(
                &self,
                tenant: switchboard_core::TenantId,
                client_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<bool> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                let id: Option<i64> = sqlx::query_scalar::<$db, i64>(
                    "UPDATE oauth_clients SET deleted_at = $3 \
                     WHERE tenant_id = $1 AND client_id = $2 AND deleted_at IS NULL RETURNING id",
                )
                .bind(tenant.0)
                .bind(client_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let Some(id) = id else {
                    tx.rollback().await.map_err(db_err)?;
                    return Ok(false);
                };
                Self::revoke_grants_where(&mut *tx, "client_id = $1", id, now).await?;
                // client_credentials tokens have no grant; codes not yet redeemed die too.
                sqlx::query::<$db>(
                    "UPDATE oauth_access_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query::<$db>("UPDATE oauth_codes SET used_at = $2 WHERE client_id = $1 AND used_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(true)
            }

            async fn create_auth_code(
                &self,
                code: switchboard_core::auth_store::NewAuthCode,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                // Codes live ten minutes; sweep old ones so the table stays small.
                sqlx::query::<$db>("DELETE FROM oauth_codes WHERE expires_at < $1 AND grant_id IS NULL")
                    .bind(now - chrono::Duration::hours(1))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query::<$db>(
                    "INSERT INTO oauth_codes (code_hash, client_id, tenant_id, user_id, redirect_uri, scopes, \
                     code_challenge, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&code.code_hash)
                .bind(code.client_id)
                .bind(code.tenant_id.0)
                .bind(code.user_id.0)
                .bind(&code.redirect_uri)
                .bind(code.scopes.join(" "))
                .bind(&code.code_challenge)
                .bind(code.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn find_auth_code(
                &self,
                code_hash: &str,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::auth_store::AuthCode>> {
                let row: Option<crate::auth_shared::CodeRow> = sqlx::query_as::<$db, _>(
                    "SELECT id, client_id, tenant_id, user_id, redirect_uri, scopes, code_challenge, expires_at, \
                     used_at, grant_id FROM oauth_codes WHERE code_hash = $1",
                )
                .bind(code_hash)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn redeem_auth_code(
                &self,
                code: &switchboard_core::auth_store::AuthCode,
                tokens: switchboard_core::auth_store::NewTokens,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<i64>> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                let claimed = sqlx::query::<$db>(
                    "UPDATE oauth_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
                )
                .bind(code.id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
                if claimed != 1 {
                    tx.rollback().await.map_err(db_err)?;
                    return Ok(None);
                }
                let grant_id: i64 = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO oauth_grants (client_id, tenant_id, user_id, scopes, created_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(code.client_id)
                .bind(code.tenant_id.0)
                .bind(code.user_id.0)
                .bind(tokens.scopes.join(" "))
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query::<$db>("UPDATE oauth_codes SET grant_id = $2 WHERE id = $1")
                    .bind(code.id)
                    .bind(grant_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                Self::insert_tokens(&mut *tx, grant_id, code.client_id, code.tenant_id.0, code.user_id.0, &tokens, now)
                    .await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(grant_id))
            }

            async fn create_client_token(
                &self,
                token: switchboard_core::auth_store::NewClientToken,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO oauth_access_tokens (token_hash, client_id, tenant_id, scopes, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&token.token_hash)
                .bind(token.client_id)
                .bind(token.tenant_id.0)
                .bind(token.scopes.join(" "))
                .bind(token.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(crate::rows::db_err)?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(())
            }

            async fn find_oauth_access_token(
                &self,
                token_hash: &str,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::auth_store::OAuthAccessToken>> {
                let row: Option<crate::auth_shared::AccessRow> = sqlx::query_as::<$db, _>(
                    "SELECT t.id, t.client_id, c.client_id AS client_public_id, t.tenant_id, t.user_id, t.grant_id, \
                     t.scopes, t.expires_at, t.revoked_at, t.created_at \
                     FROM oauth_access_tokens t JOIN oauth_clients c ON c.id = t.client_id \
                     WHERE t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn find_refresh_token(
                &self,
                token_hash: &str,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::auth_store::RefreshToken>> {
                let row: Option<crate::auth_shared::RefreshRow> = sqlx::query_as::<$db, _>(
                    "SELECT r.id, r.grant_id, g.client_id, c.client_id AS client_public_id, g.tenant_id, g.user_id, \
                     r.scopes, r.expires_at, r.used_at, COALESCE(r.revoked_at, g.revoked_at) AS revoked_at, r.created_at \
                     FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id \
                     JOIN oauth_clients c ON c.id = g.client_id WHERE r.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn rotate_refresh_token(
                &self,
                refresh: &switchboard_core::auth_store::RefreshToken,
                tokens: switchboard_core::auth_store::NewTokens,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<bool> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                let claimed = sqlx::query::<$db>(
                    "UPDATE oauth_refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL \
                     AND revoked_at IS NULL AND grant_id IN (SELECT id FROM oauth_grants WHERE revoked_at IS NULL)",
                )
                .bind(refresh.id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
                if claimed != 1 {
                    tx.rollback().await.map_err(db_err)?;
                    return Ok(false);
                }
                Self::insert_tokens(
                    &mut *tx,
                    refresh.grant_id,
                    refresh.client_id,
                    refresh.tenant_id.0,
                    refresh.user_id.0,
                    &tokens,
                    now,
                )
                .await?;
                tx.commit().await.map_err(db_err)?;
                Ok(true)
            }

            async fn revoke_grant(
                &self,
                grant_id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                Self::revoke_grants_where(&mut *tx, "id = $1", grant_id, now).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn revoke_oauth_access_token(
                &self,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>("UPDATE oauth_access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::rows::db_err)?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(())
            }

            async fn revocation_serial(&self) -> switchboard_core::store::StoreResult<i64> {
                // Polled every second: through `poller()`, not the readers, whose
                // first-in-first-out idle queue it would cycle so that none of them
                // ever stayed idle long enough to be closed.
                sqlx::query_scalar::<$db, i64>("SELECT serial FROM revocation_serial WHERE id = 1")
                    .fetch_one(self.poller())
                    .await
                    .map_err(crate::rows::db_err)
            }

            async fn create_oauth_session(
                &self,
                session: switchboard_core::auth_store::NewOAuthSession,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>("DELETE FROM oauth_sessions WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query::<$db>(
                    "INSERT INTO oauth_sessions (session_hash, user_id, csrf_token, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&session.session_hash)
                .bind(session.user_id.0)
                .bind(&session.csrf_token)
                .bind(session.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn list_members(
                &self,
                tenant: switchboard_core::TenantId,
            ) -> switchboard_core::store::StoreResult<Vec<switchboard_core::auth_store::TenantMember>> {
                let rows: Vec<crate::auth_shared::MemberRow> = sqlx::query_as::<$db, _>(
                    "SELECT u.id AS user_id, u.email, u.name, m.role, m.created_at \
                     FROM tenant_memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.tenant_id = $1 ORDER BY u.id",
                )
                .bind(tenant.0)
                .fetch_all(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn change_member(
                &self,
                tenant: switchboard_core::TenantId,
                user: switchboard_core::UserId,
                role: Option<switchboard_core::Role>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::auth_store::MemberChange> {
                use crate::rows::db_err;
                use switchboard_core::auth_store::MemberChange;
                let mut tx = self.begin_write().await?;
                // Locks the tenant row (PostgreSQL; SQLite's write transaction is already
                // exclusive) so that owner counts cannot change under us.
                sqlx::query::<$db>("UPDATE tenants SET name = name WHERE id = $1")
                    .bind(tenant.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let current: Option<String> = sqlx::query_scalar::<$db, String>(
                    "SELECT role FROM tenant_memberships WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant.0)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let Some(current) = current else {
                    tx.rollback().await.map_err(db_err)?;
                    return Ok(MemberChange::NotMember);
                };
                let stays_owner = role == Some(switchboard_core::Role::Owner);
                if current == "owner" && !stays_owner {
                    let owners: i64 = sqlx::query_scalar::<$db, i64>(
                        "SELECT COUNT(*) FROM tenant_memberships WHERE tenant_id = $1 AND role = 'owner'",
                    )
                    .bind(tenant.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if owners <= 1 {
                        tx.rollback().await.map_err(db_err)?;
                        return Ok(MemberChange::LastOwner);
                    }
                }
                let changed = match role {
                    Some(role) => {
                        sqlx::query::<$db>(
                            "UPDATE tenant_memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2",
                        )
                        .bind(tenant.0)
                        .bind(user.0)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await
                    }
                    None => {
                        sqlx::query::<$db>("DELETE FROM tenant_memberships WHERE tenant_id = $1 AND user_id = $2")
                            .bind(tenant.0)
                            .bind(user.0)
                            .execute(&mut *tx)
                            .await
                    }
                };
                changed.map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(MemberChange::Done)
            }

            async fn delete_oauth_session(
                &self,
                session_hash: &str,
            ) -> switchboard_core::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>("DELETE FROM oauth_sessions WHERE session_hash = $1")
                    .bind(session_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::rows::db_err)?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(())
            }

            async fn find_oauth_session(
                &self,
                session_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::auth_store::OAuthSession>> {
                let row: Option<crate::auth_shared::SessionRow> = sqlx::query_as::<$db, _>(
                    "SELECT id, user_id, csrf_token, expires_at FROM oauth_sessions \
                     WHERE session_hash = $1 AND expires_at > $2",
                )
                .bind(session_hash)
                .bind(now)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(row.map(|r| switchboard_core::auth_store::OAuthSession {
                    id: r.id,
                    user_id: switchboard_core::UserId(r.user_id),
                    csrf_token: r.csrf_token,
                    expires_at: r.expires_at,
                }))
            }
        }
    };
}
