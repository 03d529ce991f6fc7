//! `/api/v1/oauth/clients`: the tenant's OAuth applications, managed by its admins
//! and owners (scopes `clients:read` / `clients:write`).

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{JsonBody, TenantScope};
use super::json::Json;
use super::resources::timestamp;
use super::roles::{require_role, required_role, Group};
use crate::app::AppState;
use crate::oauth::clients::{find_client, register, ClientSpec, RegisterError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::auth_store::OAuthClient;
use switchboard_core::validation::{ValidationErrors, Validator};
use utoipa::ToSchema;

pub const READ_SCOPE: &str = "clients:read";
pub const WRITE_SCOPE: &str = "clients:write";
/// Scopes a client may ask for when the registration names none.
pub const DEFAULT_CLIENT_SCOPES: [&str; 2] = ["read", "write"];

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientResource {
    #[schema(example = "sbcl_4Jc1Tb0mYqkXo3eWlY2s0A")]
    pub client_id: String,
    pub name: String,
    /// Public clients have no secret and must use PKCE.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub created_at: String,
    /// Only in the response that created a confidential client: shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ClientResource {
    fn new(c: &OAuthClient, secret: Option<String>) -> Self {
        ClientResource {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            public: c.is_public(),
            redirect_uris: c.redirect_uris.clone(),
            scopes: c.scopes.clone(),
            created_at: timestamp(c.created_at),
            client_secret: secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub data: Vec<ClientResource>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientEnvelope {
    pub success: String,
    pub data: ClientResource,
}

/// Body of `POST /api/v1/oauth/clients` (documentation).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CreateClientRequest {
    #[schema(max_length = 255, example = "Front desk dashboard")]
    name: String,
    /// Exact redirect URIs: https, http on localhost, or a reverse-domain app scheme.
    /// Required for a public client; a confidential client used only for client
    /// credentials may have none (it cannot use the authorization-code flow).
    #[schema(example = json!(["https://app.example.com/callback"]))]
    redirect_uris: Option<Vec<String>>,
    /// A public client (no secret; PKCE only). Default false.
    public: Option<bool>,
    /// Scopes the client may ask for (array or space-separated). Default `read write`.
    #[schema(example = json!(["conversations:read", "conversations:write"]))]
    scopes: Option<Vec<String>>,
}

/// Scope, then role: the order of `TenantScope::require`.
fn guard(scope: &TenantScope, write: bool) -> Result<(), ApiError> {
    scope
        .caller
        .require_scope(if write { WRITE_SCOPE } else { READ_SCOPE })?;
    require_role(scope, required_role(Group::Clients, write))
}

/// List the tenant's OAuth clients
#[utoipa::path(
    get,
    path = "/api/v1/oauth/clients",
    operation_id = "listOAuthClients",
    tag = "OAuth clients",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier.")),
    responses(
        (status = 200, description = "The clients (secrets are never shown again)", body = ClientList),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 403, description = "Not a member, not an admin, or missing scope", body = ErrorBody),
    ),
    security(("bearer" = ["clients:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    scope: TenantScope,
) -> Result<Json<ClientList>, ApiError> {
    guard(&scope, false)?;
    let clients = state.store.list_oauth_clients(scope.tenant).await?;
    Ok(Json(ClientList {
        data: clients
            .iter()
            .map(|c| ClientResource::new(c, None))
            .collect(),
    }))
}

/// Register an OAuth client
#[utoipa::path(
    post,
    path = "/api/v1/oauth/clients",
    operation_id = "createOAuthClient",
    tag = "OAuth clients",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier.")),
    request_body = CreateClientRequest,
    responses(
        (status = 201, description = "Created; a confidential client's secret is shown only here", body = ClientEnvelope),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 403, description = "Not a member, not an admin, or missing scope", body = ErrorBody),
        (status = 422, description = "Validation failed", body = ErrorBody),
    ),
    security(("bearer" = ["clients:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    scope: TenantScope,
    body: JsonBody,
) -> Result<(StatusCode, Json<ClientEnvelope>), ApiError> {
    guard(&scope, true)?;
    let input = body.read().await?;
    let mut v = Validator::new(&input);
    let name = v.required_string("name", crate::oauth::clients::NAME_MAX);
    let redirect_uris = match input.get("redirect_uris") {
        // Required for a public client: `clients::validate` says so.
        None | Some(Value::Null) => Vec::new(),
        Some(value) => strings(value).unwrap_or_else(|| {
            v.fail(
                "redirect_uris",
                "The redirect uris field must be an array of strings.",
            );
            Vec::new()
        }),
    };
    let public = match input.get("public") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
            n.as_i64() == Some(1)
        }
        Some(Value::String(s)) if s == "0" || s == "1" => s == "1",
        Some(_) => {
            v.fail("public", "The public field must be true or false.");
            false
        }
    };
    let scopes = match input.get("scopes") {
        None | Some(Value::Null) => DEFAULT_CLIENT_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(value) => strings(value).unwrap_or_else(|| {
            v.fail("scopes", "The scopes field must be an array of strings.");
            Vec::new()
        }),
    };
    let mut errors = v.into_errors();
    let spec = ClientSpec {
        name: name.unwrap_or_default(),
        redirect_uris,
        public,
        scopes,
    };
    if let Err(found) = crate::oauth::clients::validate(&spec) {
        for (field, message) in found {
            if !errors.has(field) {
                errors.add(field, message);
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (client, secret) = register(
        state.store.as_ref(),
        state.clock.as_ref(),
        scope.tenant,
        spec,
    )
    .await
    .map_err(|e| match e {
        RegisterError::Invalid(found) => {
            let mut errors = ValidationErrors::new();
            for (field, message) in found {
                errors.add(field, message);
            }
            ApiError::validation(errors)
        }
        RegisterError::Store(e) => e.into(),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(ClientEnvelope {
            success: "Client created successfully.".to_string(),
            data: ClientResource::new(&client, secret),
        }),
    ))
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(|s| s.trim().to_string()))
        .collect()
}

/// Delete an OAuth client
///
/// Every token, refresh token and code the client obtained stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/oauth/clients/{client_id}",
    operation_id = "deleteOAuthClient",
    tag = "OAuth clients",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("client_id" = String, Path, description = "The client's public id.")
    ),
    responses(
        (status = 200, description = "Deleted", body = ClientEnvelope),
        (status = 401, description = "Unauthenticated", body = ErrorBody),
        (status = 403, description = "Not a member, not an admin, or missing scope", body = ErrorBody),
        (status = 404, description = "No such client in this tenant", body = ErrorBody),
    ),
    security(("bearer" = ["clients:write"]))
)]
pub async fn delete(
    State(state): State<AppState>,
    scope: TenantScope,
    Path(client_id): Path<String>,
) -> Result<Json<ClientEnvelope>, ApiError> {
    guard(&scope, true)?;
    let client = find_client(state.store.as_ref(), &client_id)
        .await?
        .filter(|c| c.tenant_id == scope.tenant)
        .ok_or(ApiError::new(ErrorCode::NotFound))?;
    if !state
        .store
        .delete_oauth_client(scope.tenant, &client_id, state.clock.now())
        .await?
    {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    state.token_cache.clear();
    Ok(Json(ClientEnvelope {
        success: "Client deleted successfully.".to_string(),
        data: ClientResource::new(&client, None),
    }))
}
