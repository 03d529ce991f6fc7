//! The OAuth 2.0 authorization server over HTTP: the authorization pages
//! (`/oauth/authorize`, `/oauth/login`), the token, revocation and introspection
//! endpoints, and the RFC 8414 metadata. Errors of the JSON endpoints follow RFC 6749
//! (`error`, `error_description`, plus `message` as the rest of the API has).

pub mod authorize;
pub mod endpoints;
pub mod html;
pub mod metadata;
pub mod token;

use crate::app::AppState;
use crate::credentials::{constant_time_eq, secret_hash};
use crate::oauth::clients::find_client;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use switchboard_core::auth_store::OAuthClient;

/// Request parameters (query, form or JSON body), each given at most once.
pub type Params = HashMap<String, String>;

/// Why parameters could not be read.
#[derive(Debug)]
pub enum ParamsError {
    Repeated(String),
    Malformed(&'static str),
}

impl ParamsError {
    pub fn describe(&self) -> String {
        match self {
            ParamsError::Repeated(key) => format!("The {key} parameter is given more than once."),
            ParamsError::Malformed(what) => what.to_string(),
        }
    }
}

/// Reads `application/x-www-form-urlencoded` pairs; a repeated name is an error
/// (RFC 6749, 3.1 and 3.2), and empty values count as absent.
pub fn parse_form(bytes: &[u8]) -> Result<Params, ParamsError> {
    let mut params = Params::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        if params.contains_key(key.as_ref()) {
            return Err(ParamsError::Repeated(key.into_owned()));
        }
        params.insert(key.into_owned(), value.into_owned());
    }
    params.retain(|_, v| !v.is_empty());
    Ok(params)
}

/// A token-endpoint body: form-encoded (the standard) or a JSON object of strings.
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, ParamsError> {
    if headers
        .get_all(header::CONTENT_TYPE)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(ParamsError::Malformed(
            "The Content-Type header must be sent once.",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type == "application/json" {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| ParamsError::Malformed("The request body is not valid JSON."))?;
        let object = value
            .as_object()
            .ok_or(ParamsError::Malformed("The JSON body must be an object."))?;
        let mut params = Params::new();
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Null => continue,
                _ => return Err(ParamsError::Malformed("Every parameter must be a string.")),
            };
            if !text.is_empty() {
                params.insert(key.clone(), text);
            }
        }
        Ok(params)
    } else if content_type == "application/x-www-form-urlencoded" || body.is_empty() {
        parse_form(body)
    } else {
        Err(ParamsError::Malformed(
            "The request body must be application/x-www-form-urlencoded or application/json.",
        ))
    }
}

/// An RFC 6749 error answer of the JSON endpoints, never cached.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_client() -> Self {
        Self::new("invalid_client", "Client authentication failed.")
    }
}

impl From<switchboard_core::StoreError> for OAuthError {
    fn from(e: switchboard_core::StoreError) -> Self {
        tracing::error!(error = %e, "store error in the authorization server");
        OAuthError::new(
            "temporarily_unavailable",
            "The authorization server is temporarily unavailable.",
        )
    }
}

impl From<ParamsError> for OAuthError {
    fn from(e: ParamsError) -> Self {
        OAuthError::invalid_request(e.describe())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
            "message": self.description,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(response.headers_mut());
        // A 401 names the scheme to use (RFC 6749 5.2, RFC 9110 11.6.1).
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Switchboard\""),
            );
        }
        response
    }
}

/// Responses that carry tokens or secrets must not be stored (RFC 6749, 5.1).
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// `client_id` and `client_secret` from an `Authorization: Basic` header, each
/// form-decoded (RFC 6749, 2.3.1). `Err` for a malformed Basic header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    // Two credentials in one request (RFC 6749, 2.3: one method, once).
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(
            "The Authorization header must be sent once.",
        ));
    }
    let malformed = OAuthError::invalid_client;
    let text = value.to_str().map_err(|_| malformed())?.trim();
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// The client making a token, revocation or introspection request.
pub struct ClientAuth {
    pub client: OAuthClient,
    /// Whether it proved a secret (confidential clients always must).
    pub with_secret: bool,
}

/// Authenticates the client: HTTP Basic or `client_id`/`client_secret` in the body
/// (one method only); a public client names itself with `client_id` alone.
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientAuth, OAuthError> {
    let basic = basic_credentials(headers)?;
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if params.contains_key("client_secret") {
                return Err(OAuthError::invalid_request(
                    "Use one client authentication method only.",
                ));
            }
            if params
                .get("client_id")
                .is_some_and(|body_id| *body_id != id)
            {
                return Err(OAuthError::invalid_request(
                    "The client_id does not match the authenticated client.",
                ));
            }
            (id, Some(secret))
        }
        None => match params.get("client_id") {
            Some(id) => (id.clone(), params.get("client_secret").cloned()),
            None => {
                return Err(OAuthError::invalid_request(
                    "The client_id parameter is required.",
                ))
            }
        },
    };
    let fail = OAuthError::invalid_client;
    let client = find_client(state.store.as_ref(), &client_id)
        .await?
        .ok_or_else(fail)?;
    match (&client.secret_hash, secret) {
        (Some(stored), Some(given)) if constant_time_eq(stored, &secret_hash(&given)) => {
            Ok(ClientAuth {
                client,
                with_secret: true,
            })
        }
        (None, None) => Ok(ClientAuth {
            client,
            with_secret: false,
        }),
        _ => Err(fail()),
    }
}

/// The client's IP address (see `http::client_addr`).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<crate::http::client_addr::ClientAddr>()
                .map(|addr| addr.0)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

/// Whether the browser reached the server over https, which makes the sign-in
/// cookies `Secure` (with the `__Host-` prefix): `public_base_url` is `https://...`,
/// or the TCP peer is one of the `trusted_proxies` and says `X-Forwarded-Proto:
/// https`. From any other peer the header is ignored, as `X-Forwarded-For` is (see
/// `http::client_addr`): a client can write whatever it likes there. Of a list, the
/// last entry counts: it is the one the nearest proxy, ours, added.
pub struct Https(pub bool);

impl FromRequestParts<AppState> for Https {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Https(is_https(
            state.config.public_base_url.as_deref(),
            &state.config.trusted_proxies,
            peer,
            &parts.headers,
        )))
    }
}

fn is_https(
    public_base_url: Option<&str>,
    trusted_proxies: &[ipnet::IpNet],
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> bool {
    if public_base_url.is_some_and(|u| u.starts_with("https://")) {
        return true;
    }
    // The accept loop already removed the header from other peers; checked again here
    // because a cookie's `Secure` is the security decision.
    let from_trusted_proxy =
        peer.is_some_and(|peer| crate::http::client_addr::is_trusted_proxy(peer, trusted_proxies));
    from_trusted_proxy && crate::http::client_addr::forwarded_https(headers)
}

/// A body within the configured limit, or an `OAuthError`.
pub async fn read_body(
    state: &AppState,
    body: axum::body::Body,
) -> Result<axum::body::Bytes, OAuthError> {
    axum::body::to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| OAuthError::invalid_request("The request body is too large."))
}

#[cfg(test)]
mod tests {
    use super::is_https;
    use axum::http::{HeaderMap, HeaderValue};
    use std::net::IpAddr;

    fn proto(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-proto", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_proto_is_believed_only_from_trusted_proxies() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let proxy: Option<IpAddr> = Some("10.1.2.3".parse().unwrap());
        let mapped: Option<IpAddr> = Some("::ffff:10.1.2.3".parse().unwrap());
        let stranger: Option<IpAddr> = Some("203.0.113.9".parse().unwrap());
        let https = proto(&["https"]);
        assert!(is_https(None, &trusted, proxy, &https));
        assert!(is_https(None, &trusted, mapped, &https));
        assert!(is_https(None, &trusted, proxy, &proto(&["HTTPS"])));
        assert!(!is_https(None, &trusted, stranger, &https));
        assert!(!is_https(None, &[], proxy, &https));
        assert!(!is_https(None, &trusted, None, &https));
        assert!(!is_https(None, &trusted, proxy, &HeaderMap::new()));
        assert!(!is_https(None, &trusted, proxy, &proto(&["http"])));
        // The nearest proxy's word is the last one.
        assert!(!is_https(None, &trusted, proxy, &proto(&["https, http"])));
        assert!(!is_https(None, &trusted, proxy, &proto(&["https", "http"])));
        assert!(is_https(None, &trusted, proxy, &proto(&["http, https"])));
        // A configured https base URL needs no header.
        let base = Some("https://inbox.example.com");
        assert!(is_https(base, &[], stranger, &HeaderMap::new()));
        assert!(!is_https(
            Some("http://localhost:8080"),
            &[],
            stranger,
            &https
        ));
    }
}
