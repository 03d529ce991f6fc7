//! `/api/v1/conversations/{id}/agent`: the AI agent switch.

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathId, TenantScope};
use super::json::Json;
use super::messages::actor;
use super::resources::{AgentEnvelope, AgentStatusResource};
use crate::app::AppState;
use axum::extract::State;
use switchboard_core::Role;

use super::conversations::{READ_SCOPE, WRITE_SCOPE};

/// Agent status
///
/// A timed disable that has run out reads as enabled.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/agent",
    operation_id = "getAgentStatus",
    tag = "Agent",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path, description = "Conversation id.")),
    responses(
        (status = 200, description = "The agent switch", body = AgentEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["conversations:read"]))
)]
pub async fn status(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<AgentEnvelope>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let status = state.messages.agent_status(scope.tenant, id).await?;
    Ok(Json(AgentEnvelope::new(
        "Agent status retrieved successfully.",
        AgentStatusResource::new(&status),
    )))
}

/// Disable the agent
///
/// `duration_minutes` 1..525600, or null (or absent) to disable until enabled again.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/agent/disable",
    operation_id = "disableAgent",
    tag = "Agent",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path, description = "Conversation id.")),
    request_body = super::requests::DisableAgentRequest,
    responses(
        (status = 200, description = "The agent switch", body = AgentEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["conversations:write"]))
)]
pub async fn disable(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
    body: JsonBody,
) -> Result<Json<AgentEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    let input = body.read().await?;
    let actor = actor(&state, &scope).await?;
    let status = state
        .messages
        .disable_agent(scope.tenant, id, &actor, &input)
        .await?;
    Ok(Json(AgentEnvelope::new(
        "Agent disabled successfully.",
        AgentStatusResource::new(&status),
    )))
}

/// Enable the agent
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/agent/enable",
    operation_id = "enableAgent",
    tag = "Agent",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path, description = "Conversation id.")),
    responses(
        (status = 200, description = "The agent switch", body = AgentEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["conversations:write"]))
)]
pub async fn enable(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<AgentEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    let status = state.messages.enable_agent(scope.tenant, id).await?;
    Ok(Json(AgentEnvelope::new(
        "Agent enabled successfully.",
        AgentStatusResource::new(&status),
    )))
}
