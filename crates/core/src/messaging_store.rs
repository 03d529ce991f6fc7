//! Storage for messages, the agent switch, blacklists, channels, customers and
//! inbound ingest: part of `Store`, split out to keep each file about one thing.
//! Every method takes the tenant, except `find_channel_for_inbound`, whose caller
//! proves the tenant with the channel's own secret.

use crate::model::*;
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait MessagingStore: Send + Sync + 'static {
    /// Messages of a conversation, newest first; `None` when the conversation is not
    /// the tenant's.
    async fn list_messages(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        page: PageRequest,
    ) -> StoreResult<Option<PageOf<Message>>>;

    async fn get_message(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        message_id: i64,
    ) -> StoreResult<Option<Message>>;

    /// Stores an agent's message as `queued`, with its outbox entry, and moves the
    /// conversation's last message; all in one transaction. With an idempotency key,
    /// a repeated key returns the first message and stores nothing.
    /// `StoreError::NotFound` when the conversation is not the tenant's.
    async fn send_message(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        message: OutboundMessage,
        idempotency: Option<IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> StoreResult<SendOutcome>;

    async fn edit_message(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        message_id: i64,
        body: &str,
        editor_name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Message, MessageChangeError>>;

    /// Soft delete: the row stays, its text and file are no longer returned. A file
    /// the message held is due for the sweeper (`FileRecords::sweep_file`), which removes its
    /// bytes unless another live message holds the same file.
    async fn delete_message(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        message_id: i64,
        deleter_name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Message, MessageChangeError>>;

    /// Marks the conversation's customer messages read; `false` when not found.
    async fn mark_read(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Moves an outbound message along its delivery state machine; `Err(current)`
    /// when the transition is not allowed.
    async fn set_delivery_status(
        &self,
        tenant: TenantId,
        message_id: i64,
        status: DeliveryStatus,
        error: Option<String>,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<(), DeliveryStatus>>;

    /// Sets the AI agent switch; `false` when the conversation is not the tenant's.
    async fn set_agent(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        switch: AgentSwitch,
        by_user: Option<UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    async fn create_blacklist(
        &self,
        tenant: TenantId,
        entry: NewBlacklist,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<BlacklistEntry, BlacklistError>>;

    /// An entry that is not deleted.
    async fn get_blacklist(&self, tenant: TenantId, id: i64)
        -> StoreResult<Option<BlacklistEntry>>;

    async fn update_blacklist(
        &self,
        tenant: TenantId,
        id: i64,
        patch: BlacklistPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Result<BlacklistEntry, BlacklistError>>>;

    /// Soft delete, which unblocks. `None` when not found.
    async fn delete_blacklist(
        &self,
        tenant: TenantId,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<BlacklistEntry>>;

    async fn list_blacklists(
        &self,
        tenant: TenantId,
        filter: BlacklistFilter,
        page: PageRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<PageOf<BlacklistEntry>>;

    async fn list_channels(
        &self,
        tenant: TenantId,
        page: PageRequest,
    ) -> StoreResult<PageOf<ChannelRecord>>;

    async fn get_channel_record(
        &self,
        tenant: TenantId,
        id: i64,
    ) -> StoreResult<Option<ChannelRecord>>;

    async fn update_channel(
        &self,
        tenant: TenantId,
        id: i64,
        patch: ChannelPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ChannelRecord>>;

    /// Soft delete: the channel stops taking messages; its conversations remain.
    async fn delete_channel(
        &self,
        tenant: TenantId,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    async fn set_channel_secret(
        &self,
        tenant: TenantId,
        id: i64,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The (not deleted) channel with this id and its secret hash, whatever its tenant:
    /// only for inbound ingest, where the secret proves the tenant.
    async fn find_channel_for_inbound(&self, id: i64) -> StoreResult<Option<(Channel, String)>>;

    /// Stores a customer message from a channel, opening customer and conversation as
    /// needed; idempotent on `external_id`; refused (and counted) while the customer
    /// is blacklisted on the channel.
    async fn ingest(
        &self,
        channel: &Channel,
        message: InboundMessage,
        now: DateTime<Utc>,
    ) -> StoreResult<IngestOutcome>;

    async fn create_customer(
        &self,
        tenant: TenantId,
        fields: CustomerFields,
        now: DateTime<Utc>,
    ) -> StoreResult<CustomerRecord>;

    async fn get_customer(&self, tenant: TenantId, id: i64) -> StoreResult<Option<CustomerRecord>>;

    /// Updates the given fields and re-keys the customer's conversations for search.
    async fn update_customer(
        &self,
        tenant: TenantId,
        id: i64,
        fields: CustomerFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<CustomerRecord>>;

    async fn list_customers(
        &self,
        tenant: TenantId,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> StoreResult<PageOf<CustomerRecord>>;

    /// A server-wide setting, created with `initial` on first use.
    async fn setting(&self, name: &str, initial: &str, now: DateTime<Utc>) -> StoreResult<String>;
}
