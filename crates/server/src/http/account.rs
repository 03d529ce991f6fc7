//! `/api/v1/account/...`: about the caller, no tenant header needed.

use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use super::json::Json;
use super::resources::timestamp;
use crate::app::AppState;
use axum::extract::State;
use serde::Serialize;
use switchboard_core::{Membership, Role};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountTenant {
    pub id: i64,
    pub name: String,
    /// The caller's role in the tenant: `owner`, `admin` or `agent`.
    pub role: String,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountTenants {
    pub data: Vec<AccountTenant>,
}

/// List the caller's tenants
#[utoipa::path(
    get,
    path = "/api/v1/account/tenants",
    operation_id = "listAccountTenants",
    tag = "Account",
    responses(
        (status = 200, description = "The tenants the token's user belongs to", body = AccountTenants),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn tenants(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccountTenants>, ApiError> {
    let memberships = match (caller.user(), caller.tenant) {
        (Some(user), _) => state.store.list_memberships(user).await?,
        // A client acting for itself is in its own tenant, as an agent.
        (None, Some(tenant)) => state
            .store
            .get_tenant(tenant)
            .await?
            .map(|tenant| Membership {
                tenant,
                role: Role::Agent,
            })
            .into_iter()
            .collect(),
        (None, None) => Vec::new(),
    };
    Ok(Json(AccountTenants {
        data: memberships
            .into_iter()
            // An OAuth token reaches its client's tenant only.
            .filter(|m| caller.tenant.is_none_or(|t| t == m.tenant.id))
            .map(|m| AccountTenant {
                id: m.tenant.id.0,
                name: m.tenant.name,
                role: m.role.as_str().to_string(),
                created_at: timestamp(m.tenant.created_at),
            })
            .collect(),
    }))
}
