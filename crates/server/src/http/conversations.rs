//! `/api/v1/conversations`: the two seed endpoints and reading one conversation.

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathId, QueryInput, TenantScope};
use super::json::Json;
use super::json_writer::WrittenJson;
use super::pagination::Paginator;
use super::resources::{ConversationEnvelope, ConversationPage, ConversationResource};
use crate::app::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub const READ_SCOPE: &str = "conversations:read";
pub const WRITE_SCOPE: &str = "conversations:write";

/// Body of `POST /api/v1/conversations` (documentation; input is validated by hand
/// so that every failure gets Laravel's message).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CreateConversationRequest {
    /// The channel ID (a channel of this tenant).
    #[schema(minimum = 1, example = 2)]
    channel_id: i64,
    /// The customer's address on that channel: a phone number for WhatsApp, a chat
    /// id or @username for Telegram, a user id or handle for Instagram, a visitor
    /// id for the website chat.
    #[schema(max_length = 255, example = "+905321234567")]
    address: String,
    /// The first name.
    #[schema(max_length = 255)]
    first_name: Option<String>,
    /// The last name.
    #[schema(max_length = 255)]
    last_name: Option<String>,
}

/// Query of `GET /api/v1/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListConversationsQuery {
    /// The number of items per page (default 15).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<i64>,
    /// The page number (default 1).
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Case-insensitive substring of the customer's name, address or phone number.
    #[param(max_length = 255)]
    search: Option<String>,
    /// Filter by channel type.
    #[param(pattern = "^(whatsapp|instagram|website|telegram)$")]
    channel_type: Option<String>,
}

/// Create a conversation
///
/// Opens the conversation with a customer on a channel, creating the customer when
/// needed. Creating the same (channel, address) again returns the existing
/// conversation with 200, filling in names only where the customer has none.
#[utoipa::path(
    post,
    path = "/api/v1/conversations",
    operation_id = "createConversation",
    tag = "Conversations",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier.")),
    request_body = CreateConversationRequest,
    responses(
        (status = 201, description = "Created", body = ConversationEnvelope),
        (status = 200, description = "Already existed", body = ConversationEnvelope),
        (status = 400, description = "Missing or invalid X-Tenant, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 403, description = "Not a member of the tenant, or missing scope", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Validation failed", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = ["conversations:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    scope: TenantScope,
    body: JsonBody,
) -> Result<(StatusCode, HeaderMap, Json<ConversationEnvelope>), ApiError> {
    scope.caller.require_scope(WRITE_SCOPE)?;
    let input = body.read().await?;
    let created = state.conversations.create(scope.tenant, &input).await?;
    let (status, success) = if created.created {
        (StatusCode::CREATED, "Conversation created successfully.")
    } else {
        (StatusCode::OK, "Conversation already exists.")
    };
    let mut headers = HeaderMap::new();
    if let Ok(location) = format!("/api/v1/conversations/{}", created.value.id).parse() {
        headers.insert(header::LOCATION, location);
    }
    let data = ConversationResource::new(created.value, state.clock.now());
    Ok((
        status,
        headers,
        Json(ConversationEnvelope {
            success: success.to_string(),
            data,
        }),
    ))
}

/// Get all conversations
///
/// Most recent activity first (last message time, else creation time), ties by id
/// descending, in Laravel's paginated shape. Filters are kept in every link.
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    operation_id = "listConversations",
    tag = "Conversations",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ListConversationsQuery),
    responses(
        (status = 200, description = "Paginated set of ConversationResource", body = ConversationPage),
        (status = 400, description = "Missing or invalid X-Tenant", body = ErrorBody),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 403, description = "Not a member of the tenant, or missing scope", body = ErrorBody),
        (status = 422, description = "Validation failed", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = ["conversations:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    scope: TenantScope,
    headers: HeaderMap,
    QueryInput(input): QueryInput,
) -> Result<WrittenJson<ConversationPage>, ApiError> {
    scope.caller.require_scope(READ_SCOPE)?;
    let (page, params) = state.conversations.list(scope.tenant, &input).await?;
    let now = state.clock.now();
    let path = format!("{}/api/v1/conversations", state.base_url(&headers));
    let mut kept = Vec::new();
    if params.per_page_given {
        kept.push(("per_page", params.page.per_page.to_string()));
    }
    if let Some(search) = &params.search {
        kept.push(("search", search.clone()));
    }
    if let Some(t) = params.channel_type {
        kept.push(("channel_type", t.as_str().to_string()));
    }
    let paginator = Paginator {
        path: &path,
        kept_query: &kept,
        page: params.page,
        total: page.total,
        count: page.items.len(),
    };
    Ok(WrittenJson(ConversationPage {
        links: paginator.links(),
        meta: paginator.meta(),
        data: page
            .items
            .into_iter()
            .map(|c| ConversationResource::new(c, now))
            .collect(),
    }))
}

/// Get one conversation
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    operation_id = "getConversation",
    tag = "Conversations",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("id" = i64, Path, description = "Conversation id.")
    ),
    responses(
        (status = 200, description = "The conversation", body = ConversationEnvelope),
        (status = 400, description = "Missing or invalid X-Tenant", body = ErrorBody),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 403, description = "Not a member of the tenant, or missing scope", body = ErrorBody),
        (status = 404, description = "No such conversation in this tenant", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = ["conversations:read"]))
)]
pub async fn show(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<ConversationEnvelope>, ApiError> {
    scope.caller.require_scope(READ_SCOPE)?;
    let conversation = state.conversations.get(scope.tenant, id).await?;
    Ok(Json(ConversationEnvelope {
        success: "Conversation retrieved successfully.".to_string(),
        data: ConversationResource::new(conversation, state.clock.now()),
    }))
}
