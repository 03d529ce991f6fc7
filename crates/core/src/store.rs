//! The storage contract. Two implementations (SQLite, PostgreSQL) live in the
//! `switchboard-store` crate; everything above them talks to `dyn Store`.
//!
//! Tenant isolation starts here: every method that reads or writes tenant data takes
//! the `TenantId` and must scope every statement by it, so an id of another tenant
//! behaves exactly like an id that does not exist.

use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already holds this value (an e-mail address, say).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// A referenced row does not exist (or belongs to another tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database could not be reached or refused the statement.
    #[error("database error: {0}")]
    Database(String),
    /// A stored value could not be read back as its domain type.
    #[error("invalid data in the database: {0}")]
    Corrupt(String),
    /// The database refused a value it cannot hold (PostgreSQL text cannot contain
    /// NUL). The input is at fault, not the database: a caller error, never a retry.
    #[error("a value the database cannot store: {0}")]
    Unstorable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store:
    crate::messaging_store::MessagingStore
    + crate::auth_store::AuthStore
    + crate::files::FileRecords
    + Send
    + Sync
    + 'static
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Closes the connection pools, waiting for connections in use to be returned.
    async fn close(&self);

    // --- Operator-level records: tenants, users, memberships, tokens. These are not
    // tenant data; they decide which tenants a caller may reach.

    async fn create_tenant(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Tenant>;

    async fn count_tenants(&self) -> StoreResult<i64>;

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;

    /// Creates the user, or `StoreError::Duplicate("user")` when the e-mail is taken.
    async fn create_user(&self, user: NewUser, now: DateTime<Utc>) -> StoreResult<User>;

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>>;

    /// Adds (or changes the role of) a membership. The tenant must exist.
    async fn put_membership(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Role,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The user's role in the tenant, `None` when not a member or no such tenant.
    async fn membership(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<Role>>;

    async fn list_memberships(&self, user: UserId) -> StoreResult<Vec<Membership>>;

    async fn create_access_token(
        &self,
        token: NewAccessToken,
        now: DateTime<Utc>,
    ) -> StoreResult<AccessToken>;

    /// The token whose SHA-256 (hex) is `token_hash`, revoked or not.
    async fn find_access_token(&self, token_hash: &str) -> StoreResult<Option<AccessToken>>;

    /// A user's personal access tokens, revoked and expired ones included, oldest first.
    async fn list_access_tokens(&self, user: UserId) -> StoreResult<Vec<AccessToken>>;

    /// Revokes a personal access token: `true` if this call revoked it, `false` if it
    /// was revoked already; `NotFound` when there is no such token.
    async fn revoke_access_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<bool>;

    // --- Tenant data.

    async fn create_channel(
        &self,
        tenant: TenantId,
        channel: NewChannel,
        now: DateTime<Utc>,
    ) -> StoreResult<Channel>;

    async fn get_channel(&self, tenant: TenantId, id: i64) -> StoreResult<Option<Channel>>;

    /// Opens the conversation for (tenant, channel, normalised address), or returns the
    /// existing one, filling in customer names only where the customer has none. Two
    /// concurrent calls with the same key yield one conversation.
    async fn create_conversation(
        &self,
        tenant: TenantId,
        new: NewConversation,
        now: DateTime<Utc>,
    ) -> StoreResult<Created<Conversation>>;

    async fn get_conversation(
        &self,
        tenant: TenantId,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Conversation>>;

    /// One page of the tenant's conversations, most recent activity first (ties by id
    /// descending), and the exact number of conversations the filter matches.
    async fn list_conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        page: PageRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<PageOf<Conversation>>;

    /// Appends a message and moves the conversation's last message, unread count
    /// (customer messages) and activity time with it, atomically. Returns the id.
    async fn add_message(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        message: NewMessage,
    ) -> StoreResult<i64>;
}
