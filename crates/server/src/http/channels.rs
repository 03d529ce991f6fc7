//! `/api/v1/channels`: the tenant's channels, their inbound secrets, and inbound
//! ingest (authenticated by the channel's secret, not a user token).

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{JsonBody, JsonInput, PathId, QueryInput, TenantScope};
use super::json::Json;
use super::middleware::InboundChannel;
use super::resources::*;
use crate::app::AppState;
use crate::credentials::{new_secret, secret_hash};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use switchboard_core::service::Channels;
use switchboard_core::{IngestOutcome, Role};

pub const READ_SCOPE: &str = "channels:read";
pub const WRITE_SCOPE: &str = "channels:write";
pub const CHANNEL_SECRET_PREFIX: &str = "sbc_";

/// List channels
#[utoipa::path(
    get,
    path = "/api/v1/channels",
    operation_id = "listChannels",
    tag = "Channels",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100), ("page" = Option<i64>, Query, minimum = 1),
    ),
    responses(
        (status = 200, description = "Paginated set of channels", body = ChannelPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["channels:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    scope: TenantScope,
    headers: HeaderMap,
    QueryInput(input): QueryInput,
) -> Result<Json<ChannelPage>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let (page, request, per_page_given) = state.channels.list(scope.tenant, &input).await?;
    let kept: Vec<(&str, String)> = if per_page_given {
        vec![("per_page", request.per_page.to_string())]
    } else {
        Vec::new()
    };
    let path = format!("{}/api/v1/channels", state.base_url(&headers));
    let data = page
        .items
        .iter()
        .map(|c| ChannelResource::new(c, None))
        .collect();
    Ok(Json(ChannelPage::new(
        data, &path, &kept, request, page.total,
    )))
}

/// Create a channel
///
/// `type` (whatsapp, instagram, website, telegram), `name`, `address` (max 255 each),
/// `settings` (object). The answer carries the channel's `inbound_secret`, shown only
/// this once. Admins and owners only.
#[utoipa::path(
    post,
    path = "/api/v1/channels",
    operation_id = "createChannel",
    tag = "Channels",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier.")),
    request_body = super::requests::CreateChannelRequest,
    responses(
        (status = 201, description = "Created", body = ChannelEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["channels:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    scope: TenantScope,
    body: JsonBody,
) -> Result<(StatusCode, Json<ChannelEnvelope>), ApiError> {
    scope.require(WRITE_SCOPE, Role::Admin)?;
    let input = body.read().await?;
    let new = Channels::validate_new(&input).map_err(ApiError::validation)?;
    let secret = new_secret(CHANNEL_SECRET_PREFIX);
    let channel = state
        .channels
        .create(scope.tenant, new, secret_hash(&secret))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ChannelEnvelope::new(
            "Channel created successfully.",
            ChannelResource::new(&channel, Some(secret)),
        )),
    ))
}

/// Get a channel
#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}",
    operation_id = "getChannel",
    tag = "Channels",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    responses(
        (status = 200, description = "The channel", body = ChannelEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["channels:read"]))
)]
pub async fn show(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<ChannelEnvelope>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let channel = state.channels.get(scope.tenant, id).await?;
    Ok(Json(ChannelEnvelope::new(
        "Channel retrieved successfully.",
        ChannelResource::new(&channel, None),
    )))
}

/// Update a channel
///
/// `name`, `address`, `settings` (merged). The type cannot change. Admins and owners only.
#[utoipa::path(
    put,
    path = "/api/v1/channels/{id}",
    operation_id = "updateChannel",
    tag = "Channels",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    request_body = super::requests::UpdateChannelRequest,
    responses(
        (status = 200, description = "The channel", body = ChannelEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["channels:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
    body: JsonBody,
) -> Result<Json<ChannelEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Admin)?;
    let input = body.read().await?;
    let updated = state.channels.update(scope.tenant, id, &input).await;
    state.token_cache.forget_channel(id);
    let channel = updated?;
    Ok(Json(ChannelEnvelope::new(
        "Channel updated successfully.",
        ChannelResource::new(&channel, None),
    )))
}

/// Delete a channel
///
/// Soft delete: the channel takes no more messages; its conversations remain readable.
#[utoipa::path(
    delete,
    path = "/api/v1/channels/{id}",
    operation_id = "deleteChannel",
    tag = "Channels",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    responses(
        (status = 200, description = "Deleted", body = ActionEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["channels:write"]))
)]
pub async fn delete(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<ActionEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Admin)?;
    let deleted = state.channels.delete(scope.tenant, id).await;
    state.token_cache.forget_channel(id);
    deleted?;
    Ok(Json(ActionEnvelope::new(
        "Channel deleted successfully.",
        ActionMessage {
            message: "Channel deleted successfully.".to_string(),
        },
    )))
}

/// Rotate a channel's inbound secret
///
/// The old secret stops working at once; the new one is shown only in this answer.
#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/secret",
    operation_id = "rotateChannelSecret",
    tag = "Channels",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    responses(
        (status = 200, description = "The channel with its new inbound_secret", body = ChannelEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["channels:write"]))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<ChannelEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Admin)?;
    let secret = new_secret(CHANNEL_SECRET_PREFIX);
    let rotated = state
        .channels
        .rotate_secret(scope.tenant, id, &secret_hash(&secret))
        .await;
    // The ingest's gate caches channels with their secret's hash: the old secret
    // stops working here at once (other servers: within the revocation poll).
    state.token_cache.forget_channel(id);
    rotated?;
    let channel = state.channels.get(scope.tenant, id).await?;
    Ok(Json(ChannelEnvelope::new(
        "Channel secret rotated successfully.",
        ChannelResource::new(&channel, Some(secret)),
    )))
}

/// Ingest an inbound message
///
/// For channel connectors, authenticated by the channel's own secret
/// (`X-Channel-Secret: sbc_...` or `Authorization: Bearer sbc_...`), no user token and
/// no `X-Tenant`. Body: `address` (required), `message`, `message_type` (text, image,
/// audio, video, document, location, sticker), `external_id`, `first_name`,
/// `last_name`, `sent_at` (RFC 3339). Idempotent on `external_id`. A customer blocked
/// on the channel is refused with 202 `{"status":"blocked"}`. Rate-limited per
/// channel (per client IP without the right secret), with the usual headers.
#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/inbound",
    operation_id = "ingestInboundMessage",
    tag = "Channels",
    params(
        ("id" = i64, Path, description = "Channel id."),
        ("X-Channel-Secret" = Option<String>, Header, description = "The channel's inbound secret."),
    ),
    request_body = super::requests::InboundRequest,
    responses(
        (status = 201, description = "Stored", body = InboundResult),
        (status = 200, description = "Already stored (same external_id)", body = InboundResult),
        (status = 202, description = "Refused: the customer is blocked on this channel", body = InboundResult),
        (status = 400, body = ErrorBody), (status = 401, description = "Unknown channel or wrong secret", body = ErrorBody),
        (status = 404, description = "The id is not a positive integer", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Over the channel's rate limit (or, without the right secret, the client IP's)", body = ErrorBody),
    ),
    security(())
)]
pub async fn inbound(
    State(state): State<AppState>,
    PathId(_id): PathId,
    // Set by `middleware::gate`, which checked the channel's secret.
    channel: Option<Extension<InboundChannel>>,
    JsonInput(input): JsonInput,
) -> Result<(StatusCode, Json<InboundResult>), ApiError> {
    let Some(Extension(InboundChannel(channel))) = channel else {
        return Err(ApiError::new(ErrorCode::Unauthenticated));
    };
    let outcome = state.inbound.ingest(&channel, &input).await?;
    let (status, result) = match outcome {
        IngestOutcome::Stored {
            conversation_id,
            message_id,
        } => (
            StatusCode::CREATED,
            InboundResult {
                status: "stored".into(),
                conversation_id: Some(conversation_id),
                message_id: Some(message_id),
            },
        ),
        IngestOutcome::Duplicate {
            conversation_id,
            message_id,
        } => (
            StatusCode::OK,
            InboundResult {
                status: "duplicate".into(),
                conversation_id: Some(conversation_id),
                message_id: Some(message_id),
            },
        ),
        IngestOutcome::Blocked { .. } => (
            StatusCode::ACCEPTED,
            InboundResult {
                status: "blocked".into(),
                conversation_id: None,
                message_id: None,
            },
        ),
    };
    Ok((status, Json(result)))
}
