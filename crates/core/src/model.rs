//! Domain records as the stores return them. HTTP resources are built from these
//! in the server crate; nothing here is serialised to clients directly.

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

/// The tenant a request acts for. Every `Store` method that touches tenant data takes
/// one, so a query without a tenant cannot be written by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelType {
    Whatsapp,
    Instagram,
    Website,
    Telegram,
}

impl ChannelType {
    pub const ALL: [ChannelType; 4] = [
        ChannelType::Whatsapp,
        ChannelType::Instagram,
        ChannelType::Website,
        ChannelType::Telegram,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Whatsapp => "whatsapp",
            ChannelType::Instagram => "instagram",
            ChannelType::Website => "website",
            ChannelType::Telegram => "telegram",
        }
    }
}

impl fmt::Display for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelType {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChannelType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownVariant)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownVariant;

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown value")
    }
}

impl std::error::Error for UnknownVariant {}

/// A member's role in a tenant, from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Agent,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Role::Agent),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(UnknownVariant),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tenant: Tenant,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: i64,
    pub tenant_id: TenantId,
    pub channel_type: ChannelType,
    pub name: String,
    pub address: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewChannel {
    pub channel_type: ChannelType,
    pub name: String,
    pub address: String,
    /// SHA-256 (hex) of the channel's inbound secret; the secret itself is shown once.
    pub inbound_secret_hash: String,
}

/// What the token store keeps: never the token, only its SHA-256.
#[derive(Debug, Clone)]
pub struct NewAccessToken {
    pub user_id: UserId,
    pub token_hash: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl AccessToken {
    pub fn is_usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| exp > now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
}

impl Customer {
    /// "First Last", either alone, or `None` when the customer has no name.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    pub id: i64,
    pub name: String,
    pub channel_type: ChannelType,
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlacklistReason {
    RateLimit,
    LlmSpam,
    Manual,
    SecurityThreat,
    AbusiveLanguage,
}

impl BlacklistReason {
    pub const ALL: [BlacklistReason; 5] = [
        BlacklistReason::RateLimit,
        BlacklistReason::LlmSpam,
        BlacklistReason::Manual,
        BlacklistReason::SecurityThreat,
        BlacklistReason::AbusiveLanguage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BlacklistReason::RateLimit => "rate_limit",
            BlacklistReason::LlmSpam => "llm_spam",
            BlacklistReason::Manual => "manual",
            BlacklistReason::SecurityThreat => "security_threat",
            BlacklistReason::AbusiveLanguage => "abusive_language",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BlacklistReason::RateLimit => "Rate limit",
            BlacklistReason::LlmSpam => "LLM spam",
            BlacklistReason::Manual => "Manual",
            BlacklistReason::SecurityThreat => "Security threat",
            BlacklistReason::AbusiveLanguage => "Abusive language",
        }
    }
}

impl FromStr for BlacklistReason {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BlacklistReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownVariant)
    }
}

/// A blacklist entry with the channel and customer it names.
#[derive(Debug, Clone, PartialEq)]
pub struct BlacklistEntry {
    pub id: i64,
    pub tenant_id: TenantId,
    pub reason: BlacklistReason,
    pub note: Option<String>,
    pub blocked_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub channel: ChannelSummary,
    pub customer: Customer,
}

impl BlacklistEntry {
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|exp| exp <= now)
    }

    /// Blocking: switched on, not deleted and not expired.
    pub fn blocks_at(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.deleted_at.is_none() && !self.is_expired_at(now)
    }
}

/// The AI agent switch as stored. A timed disable that has run out reads as enabled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentSwitch {
    pub disabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub disabled_by_user_name: Option<String>,
}

impl AgentSwitch {
    /// The switch as every reader must see it at `now`: expiry needs no background job.
    pub fn effective_at(&self, now: DateTime<Utc>) -> AgentSwitch {
        match self.expires_at {
            Some(exp) if self.disabled && exp <= now => AgentSwitch::default(),
            _ if !self.disabled => AgentSwitch::default(),
            _ => self.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastMessage {
    pub id: i64,
    pub preview: Option<String>,
    pub at: DateTime<Utc>,
    pub message_type: String,
    pub is_customer: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: i64,
    pub tenant_id: TenantId,
    pub address: String,
    pub customer: Customer,
    pub channel: ChannelSummary,
    pub last_message: Option<LastMessage>,
    pub unread_count: i64,
    pub agent: AgentSwitch,
    /// The active blacklist entry of this customer on this channel, if any.
    pub blacklist: Option<BlacklistEntry>,
    pub created_at: DateTime<Utc>,
}

impl Conversation {
    /// The customer's full name, or the address when there is none.
    pub fn display_name(&self) -> String {
        self.customer
            .full_name()
            .unwrap_or_else(|| self.address.clone())
    }
}

/// A validated, normalised request to open a conversation.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub channel_id: i64,
    pub address: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// What a create returns: the conversation, and whether it was made by this call.
#[derive(Debug, Clone)]
pub struct Created<T> {
    pub value: T,
    pub created: bool,
}

/// How the list is narrowed; built by the service from validated input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    pub channel_type: Option<ChannelType>,
    pub search: Option<crate::search::SearchPattern>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub per_page: i64,
}

impl PageRequest {
    /// Rows to skip, or `None` when the page lies beyond anything addressable.
    pub fn offset(&self) -> Option<i64> {
        (self.page - 1).checked_mul(self.per_page)
    }
}

#[derive(Debug, Clone)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A stored file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Key in the file store.
    pub path: String,
    pub name: String,
    pub mime_type: String,
    pub size: i64,
}

/// Delivery state of an outbound message: `queued -> sent -> delivered -> read`, or
/// `failed` from any state before `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Whether a connector may move a message from `self` to `next`.
    pub fn can_become(self, next: DeliveryStatus) -> bool {
        use DeliveryStatus::*;
        matches!(
            (self, next),
            (Queued, Sent)
                | (Sent, Delivered)
                | (Delivered, Read)
                | (Queued | Sent | Delivered, Failed)
        )
    }
}

impl FromStr for DeliveryStatus {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or(UnknownVariant)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub user_id: Option<UserId>,
    pub user_name: Option<String>,
    pub is_customer: bool,
    pub message_type: String,
    /// `None` once deleted: the text is no longer returned.
    pub body: Option<String>,
    pub quoted_message_id: Option<i64>,
    pub quoted_text: Option<String>,
    pub is_deleted: bool,
    pub is_edited: bool,
    pub edited_by_user_name: Option<String>,
    pub deleted_by_user_name: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub file: Option<FileRef>,
    pub status: Option<String>,
    pub external_id: Option<String>,
}

/// A message to append to a conversation; the conversation's `last_message_*`,
/// `unread_count` and list position move in the same transaction.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub user_id: Option<UserId>,
    pub user_name: Option<String>,
    pub is_customer: bool,
    pub message_type: String,
    pub body: Option<String>,
    pub external_id: Option<String>,
    pub status: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// An agent's outbound message, as the send endpoints build it.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// `None` when an OAuth client acts for itself.
    pub user_id: Option<UserId>,
    pub user_name: String,
    pub message_type: String,
    pub body: Option<String>,
    pub quoted_message_id: Option<i64>,
    pub file: Option<FileRef>,
}

/// An `Idempotency-Key` with what identifies the request it was first used for.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The acting user; `UserId(0)` for OAuth clients acting for themselves, which
    /// share one key space per tenant.
    pub user_id: UserId,
    pub key: String,
    /// Digest of the request: a key reused for a different request is refused.
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
pub enum SendOutcome {
    Sent(Message),
    /// The key was used before for the same request: the first message.
    Replayed(Message),
    /// The key was used before for a different request.
    KeyReused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageChangeError {
    NotFound,
    /// Only agent messages can be edited.
    NotAgentMessage,
    AlreadyDeleted,
}

/// A customer message arriving from a channel connector.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// Already normalised for the channel type.
    pub address: String,
    pub body: Option<String>,
    pub message_type: String,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    Stored {
        conversation_id: i64,
        message_id: i64,
    },
    /// The same `external_id` was stored before: nothing new was written.
    Duplicate {
        conversation_id: i64,
        message_id: i64,
    },
    /// The customer is blacklisted on this channel; counted, not stored.
    Blocked { blacklist_id: i64 },
}

#[derive(Debug, Clone)]
pub struct NewBlacklist {
    pub channel_id: i64,
    pub customer_id: i64,
    pub reason: BlacklistReason,
    pub note: Option<String>,
    pub metadata: serde_json::Value,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Fields of a blacklist update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct BlacklistPatch {
    pub reason: Option<BlacklistReason>,
    pub note: Option<Option<String>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub is_active: Option<bool>,
    /// Merged into the stored metadata (object keys overwrite).
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlacklistFilter {
    pub channel_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlacklistError {
    /// Channel or customer is not in the tenant.
    UnknownChannel,
    UnknownCustomer,
    /// The customer already has an active entry on the channel.
    AlreadyBlocked,
}

#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub settings: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerFields {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub default_channel_id: Option<Option<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerSort {
    Id,
    FirstName,
    LastName,
    CreatedAt,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    pub search: Option<crate::search::SearchPattern>,
    pub sort: Option<(CustomerSort, bool)>,
}

/// A customer with the fields the customers endpoints show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    pub customer: Customer,
    pub default_channel_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRecord {
    pub channel: Channel,
    pub settings: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}
