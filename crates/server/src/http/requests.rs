//! Request bodies, for the OpenAPI document only: handlers read input through
//! `JsonInput` and the Laravel-style validator (so every failure gets Laravel's
//! message), and these types describe what that validator accepts. Keeping them
//! exact lets schema fuzzing generate bodies that reach the handlers' logic.

#![allow(dead_code)]

use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /api/v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMessageRequest {
    #[schema(
        min_length = 1,
        max_length = 5000,
        example = "Tabii, yarın 14:00 uygun mu?"
    )]
    message: String,
    /// A message of the same conversation.
    #[schema(minimum = 1)]
    quoted_message_id: Option<i64>,
}

/// `POST /api/v1/conversations/{id}/messages/media` (multipart/form-data).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMediaRequest {
    /// The file; its type is sniffed from its bytes (images, audio, video, PDF and
    /// Office documents).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Caption.
    #[schema(max_length = 5000)]
    message: Option<String>,
}

/// `PUT /api/v1/conversations/{id}/messages/{messageId}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EditMessageRequest {
    #[schema(min_length = 1, max_length = 5000)]
    message: String,
}

/// `POST /api/v1/conversations/{id}/agent/disable`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableAgentRequest {
    /// Minutes the agent stays off; null or absent: until enabled again.
    #[schema(minimum = 1, maximum = 525600, example = 30)]
    duration_minutes: Option<i64>,
}

/// Why a customer is blocked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlacklistReason {
    RateLimit,
    LlmSpam,
    Manual,
    SecurityThreat,
    AbusiveLanguage,
}

/// `POST /api/v1/channel-blacklists`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateBlacklistRequest {
    /// A channel of this tenant.
    #[schema(minimum = 1)]
    channel_id: i64,
    /// A customer of this tenant.
    #[schema(minimum = 1)]
    customer_id: i64,
    reason: BlacklistReason,
    /// Seconds until the block ends (at most ten years); null: permanent.
    #[schema(minimum = 1, maximum = 315360000)]
    ttl_seconds: Option<i64>,
    #[schema(max_length = 1000)]
    note: Option<String>,
    #[schema(schema_with = super::resources::json_container)]
    metadata: Option<serde_json::Value>,
}

/// `PUT /api/v1/channel-blacklists/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateBlacklistRequest {
    reason: Option<BlacklistReason>,
    #[schema(max_length = 1000)]
    note: Option<String>,
    /// RFC 3339; null makes the entry permanent.
    #[schema(format = DateTime, example = "2030-01-01T00:00:00Z")]
    expires_at: Option<String>,
    is_active: Option<bool>,
    /// Merged into the stored metadata.
    #[schema(schema_with = super::resources::json_container)]
    metadata: Option<serde_json::Value>,
}

/// A channel's type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    Whatsapp,
    Instagram,
    Website,
    Telegram,
}

/// `POST /api/v1/channels`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateChannelRequest {
    #[serde(rename = "type")]
    channel_type: ChannelType,
    #[schema(min_length = 1, max_length = 255, example = "Front desk")]
    name: String,
    #[schema(min_length = 1, max_length = 255, example = "+905320000000")]
    address: String,
    /// Free-form settings.
    #[schema(value_type = Option<Object>)]
    settings: Option<serde_json::Value>,
}

/// `PUT /api/v1/channels/{id}`: the type cannot change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateChannelRequest {
    #[schema(min_length = 1, max_length = 255)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 255)]
    address: Option<String>,
    /// Merged into the stored settings.
    #[schema(value_type = Option<Object>)]
    settings: Option<serde_json::Value>,
}

/// `POST /api/v1/customers` and `PUT /api/v1/customers/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomerRequest {
    #[schema(max_length = 255)]
    first_name: Option<String>,
    #[schema(max_length = 255)]
    last_name: Option<String>,
    #[schema(max_length = 20, example = "+905321234567")]
    phone_number: Option<String>,
    #[schema(format = Email, example = "ayse@example.com")]
    email: Option<String>,
    #[schema(max_length = 2048, example = "https://example.com/a.png")]
    avatar_url: Option<String>,
    /// A channel of this tenant.
    #[schema(minimum = 1)]
    default_channel_id: Option<i64>,
}

/// What an inbound message is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundMessageType {
    Text,
    Image,
    Audio,
    Video,
    Document,
    Location,
    Sticker,
}

/// `POST /api/v1/channels/{id}/inbound`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InboundRequest {
    /// The customer's address on the channel.
    #[schema(min_length = 1, max_length = 255, example = "+90 532 123 45 67")]
    address: String,
    /// Required for text messages.
    #[schema(max_length = 5000, example = "Merhaba")]
    message: Option<String>,
    /// Default `text`.
    message_type: Option<InboundMessageType>,
    /// The channel's own message id; a repeat is answered 200 `duplicate`.
    #[schema(max_length = 255, example = "wamid.HBgM")]
    external_id: Option<String>,
    #[schema(max_length = 255)]
    first_name: Option<String>,
    #[schema(max_length = 255)]
    last_name: Option<String>,
    #[schema(format = DateTime, example = "2023-11-07T05:31:56Z")]
    sent_at: Option<String>,
}

/// An OAuth grant type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

/// `POST /oauth/token` (RFC 6749), form-encoded or JSON. Which parameters a grant
/// needs: `authorization_code`: `code`, `redirect_uri`, and `code_verifier` for
/// PKCE; `refresh_token`: `refresh_token`, optionally a narrower `scope`;
/// `client_credentials`: optionally `scope`. The client authenticates with HTTP
/// Basic, or with `client_id` (+ `client_secret` for confidential clients) here.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    grant_type: GrantType,
    #[schema(example = "sbcl_4Jc1Tb0mYqkXo3eWlY2s0A")]
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    #[schema(min_length = 43, max_length = 128)]
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    /// Space-separated scopes.
    #[schema(example = "conversations:read")]
    scope: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662),
/// form-encoded or JSON; the client authenticates as at the token endpoint.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenQuery {
    /// An access or refresh token.
    token: String,
    /// `access_token` or `refresh_token`; a hint only.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}
