//! `/api/v1/members`: the tenant's members and their roles. Admins see members and
//! manage agents (change nothing but remove them); owners also promote, demote and
//! remove admins and owners. A tenant always keeps at least one owner. Accounts
//! themselves are made with `switchboard user create`.

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{JsonBody, PathId, TenantScope};
use super::json::Json;
use super::resources::timestamp;
use super::roles::{require_role, required_role, role_to_change_member, Group};
use crate::app::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_core::auth_store::{MemberChange, TenantMember};
use switchboard_core::validation::{ValidationErrors, Validator};
use switchboard_core::{Role, UserId};
use utoipa::ToSchema;

pub const READ_SCOPE: &str = "members:read";
pub const WRITE_SCOPE: &str = "members:write";

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResource {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    /// `owner`, `admin` or `agent`.
    pub role: String,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub created_at: String,
}

impl From<&TenantMember> for MemberResource {
    fn from(m: &TenantMember) -> Self {
        MemberResource {
            user_id: m.user_id.0,
            email: m.email.clone(),
            name: m.name.clone(),
            role: m.role.as_str().to_string(),
            created_at: timestamp(m.since),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub data: Vec<MemberResource>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberEnvelope {
    pub success: String,
    pub data: MemberResource,
}

/// Body of `PUT /api/v1/members/{user_id}` (documentation).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UpdateMemberRequest {
    #[schema(example = "admin")]
    role: String,
}

/// Scope, then role: the order of `TenantScope::require`.
fn guard(scope: &TenantScope, write: bool) -> Result<(), ApiError> {
    scope
        .caller
        .require_scope(if write { WRITE_SCOPE } else { READ_SCOPE })?;
    require_role(scope, required_role(Group::Members, write))
}

/// List the tenant's members
#[utoipa::path(
    get,
    path = "/api/v1/members",
    operation_id = "listMembers",
    tag = "Members",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier.")),
    responses(
        (status = 200, description = "The members with their roles", body = MemberList),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 403, description = "Not a member, not an admin, or missing scope", body = ErrorBody),
    ),
    security(("bearer" = ["members:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    scope: TenantScope,
) -> Result<Json<MemberList>, ApiError> {
    guard(&scope, false)?;
    let members = state.store.list_members(scope.tenant).await?;
    Ok(Json(MemberList {
        data: members.iter().map(MemberResource::from).collect(),
    }))
}

async fn target(
    state: &AppState,
    scope: &TenantScope,
    user_id: i64,
) -> Result<TenantMember, ApiError> {
    state
        .store
        .list_members(scope.tenant)
        .await?
        .into_iter()
        .find(|m| m.user_id.0 == user_id)
        .ok_or(ApiError::new(ErrorCode::NotFound))
}

fn last_owner(field: &str) -> ApiError {
    ApiError::validation(ValidationErrors::single(
        field,
        "The tenant must keep at least one owner.",
    ))
}

/// Change a member's role
#[utoipa::path(
    put,
    path = "/api/v1/members/{user_id}",
    operation_id = "updateMember",
    tag = "Members",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("user_id" = i64, Path, description = "The member's user id.")
    ),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "Updated", body = MemberEnvelope),
        (status = 403, description = "Not allowed for your role, or missing scope", body = ErrorBody),
        (status = 404, description = "Not a member of this tenant", body = ErrorBody),
        (status = 422, description = "Invalid role, or the last owner", body = ErrorBody),
    ),
    security(("bearer" = ["members:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(user_id): PathId,
    body: JsonBody,
) -> Result<Json<MemberEnvelope>, ApiError> {
    guard(&scope, true)?;
    let input = body.read().await?;
    let mut v = Validator::new(&input);
    let role: Option<Role> = v.optional_enum("role");
    if role.is_none() && !v.has_error("role") {
        v.fail("role", "The role field is required.");
    }
    v.finish().map_err(ApiError::validation)?;
    let Some(role) = role else {
        return Err(ErrorCode::ValidationFailed.into());
    };
    let mut member = target(&state, &scope, user_id).await?;
    require_role(&scope, role_to_change_member(member.role, Some(role)))?;
    match state
        .store
        .change_member(scope.tenant, UserId(user_id), Some(role))
        .await?
    {
        // The new role counts from the next request on: cached roles are dropped.
        MemberChange::Done => state.token_cache.clear_roles(),
        MemberChange::NotMember => return Err(ErrorCode::NotFound.into()),
        MemberChange::LastOwner => return Err(last_owner("role")),
    }
    member.role = role;
    Ok(Json(MemberEnvelope {
        success: "Member updated successfully.".to_string(),
        data: MemberResource::from(&member),
    }))
}

/// Remove a member from the tenant
///
/// The user keeps their account; their tokens stop reaching this tenant at once.
#[utoipa::path(
    delete,
    path = "/api/v1/members/{user_id}",
    operation_id = "removeMember",
    tag = "Members",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("user_id" = i64, Path, description = "The member's user id.")
    ),
    responses(
        (status = 200, description = "Removed", body = MemberEnvelope),
        (status = 403, description = "Not allowed for your role, or missing scope", body = ErrorBody),
        (status = 404, description = "Not a member of this tenant", body = ErrorBody),
        (status = 422, description = "The last owner", body = ErrorBody),
    ),
    security(("bearer" = ["members:write"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(user_id): PathId,
) -> Result<Json<MemberEnvelope>, ApiError> {
    guard(&scope, true)?;
    let member = target(&state, &scope, user_id).await?;
    require_role(&scope, role_to_change_member(member.role, None))?;
    match state
        .store
        .change_member(scope.tenant, UserId(user_id), None)
        .await?
    {
        // The removed member's next request is refused: cached roles are dropped.
        MemberChange::Done => state.token_cache.clear_roles(),
        MemberChange::NotMember => return Err(ErrorCode::NotFound.into()),
        MemberChange::LastOwner => return Err(last_owner("user_id")),
    }
    Ok(Json(MemberEnvelope {
        success: "Member removed successfully.".to_string(),
        data: MemberResource::from(&member),
    }))
}
