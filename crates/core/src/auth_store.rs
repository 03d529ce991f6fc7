//! Storage for the OAuth 2.0 authorization server: clients, authorization codes,
//! grants (token families), access and refresh tokens, and the signed-in sessions of
//! the authorization pages. Every secret is passed in and kept as its SHA-256 hex;
//! the stores never see a token itself.

use crate::model::{Role, TenantId, UserId};
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A registered application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// Internal row id.
    pub id: i64,
    pub tenant_id: TenantId,
    /// The public identifier clients send (`client_id`).
    pub client_id: String,
    pub name: String,
    /// SHA-256 hex of the secret; `None` for public clients (PKCE only).
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    /// The scopes the client may ask for.
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl OAuthClient {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct NewOAuthClient {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
}

/// An authorization code as stored (the code itself is only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub id: i64,
    /// Internal id of the client it was issued to.
    pub client_id: i64,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// PKCE S256 challenge, if the authorization request had one.
    pub code_challenge: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    /// The grant its redemption created (set together with `used_at`).
    pub grant_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewAuthCode {
    pub code_hash: String,
    pub client_id: i64,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// An access token from the token endpoint, with the client it was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthAccessToken {
    pub id: i64,
    pub client_id: i64,
    /// The client's public identifier.
    pub client_public_id: String,
    /// The only tenant the token reaches (the client's).
    pub tenant_id: TenantId,
    /// `None` for client_credentials tokens: the client acts for itself.
    pub user_id: Option<UserId>,
    pub grant_id: Option<i64>,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl OAuthAccessToken {
    pub fn is_usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A refresh token with the grant it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: i64,
    pub grant_id: i64,
    pub client_id: i64,
    pub client_public_id: String,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// Set when it was exchanged for the next one (rotation).
    pub used_at: Option<DateTime<Utc>>,
    /// Set when it, or its whole grant, was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Hashes and lifetimes of an access token and, optionally, a refresh token to issue.
#[derive(Debug, Clone)]
pub struct NewTokens {
    pub access_hash: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh: Option<(String, DateTime<Utc>)>,
    pub scopes: Vec<String>,
}

/// A client_credentials token: no user, no grant.
#[derive(Debug, Clone)]
pub struct NewClientToken {
    pub client_id: i64,
    pub tenant_id: TenantId,
    pub token_hash: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSession {
    pub id: i64,
    pub user_id: UserId,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOAuthSession {
    pub session_hash: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A member of a tenant, as the members API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantMember {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub since: DateTime<Utc>,
}

/// What a role change or removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    NotMember,
    /// Refused: the tenant would be left without an owner.
    LastOwner,
}

#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Registers a client; the tenant must exist (`NotFound("tenant")`).
    async fn create_oauth_client(
        &self,
        client: NewOAuthClient,
        now: DateTime<Utc>,
    ) -> StoreResult<OAuthClient>;

    /// The client with this public identifier, unless deleted.
    async fn find_oauth_client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>>;

    /// The tenant's clients, oldest first.
    async fn list_oauth_clients(&self, tenant: TenantId) -> StoreResult<Vec<OAuthClient>>;

    /// Deletes the tenant's client and revokes every grant, code and token it
    /// obtained, atomically. `false` when the tenant has no such client.
    async fn delete_oauth_client(
        &self,
        tenant: TenantId,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    async fn create_auth_code(&self, code: NewAuthCode, now: DateTime<Utc>) -> StoreResult<()>;

    async fn find_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCode>>;

    /// Marks the code used and, in the same transaction, opens a grant for it and
    /// issues `tokens` in that grant. `None` when the code was already used (also by
    /// a concurrent call): the caller must treat that as a replay.
    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        tokens: NewTokens,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;

    async fn create_client_token(
        &self,
        token: NewClientToken,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn find_oauth_access_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<OAuthAccessToken>>;

    async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>>;

    /// Marks the refresh token used and issues `tokens` in its grant, atomically.
    /// `false` when it was already used or revoked (the caller then revokes the grant).
    async fn rotate_refresh_token(
        &self,
        refresh: &RefreshToken,
        tokens: NewTokens,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Revokes the grant and every access and refresh token in it.
    async fn revoke_grant(&self, grant_id: i64, now: DateTime<Utc>) -> StoreResult<()>;

    /// Revokes one access token.
    async fn revoke_oauth_access_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()>;

    /// A number that moves whenever any access token (personal or OAuth) is revoked,
    /// expired early or deleted, by any process: a server watches it to drop its
    /// cache of checked tokens.
    async fn revocation_serial(&self) -> StoreResult<i64>;

    /// Opens a signed-in session; expired sessions are swept on the way.
    async fn create_oauth_session(
        &self,
        session: NewOAuthSession,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The tenant's members with their roles, by user id.
    async fn list_members(&self, tenant: TenantId) -> StoreResult<Vec<TenantMember>>;

    /// Sets a member's role (or removes the membership when `role` is `None`),
    /// unless that would leave the tenant without an owner. Concurrent changes are
    /// serialised per tenant, so two owners cannot demote each other to none.
    async fn change_member(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Option<Role>,
    ) -> StoreResult<MemberChange>;

    /// Ends the session with this hash (signing out); nothing when there is none.
    async fn delete_oauth_session(&self, session_hash: &str) -> StoreResult<()>;

    /// The session with this hash, if it has not expired at `now`.
    async fn find_oauth_session(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OAuthSession>>;
}
