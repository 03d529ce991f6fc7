//! `POST /oauth/token`: the `authorization_code`, `refresh_token` and
//! `client_credentials` grants (RFC 6749 4.1.3, 6, 4.4; PKCE per RFC 7636).

use super::{authenticate_client, no_store, parse_body, read_body, ClientAuth, OAuthError, Params};
use crate::app::AppState;
use crate::credentials::{
    constant_time_eq, new_secret, pkce_s256, secret_hash, OAUTH_ACCESS_PREFIX, OAUTH_REFRESH_PREFIX,
};
use crate::oauth::scopes;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde::Serialize;
use switchboard_core::auth_store::{NewClientToken, NewTokens};
use utoipa::ToSchema;

/// A successful token response (RFC 6749 5.1, in the key order Passport uses).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub access_token: String,
    /// Absent for client_credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// An RFC 6749 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    #[schema(example = "invalid_grant")]
    pub error: String,
    pub error_description: String,
    pub message: String,
}

/// Exchange a grant for tokens
///
/// Form-encoded (or JSON) body. Client authentication: HTTP Basic or
/// `client_id`/`client_secret` in the body; public clients send `client_id` and
/// prove the code with `code_verifier` (PKCE S256).
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "issueToken",
    tag = "OAuth",
    request_body(content(
        (crate::http::requests::TokenRequest = "application/x-www-form-urlencoded"),
        (crate::http::requests::TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Tokens (Cache-Control: no-store)", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, invalid_scope, unauthorized_client, unsupported_grant_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
    ),
    security((), ("client_basic" = []))
)]
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match issue(&state, &headers, body).await {
        Ok(tokens) => {
            let mut response = axum::Json(tokens).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<TokenResponse, OAuthError> {
    let bytes = read_body(state, body).await?;
    let params = parse_body(headers, &bytes)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("The grant_type parameter is required."))?
        .clone();
    if !matches!(
        grant_type.as_str(),
        "authorization_code" | "refresh_token" | "client_credentials"
    ) {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "The grant type is not supported.",
        ));
    }
    let auth = authenticate_client(state, headers, &params).await?;
    match grant_type.as_str() {
        "authorization_code" => authorization_code(state, &auth, &params).await,
        "refresh_token" => refresh_token(state, &auth, &params).await,
        _ => client_credentials(state, &auth, &params).await,
    }
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| OAuthError::invalid_request(format!("The {name} parameter is required.")))
}

/// Fresh access and refresh tokens: the values to return and the hashes to store.
fn new_pair(state: &AppState, scopes: Vec<String>) -> (String, String, NewTokens) {
    let now = state.clock.now();
    let access = new_secret(OAUTH_ACCESS_PREFIX);
    let refresh = new_secret(OAUTH_REFRESH_PREFIX);
    let tokens = NewTokens {
        access_hash: secret_hash(&access),
        access_expires_at: now + Duration::seconds(state.config.access_token_ttl_secs),
        refresh: Some((
            secret_hash(&refresh),
            now + Duration::seconds(state.config.refresh_token_ttl_secs),
        )),
        scopes,
    };
    (access, refresh, tokens)
}

/// A code verifier: 43 to 128 unreserved characters (RFC 7636, 4.1).
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn authorization_code(
    state: &AppState,
    auth: &ClientAuth,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code_text = required(params, "code")?;
    let redirect_uri = required(params, "redirect_uri")?;
    let invalid = || OAuthError::invalid_grant("The authorization code is invalid.");
    let code = state
        .store
        .find_auth_code(&secret_hash(code_text))
        .await?
        .ok_or_else(invalid)?;
    if code.client_id != auth.client.id {
        return Err(invalid());
    }
    let now = state.clock.now();
    if code.used_at.is_some() {
        // A second use: someone holds a copy. Revoke what the first use issued.
        if let Some(grant) = code.grant_id {
            state.store.revoke_grant(grant, now).await?;
            state.token_cache.clear();
        }
        return Err(OAuthError::invalid_grant(
            "The authorization code has already been used; the tokens issued for it are revoked.",
        ));
    }
    if code.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "The authorization code has expired.",
        ));
    }
    if !constant_time_eq(&code.redirect_uri, redirect_uri) {
        return Err(OAuthError::invalid_grant(
            "The redirect_uri does not match the authorization request.",
        ));
    }
    match (&code.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !is_verifier(verifier) || !constant_time_eq(&pkce_s256(verifier), challenge) {
                return Err(OAuthError::invalid_grant("The code_verifier is invalid."));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "The code_verifier parameter is required.",
            ))
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "The authorization request had no code_challenge.",
            ))
        }
        (None, None) if !auth.with_secret => {
            return Err(OAuthError::invalid_grant(
                "The code_verifier parameter is required.",
            ))
        }
        (None, None) => {}
    }
    // The user may have left the tenant since approving.
    if state
        .store
        .membership(code.tenant_id, code.user_id)
        .await?
        .is_none()
    {
        return Err(invalid());
    }
    let (access, refresh, tokens) = new_pair(state, code.scopes.clone());
    match state.store.redeem_auth_code(&code, tokens, now).await? {
        Some(_) => Ok(TokenResponse {
            token_type: "Bearer",
            expires_in: state.config.access_token_ttl_secs,
            access_token: access,
            refresh_token: Some(refresh),
            scope: code.scopes.join(" "),
        }),
        None => {
            // Lost a race with another use of the same code: that is a replay too.
            if let Some(grant) = state
                .store
                .find_auth_code(&secret_hash(code_text))
                .await?
                .and_then(|c| c.grant_id)
            {
                state.store.revoke_grant(grant, now).await?;
                state.token_cache.clear();
            }
            Err(OAuthError::invalid_grant(
                "The authorization code has already been used; the tokens issued for it are revoked.",
            ))
        }
    }
}

async fn refresh_token(
    state: &AppState,
    auth: &ClientAuth,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let presented = required(params, "refresh_token")?;
    let invalid = || OAuthError::invalid_grant("The refresh token is invalid.");
    let refresh = state
        .store
        .find_refresh_token(&secret_hash(presented))
        .await?
        .ok_or_else(invalid)?;
    if refresh.client_id != auth.client.id {
        return Err(invalid());
    }
    let now = state.clock.now();
    if refresh.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "The refresh token has been revoked.",
        ));
    }
    if refresh.used_at.is_some() {
        // A rotated token came back: it was copied. End the whole family.
        state.store.revoke_grant(refresh.grant_id, now).await?;
        state.token_cache.clear();
        return Err(OAuthError::invalid_grant(
            "The refresh token has already been used; every token of this authorization is revoked.",
        ));
    }
    if refresh.expires_at <= now {
        return Err(OAuthError::invalid_grant("The refresh token has expired."));
    }
    let granted = match params.get("scope") {
        Some(text) => {
            let asked = scopes::parse(text).map_err(|unknown| {
                OAuthError::new(
                    "invalid_scope",
                    format!("The scope {unknown} is not known."),
                )
            })?;
            if let Some(scope) = scopes::first_not_covered(&asked, &refresh.scopes) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("The scope {scope} was not granted."),
                ));
            }
            if asked.is_empty() {
                refresh.scopes.clone()
            } else {
                asked
            }
        }
        None => refresh.scopes.clone(),
    };
    if state
        .store
        .membership(refresh.tenant_id, refresh.user_id)
        .await?
        .is_none()
    {
        return Err(invalid());
    }
    let (access, new_refresh, tokens) = new_pair(state, granted.clone());
    if !state
        .store
        .rotate_refresh_token(&refresh, tokens, now)
        .await?
    {
        // A concurrent use won the rotation: this one is a replay.
        state.store.revoke_grant(refresh.grant_id, now).await?;
        state.token_cache.clear();
        return Err(OAuthError::invalid_grant(
            "The refresh token has already been used; every token of this authorization is revoked.",
        ));
    }
    Ok(TokenResponse {
        token_type: "Bearer",
        expires_in: state.config.access_token_ttl_secs,
        access_token: access,
        refresh_token: Some(new_refresh),
        scope: granted.join(" "),
    })
}

async fn client_credentials(
    state: &AppState,
    auth: &ClientAuth,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    if !auth.with_secret {
        return Err(OAuthError::new(
            "unauthorized_client",
            "Only confidential clients may use the client_credentials grant.",
        ));
    }
    let granted = match params.get("scope") {
        Some(text) => {
            let asked = scopes::parse(text).map_err(|unknown| {
                OAuthError::new(
                    "invalid_scope",
                    format!("The scope {unknown} is not known."),
                )
            })?;
            if let Some(scope) = scopes::first_not_covered(&asked, &auth.client.scopes) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("The client may not ask for the scope {scope}."),
                ));
            }
            asked
        }
        None => auth.client.scopes.clone(),
    };
    if granted.is_empty() {
        return Err(OAuthError::new("invalid_scope", "No scope was requested."));
    }
    let now = state.clock.now();
    let access = new_secret(OAUTH_ACCESS_PREFIX);
    state
        .store
        .create_client_token(
            NewClientToken {
                client_id: auth.client.id,
                tenant_id: auth.client.tenant_id,
                token_hash: secret_hash(&access),
                scopes: granted.clone(),
                expires_at: now + Duration::seconds(state.config.access_token_ttl_secs),
            },
            now,
        )
        .await?;
    Ok(TokenResponse {
        token_type: "Bearer",
        expires_in: state.config.access_token_ttl_secs,
        access_token: access,
        refresh_token: None,
        scope: granted.join(" "),
    })
}
