//! `/api/v1/conversations/{id}/messages...` and `/read`.

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{JsonBody, PathId, PathIds, QueryInput, TenantScope};
use super::json::Json;
use super::resources::*;
use crate::app::AppState;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use switchboard_core::service::{Actor, Messages, SendRequest};
use switchboard_core::validation::{Input, ValidationErrors};
use switchboard_core::{FileRef, IdempotencyKey, Message, Role, UserId};

pub const READ_SCOPE: &str = "messages:read";
pub const WRITE_SCOPE: &str = "messages:write";

/// Who acts (for `user_name`, `edited_by_user_name`, ...): the token's user, or, for a
/// client_credentials token, the OAuth client under its own name.
pub async fn actor(state: &AppState, scope: &TenantScope) -> Result<Actor, ApiError> {
    if let Some(user_id) = scope.caller.user() {
        let user = state
            .store
            .get_user(user_id)
            .await?
            .ok_or(ApiError::new(ErrorCode::Unauthenticated))?;
        return Ok(Actor {
            user_id: Some(user.id),
            name: user.name,
        });
    }
    let client_id = scope
        .caller
        .client
        .as_deref()
        .ok_or(ApiError::new(ErrorCode::Unauthenticated))?;
    let client = state
        .store
        .find_oauth_client(client_id)
        .await?
        .ok_or(ApiError::new(ErrorCode::Unauthenticated))?;
    Ok(Actor {
        user_id: None,
        name: client.name,
    })
}

pub fn message_resource(state: &AppState, headers: &HeaderMap, m: &Message) -> MessageResource {
    let url = m.file.as_ref().map(|f| {
        let grant = crate::files::FileGrant {
            key: &f.path,
            conversation_id: m.conversation_id,
            message_id: m.id,
        };
        state.signer.url(
            &state.base_url(headers),
            grant,
            state.clock.now().timestamp(),
        )
    });
    MessageResource::new(m, url)
}

/// List messages
///
/// Newest first (by arrival), paginated like the conversation list.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/messages",
    operation_id = "listMessages",
    tag = "Messages",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("id" = i64, Path, description = "Conversation id."),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100),
        ("page" = Option<i64>, Query, minimum = 1),
    ),
    responses(
        (status = 200, description = "Paginated set of MessageResource", body = MessagePage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
    headers: HeaderMap,
    QueryInput(input): QueryInput,
) -> Result<Json<MessagePage>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let (page, request, per_page_given) = state.messages.list(scope.tenant, id, &input).await?;
    let kept: Vec<(&str, String)> = if per_page_given {
        vec![("per_page", request.per_page.to_string())]
    } else {
        Vec::new()
    };
    let path = format!(
        "{}/api/v1/conversations/{id}/messages",
        state.base_url(&headers)
    );
    let data = page
        .items
        .iter()
        .map(|m| message_resource(&state, &headers, m))
        .collect();
    Ok(Json(MessagePage::new(
        data, &path, &kept, request, page.total,
    )))
}

fn idempotency_key(
    headers: &HeaderMap,
    scope: &TenantScope,
    actor: &Actor,
    request_digest: &[u8],
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::validation(ValidationErrors::single(
                "Idempotency-Key",
                "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
            ))
        })?;
    // Keys are the caller's own: per user, and for a client_credentials token (which
    // acts for no user) per client. A newline never occurs in a key, so the client's
    // prefix cannot collide with anything a caller sends.
    let (user_id, key) = match (actor.user_id, scope.caller.client.as_deref()) {
        (Some(user_id), _) => (user_id, key.to_string()),
        (None, client) => (UserId(0), format!("{}\n{key}", client.unwrap_or(""))),
    };
    Ok(Some(IdempotencyKey {
        user_id,
        key,
        fingerprint: hex::encode(request_digest),
    }))
}

fn sent(
    conversation_id: i64,
    m: &Message,
    replayed: bool,
) -> (StatusCode, HeaderMap, Json<SentEnvelope>) {
    let mut headers = HeaderMap::new();
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    let data = SentMessage {
        // The first answer said queued; a replay repeats the first answer.
        status: "queued".to_string(),
        message_id: m.id.to_string(),
        conversation_id: conversation_id.to_string(),
    };
    (
        StatusCode::CREATED,
        headers,
        Json(SentEnvelope::new("Message sent successfully.", data)),
    )
}

/// Send a text message
///
/// Stores the agent's message as `queued` for its channel. An `Idempotency-Key`
/// header makes retries safe: the same key replays the first response.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/messages",
    operation_id = "sendMessage",
    tag = "Messages",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a repeated key."),
        ("id" = i64, Path, description = "Conversation id."),
    ),
    request_body = super::requests::SendMessageRequest,
    responses(
        (status = 201, description = "Queued", body = SentEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Idempotency-Key reused for another request", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn send(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<(StatusCode, HeaderMap, Json<SentEnvelope>), ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    let input = body.read().await?;
    let actor = actor(&state, &scope).await?;
    let request = state
        .messages
        .text_request(scope.tenant, id, &input)
        .await?;
    let digest = Sha256::digest(
        format!(
            "text\n{id}\n{}\n{}",
            request.body.as_deref().unwrap_or(""),
            request.quoted_message_id.unwrap_or(0)
        )
        .as_bytes(),
    );
    let key = idempotency_key(&headers, &scope, &actor, &digest)?;
    let (message, replayed) = state
        .messages
        .send(scope.tenant, id, &actor, request, key)
        .await?;
    Ok(sent(id, &message, replayed))
}

/// Send a media message
///
/// Multipart form with `file` (required; its type is read from its bytes, not its
/// name) and an optional `message` caption. Images, audio, video and documents (PDF,
/// Office) are accepted, up to the configured size (50 MiB by default).
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/messages/media",
    operation_id = "sendMediaMessage",
    tag = "Messages",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a repeated key."),
        ("id" = i64, Path, description = "Conversation id."),
    ),
    request_body(content = super::requests::SendMediaRequest, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Queued", body = SentEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn send_media(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, HeaderMap, Json<SentEnvelope>), ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    // The multipart reader would take the first of two Content-Types (and its
    // boundary); an ambiguous body is refused instead.
    if headers
        .get_all(axum::http::header::CONTENT_TYPE)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType)
            .with_message("The Content-Type header must be sent once."));
    }
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(ErrorCode::UnsupportedMediaType)
            .with_message("The request body must be sent as multipart/form-data.")
    })?;
    let actor = actor(&state, &scope).await?;
    let limit = state.config.max_upload_bytes;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut caption: Option<String> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(upload_too_large(limit))
            }
            Err(e) => {
                return Err(ApiError::new(ErrorCode::InvalidJson).with_message(format!(
                    "The multipart body is malformed: {}.",
                    e.body_text()
                )))
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                upload_too_large(limit)
            } else {
                ApiError::new(ErrorCode::InvalidJson).with_message(format!(
                    "The multipart body is malformed: {}.",
                    e.body_text()
                ))
            }
        })?;
        match name.as_str() {
            "file" => {
                file = Some((
                    file_name.unwrap_or_else(|| "file".to_string()),
                    bytes.to_vec(),
                ))
            }
            "message" => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => caption = Some(text),
                Err(_) => {
                    return Err(ApiError::validation(ValidationErrors::single(
                        "message",
                        "The message field must be valid UTF-8 text.",
                    )))
                }
            },
            _ => {}
        }
    }
    let mut caption_input = serde_json::Map::new();
    if let Some(c) = caption {
        caption_input.insert("message".into(), serde_json::Value::String(c));
    }
    let caption = Messages::caption(&Input::from_json(serde_json::Value::Object(caption_input)))
        .map_err(ApiError::validation)?;
    let Some((file_name, bytes)) = file else {
        return Err(ApiError::validation(ValidationErrors::single(
            "file",
            "The file field is required.",
        )));
    };
    if bytes.len() > limit {
        return Err(upload_too_large(limit));
    }
    let Some((mime_type, message_type, extension)) = crate::files::sniff(&bytes) else {
        return Err(ApiError::validation(ValidationErrors::single(
            "file",
            "The file must be an image, audio, video or document (PDF, Word, Excel, PowerPoint).",
        )));
    };
    // The conversation must exist before anything is written to the file store.
    state.conversations.get(scope.tenant, id).await?;
    let digest = Sha256::digest(
        [
            b"media\n".as_slice(),
            caption.as_deref().unwrap_or("").as_bytes(),
            b"\n",
            &bytes,
        ]
        .concat(),
    );
    let key = idempotency_key(&headers, &scope, &actor, &digest)?;
    // Named by content, so a retried upload (an Idempotency-Key replay) rewrites the
    // same file instead of leaving a copy behind.
    let path = format!(
        "{}/{}.{extension}",
        scope.tenant.0,
        hex::encode(Sha256::digest(&bytes))
    );
    state.media.put(scope.tenant, &path, &bytes).await?;
    let request = SendRequest {
        body: caption,
        quoted_message_id: None,
        message_type: message_type.to_string(),
        file: Some(FileRef {
            path,
            name: sanitize_file_name(&file_name),
            mime_type: mime_type.to_string(),
            size: bytes.len() as i64,
        }),
    };
    let (message, replayed) = state
        .messages
        .send(scope.tenant, id, &actor, request, key)
        .await?;
    Ok(sent(id, &message, replayed))
}

fn upload_too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge).with_message(format!(
        "The file is larger than the limit of {limit} bytes."
    ))
}

/// The client's file name without directories or control characters.
fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.trim().is_empty() {
        "file".to_string()
    } else {
        clean
    }
}

/// Edit a message
///
/// Only agent messages can be edited; sets `is_edited` and `edited_by_user_name`.
#[utoipa::path(
    put,
    path = "/api/v1/conversations/{id}/messages/{messageId}",
    operation_id = "editMessage",
    tag = "Messages",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("id" = i64, Path, description = "Conversation id."),
        ("messageId" = i64, Path, description = "Message id."),
    ),
    request_body = super::requests::EditMessageRequest,
    responses(
        (status = 200, description = "The edited message", body = MessageEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn edit(
    State(state): State<AppState>,
    scope: TenantScope,
    PathIds(id, message_id): PathIds,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Json<MessageEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    let input = body.read().await?;
    let actor = actor(&state, &scope).await?;
    let message = state
        .messages
        .edit(scope.tenant, id, message_id, &actor, &input)
        .await?;
    Ok(Json(MessageEnvelope::new(
        "Message updated successfully.",
        message_resource(&state, &headers, &message),
    )))
}

/// Delete a message
///
/// Soft delete: the message stays in the list with `is_deleted`, without its text.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{id}/messages/{messageId}",
    operation_id = "deleteMessage",
    tag = "Messages",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("id" = i64, Path, description = "Conversation id."),
        ("messageId" = i64, Path, description = "Message id."),
    ),
    responses(
        (status = 200, description = "Deleted", body = ActionEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn delete(
    State(state): State<AppState>,
    scope: TenantScope,
    PathIds(id, message_id): PathIds,
) -> Result<Json<ActionEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    let actor = actor(&state, &scope).await?;
    state
        .messages
        .delete(scope.tenant, id, message_id, &actor)
        .await?;
    Ok(Json(ActionEnvelope::new(
        "Message deleted successfully.",
        ActionMessage {
            message: "Message deleted successfully.".to_string(),
        },
    )))
}

/// Mark a conversation read
///
/// Marks the customer's messages read; `unread_count` becomes "0".
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/read",
    operation_id = "markConversationRead",
    tag = "Conversations",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("id" = i64, Path, description = "Conversation id."),
    ),
    responses(
        (status = 200, description = "The conversation", body = ConversationEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["conversations:write"]))
)]
pub async fn mark_read(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<ConversationEnvelope>, ApiError> {
    scope.require(super::conversations::WRITE_SCOPE, Role::Agent)?;
    state.messages.mark_read(scope.tenant, id).await?;
    let conversation = state.conversations.get(scope.tenant, id).await?;
    Ok(Json(ConversationEnvelope {
        success: "Conversation marked as read.".to_string(),
        data: ConversationResource::new(conversation, state.clock.now()),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_lose_directories_and_control_characters() {
        assert_eq!(super::sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(super::sanitize_file_name("C:\\x\\photo.png"), "photo.png");
        assert_eq!(super::sanitize_file_name("a\u{0}b.png"), "ab.png");
        assert_eq!(super::sanitize_file_name("/"), "file");
    }
}
