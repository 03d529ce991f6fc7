//! Request-wide concerns: request ids, one log line per request, the request
//! timeout, and the API gate (authentication and rate limiting).

use super::client_addr::ClientAddr;
use super::error::{ApiError, ErrorCode};
use super::extract::{positive_id, Authentication, Caller};
use super::rate_limit::{Decision, RateKey};
use crate::app::AppState;
use crate::credentials::{secret_hash, OAUTH_ACCESS_PREFIX};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;
use subtle::ConstantTimeEq;
use switchboard_core::{Channel, UserId};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Assigns a request id (a well-formed incoming `X-Request-Id` is kept), bounds the
/// wait for the answer by the configured timeout, and logs one line when it completes.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| is_acceptable_request_id(v))
        .cloned()
        .unwrap_or_else(|| {
            // From the thread's generator: `Uuid::new_v4` asks the kernel (a getrandom
            // system call) on every request.
            let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
            HeaderValue::from_str(&id.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        });
    req.headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The handler runs in a task of its own, so a client that disconnects stops only
    // the wait for the answer, never the request half-way (a handler may make more
    // than one write). The timeout is inside the task: it does cancel the handler,
    // whose open transaction then rolls back; a write whose commit was already under
    // way stays, so a timeout's 503 on a write means "not known" (docs/api.md).
    let timeout = state.config.request_timeout;
    let handling = tokio::spawn(async move { tokio::time::timeout(timeout, next.run(req)).await });
    let mut response = match handling.await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => ApiError::new(ErrorCode::Timeout).into_response(),
        Err(e) => {
            // A panic was answered inside already (`CatchPanicLayer`).
            tracing::error!(error = %e, "request handler failed");
            ApiError::new(ErrorCode::Internal).into_response()
        }
    };
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id.clone());
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let request_id = request_id.to_str().unwrap_or("");
    tracing::info!(
        target: "switchboard::http",
        request_id,
        %method,
        path,
        status,
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        "request"
    );
    response
}

fn is_acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// For `/api/v1/...`: authenticates the bearer token (if any), counts the request against its rate
/// limit (the client IP's when there is no valid token), and adds the rate-limit
/// headers to whatever the route answers. Routes decide whether they need a caller
/// (the `Caller` extractor), so unknown routes still answer 404, not 401.
pub async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Health checks and the docs are not the API: no token, no limit. The OAuth
    // endpoints are limited like the API (per client IP: they take no bearer token).
    let path = req.uri().path();
    if let Some(channel_id) = inbound_channel_id(path) {
        return inbound_gate(&state, channel_id, req, next).await;
    }
    if !(path.starts_with("/api/v1/") || path.starts_with("/oauth/")) {
        return next.run(req).await;
    }
    let authentication = authenticate(&state, req.headers()).await;
    let key = match &authentication {
        Authentication::Authenticated(caller) if caller.client.is_some() => {
            RateKey::OAuthToken(caller.token_id)
        }
        Authentication::Authenticated(caller) => RateKey::Token(caller.token_id),
        _ => RateKey::Ip(client_ip(&req)),
    };
    let decision = state.limiter.check(key, state.clock.now().timestamp());
    if let Some(d) = decision.filter(|d| !d.allowed) {
        let mut response = ApiError::new(ErrorCode::RateLimited)
            .with_header(header::RETRY_AFTER, HeaderValue::from(d.retry_after))
            .into_response();
        put_rate_headers(response.headers_mut(), &d);
        return response;
    }
    req.extensions_mut().insert(authentication);
    let mut response = next.run(req).await;
    if let Some(d) = decision {
        put_rate_headers(response.headers_mut(), &d);
    }
    response
}

/// The channel of an inbound ingest request, once its secret has been checked.
#[derive(Clone)]
pub struct InboundChannel(pub Channel);

/// `Some(id)` for `/api/v1/channels/{id}/inbound` (`None` as the id when it is not a
/// positive integer: the route answers 404 for it).
fn inbound_channel_id(path: &str) -> Option<Option<i64>> {
    let id = path
        .strip_prefix("/api/v1/channels/")?
        .strip_suffix("/inbound")?;
    (!id.contains('/')).then(|| positive_id(id))
}

/// Inbound ingest is authenticated by the channel's own secret, checked here, before
/// the body is read. A connector delivering with the right secret is counted against
/// the channel's budget (connectors deliver in bursts from few addresses, so a per-IP
/// budget would throttle them together); an unknown channel or a wrong secret is
/// counted against the client IP's, so guessing cannot exhaust a channel's budget.
async fn inbound_gate(
    state: &AppState,
    channel_id: Option<i64>,
    mut req: Request,
    next: Next,
) -> Response {
    let verified = match channel_id {
        Some(id) => match verify_channel_secret(state, id, req.headers()).await {
            Ok(verified) => verified,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let key = match &verified {
        Some(channel) => RateKey::Channel(channel.id),
        None => RateKey::Ip(client_ip(&req)),
    };
    let decision = state.limiter.check(key, state.clock.now().timestamp());
    let mut response = match (decision.filter(|d| !d.allowed), verified) {
        (Some(d), _) => ApiError::new(ErrorCode::RateLimited)
            .with_header(header::RETRY_AFTER, HeaderValue::from(d.retry_after))
            .into_response(),
        (None, None) if channel_id.is_some() => {
            ApiError::new(ErrorCode::Unauthenticated).into_response()
        }
        (None, verified) => {
            if let Some(channel) = verified {
                req.extensions_mut().insert(InboundChannel(channel));
            }
            next.run(req).await
        }
    };
    if let Some(d) = decision {
        put_rate_headers(response.headers_mut(), &d);
    }
    response
}

/// The channel whose secret the request presents (`X-Channel-Secret`, or a bearer
/// token). Unknown channel and wrong secret look alike; the comparison is
/// constant-time. The channel and its secret's hash come from the server's cache
/// when it holds them (`oauth::cache`): one query fewer per ingest.
async fn verify_channel_secret(
    state: &AppState,
    channel_id: i64,
    headers: &HeaderMap,
) -> Result<Option<Channel>, ApiError> {
    let Some(secret) = presented_channel_secret(headers) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let found = match state.token_cache.channel(channel_id, now) {
        Some(cached) => Some(cached),
        None => {
            let generation = state.token_cache.generation();
            let found = state.store.find_channel_for_inbound(channel_id).await?;
            if let Some((channel, stored)) = &found {
                let cache = &state.token_cache;
                cache.put_channel(channel.clone(), stored.clone(), now, generation);
            }
            found
        }
    };
    Ok(found.and_then(|(channel, stored)| {
        bool::from(secret_hash(secret).as_bytes().ct_eq(stored.as_bytes())).then_some(channel)
    }))
}

/// A header sent twice is no credential: which copy counts would be a guess.
fn presented_channel_secret(headers: &HeaderMap) -> Option<&str> {
    let single = |name| {
        let mut values = headers.get_all(name).iter();
        let first = values.next();
        if values.next().is_some() {
            Err(())
        } else {
            Ok(first)
        }
    };
    if let Some(secret) = single(HeaderName::from_static("x-channel-secret")).ok()? {
        return Some(secret.to_str().ok()?.trim());
    }
    let value = single(header::AUTHORIZATION).ok()??.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn put_rate_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(d.reset_at));
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ClientAddr>()
        .map(|ClientAddr(ip)| *ip)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Authentication {
    let Some(token) = bearer_token(headers) else {
        return Authentication::Unauthenticated;
    };
    let hash = secret_hash(token);
    let now = state.clock.now();
    if let Some(caller) = state.token_cache.get(&hash, now) {
        return Authentication::Authenticated(caller);
    }
    let generation = state.token_cache.generation();
    let found = if token.starts_with(OAUTH_ACCESS_PREFIX) {
        state
            .store
            .find_oauth_access_token(&hash)
            .await
            .map(|record| {
                record.filter(|r| r.is_usable_at(now)).map(|r| {
                    let caller = Caller {
                        user_id: r.user_id.unwrap_or(UserId(0)),
                        token_id: r.id,
                        scopes: r.scopes.into(),
                        client: Some(r.client_public_id.into()),
                        tenant: Some(r.tenant_id),
                        client_only: r.user_id.is_none(),
                    };
                    (caller, Some(r.expires_at))
                })
            })
    } else {
        state.store.find_access_token(&hash).await.map(|record| {
            record.filter(|r| r.is_usable_at(now)).map(|r| {
                let caller = Caller {
                    user_id: r.user_id,
                    token_id: r.id,
                    scopes: r.scopes.into(),
                    client: None,
                    tenant: None,
                    client_only: false,
                };
                (caller, r.expires_at)
            })
        })
    };
    match found {
        Ok(Some((caller, expires_at))) => {
            state
                .token_cache
                .put(hash, caller.clone(), expires_at, now, generation);
            Authentication::Authenticated(caller)
        }
        Ok(None) => Authentication::Unauthenticated,
        Err(e) => {
            tracing::error!(error = %e, "token lookup failed");
            Authentication::Unavailable
        }
    }
}

/// The token of a single `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= 512
        && token.bytes().all(|b| b.is_ascii_graphic());
    well_formed.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let read = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            bearer_token(&h).map(str::to_string)
        };
        assert_eq!(read("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(read("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(read("Basic abc"), None);
        assert_eq!(read("Bearer"), None);
        assert_eq!(read("Bearer a b"), None);
        let mut two = HeaderMap::new();
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(bearer_token(&two), None);
    }
}
