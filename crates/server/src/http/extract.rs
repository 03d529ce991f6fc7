//! Extractors that turn a request into checked, tenant-scoped input. Handlers never
//! read headers or bodies themselves, so every route gets the same rules:
//! 401 before 400 (tenant header) before 403 (membership) before body errors.

use super::error::{ApiError, ErrorCode};
use crate::app::AppState;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::sync::Arc;
use switchboard_core::validation::{Input, ValidationErrors};
use switchboard_core::{Role, TenantId, UserId};

/// The caller behind a valid bearer token. Set by the gate middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's user. A client_credentials token has none: it is `UserId(0)`,
    /// which is no user, and `client_only` is set; use `user()` where it matters.
    pub user_id: UserId,
    /// Id of the token in its table (personal or OAuth, see `client`).
    pub token_id: i64,
    pub scopes: Arc<[String]>,
    /// Public id of the OAuth client the token was issued to; `None` for personal
    /// access tokens.
    pub client: Option<Arc<str>>,
    /// The only tenant the token reaches (OAuth tokens: their client's tenant);
    /// `None`: every tenant the user belongs to.
    pub tenant: Option<TenantId>,
    /// A client_credentials token: the client acts for itself, with the agent role.
    pub client_only: bool,
}

impl Caller {
    /// `conversations:read` is granted by itself or by the `read` umbrella.
    pub fn has_scope(&self, needed: &str) -> bool {
        crate::oauth::scopes::grants(&self.scopes, needed)
    }

    /// The user the token acts for; `None` for client_credentials tokens.
    pub fn user(&self) -> Option<UserId> {
        (!self.client_only).then_some(self.user_id)
    }

    pub fn require_scope(&self, needed: &str) -> Result<(), ApiError> {
        if self.has_scope(needed) {
            Ok(())
        } else {
            Err(
                ApiError::new(ErrorCode::InsufficientScope).with_message(format!(
                    "The access token does not have the {needed} scope this request needs."
                )),
            )
        }
    }
}

/// What the gate found out about the request's credentials.
#[derive(Debug, Clone)]
pub enum Authentication {
    Authenticated(Caller),
    /// No token, an unknown, expired or revoked one, or a malformed header.
    Unauthenticated,
    /// The token could not be checked (database down).
    Unavailable,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authentication>() {
            Some(Authentication::Authenticated(caller)) => Ok(caller.clone()),
            Some(Authentication::Unavailable) => Err(ErrorCode::Unavailable.into()),
            _ => Err(ErrorCode::Unauthenticated.into()),
        }
    }
}

/// A caller acting inside one tenant it belongs to (the `X-Tenant` header).
#[derive(Debug, Clone)]
pub struct TenantScope {
    pub tenant: TenantId,
    pub role: Role,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for TenantScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let tenant = tenant_header(&parts.headers)?;
        // An OAuth token reaches its client's tenant only.
        if caller.tenant.is_some_and(|only| only != tenant) {
            return Err(ApiError::new(ErrorCode::TenantForbidden));
        }
        // Not a member and no such tenant look the same: never reveal which.
        let role = match caller.user() {
            Some(user) => {
                let now = state.clock.now();
                let role = match state.token_cache.role(user, tenant, now) {
                    Some(cached) => cached,
                    None => {
                        let generation = state.token_cache.generation();
                        let role = state.store.membership(tenant, user).await?;
                        state
                            .token_cache
                            .put_role(user, tenant, role, now, generation);
                        role
                    }
                };
                role.ok_or(ApiError::new(ErrorCode::TenantForbidden))?
            }
            None => Role::Agent,
        };
        Ok(TenantScope {
            tenant,
            role,
            caller,
        })
    }
}

impl TenantScope {
    /// Refuses callers whose role in the tenant is below `needed`.
    pub fn require_role(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(
                ApiError::new(ErrorCode::InsufficientRole).with_message(format!(
                    "This action needs the {} role in this tenant.",
                    needed.as_str()
                )),
            )
        }
    }

    /// Scope and role checks of one endpoint, in that order.
    pub fn require(&self, scope: &str, role: Role) -> Result<(), ApiError> {
        self.caller.require_scope(scope)?;
        self.require_role(role)
    }
}

fn tenant_header(headers: &HeaderMap) -> Result<TenantId, ApiError> {
    let mut values = headers.get_all("x-tenant").iter();
    let value = values
        .next()
        .ok_or(ApiError::new(ErrorCode::TenantRequired))?;
    if values.next().is_some() {
        return Err(ApiError::new(ErrorCode::TenantInvalid)
            .with_message("The X-Tenant header must be sent once."));
    }
    let text = value
        .to_str()
        .map_err(|_| ApiError::new(ErrorCode::TenantInvalid))?
        .trim();
    if text.is_empty() {
        return Err(ErrorCode::TenantRequired.into());
    }
    match text.parse::<i64>() {
        Ok(id) if id > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(TenantId(id)),
        _ => Err(ErrorCode::TenantInvalid.into()),
    }
}

/// The query string, read with Laravel's input rules.
pub struct QueryInput(pub Input);

impl<S: Send + Sync> FromRequestParts<S> for QueryInput {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(QueryInput(Input::from_query(
            parts.uri.query().unwrap_or(""),
        )))
    }
}

/// A JSON object body, read with Laravel's input rules. An empty body is an empty
/// object (so missing fields are reported as 422, not as a parse error); JSON that is
/// not an object is a 422.
pub struct JsonInput(pub Input);

impl FromRequest<AppState> for JsonInput {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_json_object(req, state.config.max_body_bytes)
            .await
            .map(JsonInput)
    }
}

/// A JSON object body not read yet: the handler reads it (`read`, with the rules of
/// `JsonInput`) after its scope and role checks, so that a caller without the scope
/// gets 403 whatever it sent, and no body is read for a request that is refused.
pub struct JsonBody {
    request: Request,
    limit: usize,
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(JsonBody {
            request,
            limit: state.config.max_body_bytes,
        })
    }
}

impl JsonBody {
    pub async fn read(self) -> Result<Input, ApiError> {
        read_json_object(self.request, self.limit).await
    }
}

async fn read_json_object(req: Request, limit: usize) -> Result<Input, ApiError> {
    {
        // Two media types for one body is ambiguous: refuse rather than pick one.
        if req
            .headers()
            .get_all(header::CONTENT_TYPE)
            .iter()
            .nth(1)
            .is_some()
        {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType)
                .with_message("The Content-Type header must be sent once."));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_large(limit));
        }
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(is_json_content_type);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| too_large(limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Input::default());
        }
        if is_json != Some(true) {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(ErrorCode::InvalidJson)
                .with_message(format!("The request body is not valid JSON: {e}."))
        })?;
        // An array or a scalar is not "no fields": acting on it (say, disabling the
        // agent indefinitely for a body of `[1]`) would do what nobody asked.
        if !value.is_object() {
            return Err(ApiError::validation(ValidationErrors::single(
                "body",
                "The request body must be a JSON object.",
            )));
        }
        Ok(Input::from_json(value))
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge).with_message(format!(
        "The request body is larger than the limit of {limit} bytes."
    ))
}

/// `application/json`, or any `application/*+json`, with or without parameters.
fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A positive integer id in the path; anything else is a route that does not exist.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::NotFound))?;
        positive_id(&raw)
            .map(PathId)
            .ok_or(ErrorCode::NotFound.into())
    }
}

/// Two positive integer ids in the path (`/conversations/{id}/messages/{messageId}`).
pub struct PathIds(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::NotFound))?;
        match (positive_id(&a), positive_id(&b)) {
            (Some(a), Some(b)) => Ok(PathIds(a, b)),
            _ => Err(ErrorCode::NotFound.into()),
        }
    }
}

pub(crate) fn positive_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && raw.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn caller(scopes: &[&str]) -> Caller {
        Caller {
            user_id: UserId(1),
            token_id: 1,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            client: None,
            tenant: None,
            client_only: false,
        }
    }

    #[test]
    fn umbrella_scopes_grant_their_kind() {
        assert!(caller(&["read"]).has_scope("conversations:read"));
        assert!(!caller(&["read"]).has_scope("conversations:write"));
        assert!(caller(&["conversations:write"]).has_scope("conversations:write"));
        assert!(!caller(&["messages:write"]).has_scope("conversations:write"));
    }

    #[test]
    fn tenant_header_must_be_one_positive_integer() {
        let parse = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-tenant", HeaderValue::from_str(v).unwrap());
            tenant_header(&h).map_err(|e| e.code())
        };
        assert_eq!(parse("12"), Ok(TenantId(12)));
        assert_eq!(parse(" 12 "), Ok(TenantId(12)));
        for bad in ["0", "-1", "abc", "1.5", "+3", "99999999999999999999"] {
            assert_eq!(parse(bad), Err(ErrorCode::TenantInvalid), "{bad}");
        }
        assert_eq!(parse(""), Err(ErrorCode::TenantRequired));
        assert_eq!(
            tenant_header(&HeaderMap::new()).map_err(|e| e.code()),
            Err(ErrorCode::TenantRequired)
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.api+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }
}
