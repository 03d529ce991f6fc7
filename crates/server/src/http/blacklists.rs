//! `/api/v1/channel-blacklists`: blocking customers on a channel.

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathId, QueryInput, TenantScope};
use super::json::Json;
use super::resources::{BlacklistEnvelope, BlacklistPage, BlacklistResource};
use crate::app::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use switchboard_core::Role;

pub const READ_SCOPE: &str = "blacklists:read";
pub const WRITE_SCOPE: &str = "blacklists:write";

/// Block a customer on a channel
///
/// `channel_id`, `customer_id` (both of this tenant), `reason` (rate_limit, llm_spam,
/// manual, security_threat, abusive_language), `ttl_seconds` (>= 1, or null for
/// permanent), `note` (max 1000), `metadata` (JSON array or object). At most one
/// active entry per channel and customer. Admins and owners only.
#[utoipa::path(
    post,
    path = "/api/v1/channel-blacklists",
    operation_id = "createBlacklist",
    tag = "Blacklists",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier.")),
    request_body = super::requests::CreateBlacklistRequest,
    responses(
        (status = 201, description = "Blocked", body = BlacklistEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["blacklists:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    scope: TenantScope,
    body: JsonBody,
) -> Result<(StatusCode, Json<BlacklistEnvelope>), ApiError> {
    scope.require(WRITE_SCOPE, Role::Admin)?;
    let input = body.read().await?;
    let entry = state.blacklists.create(scope.tenant, &input).await?;
    let data = BlacklistResource::new(&entry, state.clock.now());
    Ok((
        StatusCode::CREATED,
        Json(BlacklistEnvelope::new(
            "Customer blocked successfully.",
            data,
        )),
    ))
}

/// List blacklist entries
///
/// Filters: `channel_id`, `customer_id`, `active` (true: blocking now; false: switched
/// off or expired). Deleted entries are not listed. Newest first.
#[utoipa::path(
    get,
    path = "/api/v1/channel-blacklists",
    operation_id = "listBlacklists",
    tag = "Blacklists",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("channel_id" = Option<i64>, Query), ("customer_id" = Option<i64>, Query), ("active" = Option<bool>, Query),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100), ("page" = Option<i64>, Query, minimum = 1),
    ),
    responses(
        (status = 200, description = "Paginated set of blacklist entries", body = BlacklistPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["blacklists:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    scope: TenantScope,
    headers: HeaderMap,
    QueryInput(input): QueryInput,
) -> Result<Json<BlacklistPage>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let (page, request, kept) = state.blacklists.list(scope.tenant, &input).await?;
    let now = state.clock.now();
    let path = format!("{}/api/v1/channel-blacklists", state.base_url(&headers));
    let data = page
        .items
        .iter()
        .map(|e| BlacklistResource::new(e, now))
        .collect();
    Ok(Json(BlacklistPage::new(
        data, &path, &kept, request, page.total,
    )))
}

/// Get a blacklist entry
#[utoipa::path(
    get,
    path = "/api/v1/channel-blacklists/{id}",
    operation_id = "getBlacklist",
    tag = "Blacklists",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    responses(
        (status = 200, description = "The entry", body = BlacklistEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["blacklists:read"]))
)]
pub async fn show(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<BlacklistEnvelope>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let entry = state.blacklists.get(scope.tenant, id).await?;
    let data = BlacklistResource::new(&entry, state.clock.now());
    Ok(Json(BlacklistEnvelope::new(
        "Blacklist entry retrieved successfully.",
        data,
    )))
}

/// Update a blacklist entry
///
/// `reason`, `note`, `expires_at` (RFC 3339; null makes it permanent), `is_active`,
/// `metadata` (merged into the stored metadata). Admins and owners only.
#[utoipa::path(
    put,
    path = "/api/v1/channel-blacklists/{id}",
    operation_id = "updateBlacklist",
    tag = "Blacklists",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    request_body = super::requests::UpdateBlacklistRequest,
    responses(
        (status = 200, description = "The entry", body = BlacklistEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["blacklists:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
    body: JsonBody,
) -> Result<Json<BlacklistEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Admin)?;
    let input = body.read().await?;
    let entry = state.blacklists.update(scope.tenant, id, &input).await?;
    let data = BlacklistResource::new(&entry, state.clock.now());
    Ok(Json(BlacklistEnvelope::new(
        "Blacklist entry updated successfully.",
        data,
    )))
}

/// Unblock (soft delete)
#[utoipa::path(
    delete,
    path = "/api/v1/channel-blacklists/{id}",
    operation_id = "deleteBlacklist",
    tag = "Blacklists",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    responses(
        (status = 200, description = "The deleted entry", body = BlacklistEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["blacklists:write"]))
)]
pub async fn delete(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<BlacklistEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Admin)?;
    let entry = state.blacklists.delete(scope.tenant, id).await?;
    let data = BlacklistResource::new(&entry, state.clock.now());
    Ok(Json(BlacklistEnvelope::new(
        "Customer unblocked successfully.",
        data,
    )))
}
