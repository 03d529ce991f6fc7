//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use crate::app::AppState;
use crate::http::json::Json;
use crate::oauth::scopes::KNOWN_SCOPES;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{json, Value};

/// Authorization server metadata
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "oauthMetadata",
    tag = "OAuth",
    responses((status = 200, description = "RFC 8414 metadata", body = Object))
)]
pub async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let issuer = state.base_url(&headers);
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "scopes_supported": KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{issuer}/docs"),
    }))
}
