//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662).

use super::{authenticate_client, no_store, parse_body, read_body, OAuthError};
use crate::app::AppState;
use crate::credentials::{secret_hash, OAUTH_REFRESH_PREFIX};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Revoke a token
///
/// Revokes an access or refresh token issued to the authenticated client. Revoking a
/// refresh token revokes every token of its authorization. Unknown tokens, and
/// tokens of other clients, are answered 200 too (and left alone).
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "revokeToken",
    tag = "OAuth",
    request_body(content(
        (crate::http::requests::TokenQuery = "application/x-www-form-urlencoded"),
        (crate::http::requests::TokenQuery = "application/json"),
    )),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)"),
        (status = 400, description = "invalid_request", body = super::token::OAuthErrorBody),
        (status = 401, description = "invalid_client", body = super::token::OAuthErrorBody),
    ),
    security((), ("client_basic" = []))
)]
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match do_revoke(&state, &headers, body).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn do_revoke(state: &AppState, headers: &HeaderMap, body: Body) -> Result<(), OAuthError> {
    let bytes = read_body(state, body).await?;
    let params = parse_body(headers, &bytes)?;
    let auth = authenticate_client(state, headers, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is required."))?;
    let hash = secret_hash(token);
    let now = state.clock.now();
    if token.starts_with(OAUTH_REFRESH_PREFIX) {
        if let Some(refresh) = state.store.find_refresh_token(&hash).await? {
            if refresh.client_id == auth.client.id {
                state.store.revoke_grant(refresh.grant_id, now).await?;
                state.token_cache.clear();
            }
        }
    } else if let Some(access) = state.store.find_oauth_access_token(&hash).await? {
        if access.client_id == auth.client.id {
            state
                .store
                .revoke_oauth_access_token(access.id, now)
                .await?;
            state.token_cache.remove(&hash);
        }
    }
    Ok(())
}

/// An RFC 7662 answer: only `active` when the token is not active.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Introspection {
    active: bool,
    /// `Bearer` or `refresh_token`.
    token_type: Option<String>,
    /// Space-separated scopes.
    scope: Option<String>,
    client_id: Option<String>,
    /// The user id, or the client id for a client_credentials token.
    sub: Option<String>,
    tenant_id: Option<i64>,
    /// Unix time.
    iat: Option<i64>,
    /// Unix time.
    exp: Option<i64>,
}

/// Introspect a token
///
/// For resource servers: a confidential client of a tenant learns whether an
/// access or refresh token of the same tenant is active, and what it may do.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "introspectToken",
    tag = "OAuth",
    request_body(content(
        (crate::http::requests::TokenQuery = "application/x-www-form-urlencoded"),
        (crate::http::requests::TokenQuery = "application/json"),
    )),
    responses(
        (status = 200, description = "`{\"active\": true, ...}`, or `{\"active\": false}` alone", body = Introspection),
        (status = 400, description = "invalid_request", body = super::token::OAuthErrorBody),
        (status = 401, description = "invalid_client", body = super::token::OAuthErrorBody),
    ),
    security((), ("client_basic" = []))
)]
pub async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match do_introspect(&state, &headers, body).await {
        Ok(value) => {
            let mut response = axum::Json(value).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn do_introspect(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, OAuthError> {
    let bytes = read_body(state, body).await?;
    let params = parse_body(headers, &bytes)?;
    let auth = authenticate_client(state, headers, &params).await?;
    if !auth.with_secret {
        return Err(OAuthError::invalid_client());
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is required."))?;
    let hash = secret_hash(token);
    let now = state.clock.now();
    let tenant = auth.client.tenant_id;
    if token.starts_with(OAUTH_REFRESH_PREFIX) {
        if let Some(r) = state.store.find_refresh_token(&hash).await? {
            let active = r.tenant_id == tenant
                && r.revoked_at.is_none()
                && r.used_at.is_none()
                && r.expires_at > now
                && is_member(state, r.tenant_id, r.user_id).await?;
            if active {
                return Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": r.scopes.join(" "),
                    "client_id": r.client_public_id,
                    "sub": r.user_id.0.to_string(),
                    "tenant_id": r.tenant_id.0,
                    "iat": r.created_at.timestamp(),
                    "exp": r.expires_at.timestamp(),
                }));
            }
        }
    } else if let Some(t) = state.store.find_oauth_access_token(&hash).await? {
        // A client-credentials token has no user: it is the client's while the
        // client exists (deleting it revokes its tokens).
        let member = match t.user_id {
            Some(user) => is_member(state, t.tenant_id, user).await?,
            None => true,
        };
        if t.tenant_id == tenant && t.is_usable_at(now) && member {
            return Ok(json!({
                "active": true,
                "token_type": "Bearer",
                "scope": t.scopes.join(" "),
                "client_id": t.client_public_id,
                "sub": match t.user_id {
                    Some(user) => user.0.to_string(),
                    None => t.client_public_id.clone(),
                },
                "tenant_id": t.tenant_id.0,
                "iat": t.created_at.timestamp(),
                "exp": t.expires_at.timestamp(),
            }));
        }
    }
    Ok(json!({"active": false}))
}

/// Whether the token's user still belongs to its tenant: the API reads the
/// membership on every request (403 once the user has left), and introspection
/// must not call a token active that the API refuses.
async fn is_member(
    state: &AppState,
    tenant: switchboard_core::TenantId,
    user: switchboard_core::UserId,
) -> Result<bool, OAuthError> {
    Ok(state.store.membership(tenant, user).await?.is_some())
}
