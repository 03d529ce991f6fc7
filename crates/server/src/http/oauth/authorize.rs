//! `GET /oauth/authorize` (sign-in page, then consent page), `POST /oauth/login`
//! and `POST /oauth/authorize` (the consent decision).
//!
//! Until `client_id` and `redirect_uri` are known to be a registered pair, errors
//! are shown as a page and never redirected (RFC 6749, 4.1.2.1); after that, they go
//! back to the client as `error=...`. Every POST is checked against a CSRF token:
//! the sign-in form against a random cookie it was served with (double submit),
//! the consent form against the token stored with the signed-in session. A new
//! session id is issued at sign-in, so a session cannot be fixed in advance.

use super::html::{self, escape};
use super::{parse_form, ClientIp, Https, Params};
use crate::app::AppState;
use crate::credentials::{
    constant_time_eq, new_secret, secret_hash, verify_password, OAUTH_CODE_PREFIX,
};
use crate::oauth::clients::find_client;
use crate::oauth::{scopes, storable};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use switchboard_core::auth_store::{NewAuthCode, NewOAuthSession, OAuthClient};
use switchboard_core::{Role, Tenant, User};

/// Authorization codes live ten minutes (RFC 6749 recommends at most that).
pub const CODE_LIFETIME_SECS: i64 = 600;
/// A sign-in on the authorization pages lasts an hour.
pub const SESSION_LIFETIME_SECS: i64 = 3600;
const CSRF_COOKIE_LIFETIME_SECS: i64 = 3600;
const STATE_MAX: usize = 2000;

/// The parameters of an authorization request, as sent (carried through the forms).
#[derive(Debug, Clone, Default)]
pub struct AuthParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

impl AuthParams {
    pub fn from_params(p: &Params) -> Self {
        let get = |k: &str| p.get(k).cloned();
        AuthParams {
            response_type: get("response_type"),
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            scope: get("scope"),
            state: get("state"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
        }
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    fn hidden_fields(&self) -> String {
        html::hidden_fields(self.pairs())
    }

    fn authorize_url(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            query.append_pair(k, v);
        }
        format!("/oauth/authorize?{}", query.finish())
    }
}

/// A checked authorization request.
pub struct AuthRequest {
    pub client: OAuthClient,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
}

/// How a request is refused: a page (the redirect URI is not trusted) or a
/// redirect back to the client with an error.
pub enum Refusal {
    Page(StatusCode, String),
    Redirect(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Page(status, message) => html::error_page(status, &message),
            Refusal::Redirect(location) => redirect(&location),
        }
    }
}

/// 303 to `location`, never cached.
fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `redirect_uri` with `pairs` added to its query, and the issuer (RFC 9207).
fn client_redirect(redirect_uri: &str, pairs: &[(&str, &str)], issuer: &str) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
                query.append_pair("iss", issuer);
            }
            url.to_string()
        }
        // Registered URIs are checked at registration; this cannot happen.
        Err(_) => redirect_uri.to_string(),
    }
}

fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
    issuer: &str,
) -> Refusal {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    Refusal::Redirect(client_redirect(redirect_uri, &pairs, issuer))
}

/// Checks an authorization request against the registered client.
pub async fn check_request(
    state: &AppState,
    p: &AuthParams,
    issuer: &str,
) -> Result<AuthRequest, Refusal> {
    let page = |m: &str| Refusal::Page(StatusCode::BAD_REQUEST, m.to_string());
    let client_id = p
        .client_id
        .as_deref()
        .ok_or_else(|| page("The request does not name an application (client_id is missing)."))?;
    let client = match find_client(state.store.as_ref(), client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(page(
                "The application is not registered (unknown client_id).",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return Err(Refusal::Page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Try again shortly.".into(),
            ));
        }
    };
    let redirect_uri = p
        .redirect_uri
        .as_deref()
        .ok_or_else(|| page("The request has no redirect_uri."))?;
    // Exact string match: no prefix, no normalisation (RFC 6749 3.1.2.3, OAuth 2.1).
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(page(
            "The redirect_uri is not registered for this application.",
        ));
    }
    let st = p.state.as_deref();
    let refuse = |error: &str, description: &str| {
        error_redirect(redirect_uri, st, error, description, issuer)
    };
    if st.is_some_and(|s| s.len() > STATE_MAX) {
        return Err(refuse(
            "invalid_request",
            "The state parameter is too long.",
        ));
    }
    // It is carried through the forms, and HTML cannot carry control characters
    // (a browser turns a NUL into U+FFFD): the client would get another state back.
    if st.is_some_and(|s| s.chars().any(char::is_control)) {
        return Err(refuse(
            "invalid_request",
            "The state parameter must not contain control characters.",
        ));
    }
    match p.response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(refuse(
                "invalid_request",
                "The response_type parameter is required.",
            ))
        }
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "Only response_type=code is supported.",
            ))
        }
    }
    let code_challenge = match (
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    ) {
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(refuse(
                    "invalid_request",
                    "The code_challenge must be a base64url SHA-256 (43 characters).",
                ));
            }
            Some(challenge.to_string())
        }
        (Some(_), _) | (None, Some(_)) => return Err(refuse(
            "invalid_request",
            "PKCE needs code_challenge with code_challenge_method=S256 (plain is not supported).",
        )),
        (None, None) if client.is_public() => {
            return Err(refuse(
                "invalid_request",
                "Public clients must use PKCE (code_challenge with code_challenge_method=S256).",
            ))
        }
        (None, None) => None,
    };
    let requested = match p.scope.as_deref() {
        Some(text) => scopes::parse(text).map_err(|unknown| {
            refuse(
                "invalid_scope",
                &format!("The scope {unknown} is not known."),
            )
        })?,
        None => client.scopes.clone(),
    };
    if requested.is_empty() {
        return Err(refuse("invalid_scope", "No scope was requested."));
    }
    if let Some(scope) = scopes::first_not_covered(&requested, &client.scopes) {
        return Err(refuse(
            "invalid_scope",
            &format!("The application may not ask for the scope {scope}."),
        ));
    }
    Ok(AuthRequest {
        redirect_uri: redirect_uri.to_string(),
        scopes: requested,
        state: p.state.clone(),
        code_challenge,
        client,
    })
}

/// Cookie names: with the `__Host-` prefix over https, which browsers only accept
/// from a secure origin, for the whole host (no subdomain can plant one).
fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

fn issuer(state: &AppState, headers: &HeaderMap) -> String {
    state.base_url(headers)
}

struct SignedIn {
    user: User,
    csrf_token: String,
    session_hash: String,
}

async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    secure: bool,
) -> Result<Option<SignedIn>, Response> {
    let name = cookie_name("sb_session", secure);
    let Some(id) = html::cookie(headers, &name) else {
        return Ok(None);
    };
    let unavailable = |e: switchboard_core::StoreError| {
        tracing::error!(error = %e, "session lookup failed");
        html::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable. Try again shortly.",
        )
    };
    let session_hash = secret_hash(id);
    let Some(session) = state
        .store
        .find_oauth_session(&session_hash, state.clock.now())
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let user = state
        .store
        .get_user(session.user_id)
        .await
        .map_err(unavailable)?;
    Ok(user.map(|user| SignedIn {
        user,
        csrf_token: session.csrf_token,
        session_hash,
    }))
}

/// `GET /oauth/authorize`.
pub async fn show(
    State(state): State<AppState>,
    Https(secure): Https,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match parse_form(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return html::error_page(StatusCode::BAD_REQUEST, &e.describe()),
    };
    let p = AuthParams::from_params(&params);
    let issuer = issuer(&state, &headers);
    let request = match check_request(&state, &p, &issuer).await {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    match signed_in(&state, &headers, secure).await {
        Err(response) => response,
        Ok(Some(session)) => consent_page(&state, &p, &request, &session).await,
        Ok(None) => login_page(secure, &headers, &p, &request, None, StatusCode::OK, ""),
    }
}

/// The sign-in form. Sets a fresh CSRF cookie unless the browser has one.
fn login_page(
    secure: bool,
    headers: &HeaderMap,
    p: &AuthParams,
    request: &AuthRequest,
    error: Option<&str>,
    status: StatusCode,
    email: &str,
) -> Response {
    let csrf_name = cookie_name("sb_csrf", secure);
    let existing = html::cookie(headers, &csrf_name)
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string);
    let csrf = existing.clone().unwrap_or_else(|| new_secret(""));
    let error_html = error
        .map(|e| {
            format!(
                "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in to Switchboard</h1>\
         <p><strong id=\"app-name\">{app}</strong> wants to use your Switchboard account.</p>\
         {error_html}\
         <form method=\"post\" action=\"/oauth/login\" id=\"login\">\
         {csrf_field}{hidden}\
         <label for=\"email\">E-mail</label>\
         <input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"username\" required value=\"{email}\">\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" class=\"primary\" id=\"sign-in\">Sign in</button>\
         </form>",
        app = escape(&request.client.name),
        csrf_field = html::hidden_fields([("csrf_token", csrf.as_str())]),
        hidden = p.hidden_fields(),
        email = escape(email),
    );
    let mut response = html::page(status, "Sign in", &body);
    if existing.is_none() {
        response.headers_mut().append(
            header::SET_COOKIE,
            html::set_cookie(&csrf_name, &csrf, CSRF_COOKIE_LIFETIME_SECS, secure),
        );
    }
    response
}

/// The user's membership in the client's tenant; `None` when not a member.
async fn tenant_role(
    state: &AppState,
    client: &OAuthClient,
    user: &User,
) -> Result<Option<(Tenant, Role)>, switchboard_core::StoreError> {
    let Some(role) = state.store.membership(client.tenant_id, user.id).await? else {
        return Ok(None);
    };
    Ok(state
        .store
        .get_tenant(client.tenant_id)
        .await?
        .map(|t| (t, role)))
}

/// "Use another account": signs out (CSRF-checked) and comes back to sign-in.
fn switch_account_form(p: &AuthParams, session: &SignedIn) -> String {
    format!(
        "<form method=\"post\" action=\"/oauth/logout\" id=\"switch\">{}{}\
         <button type=\"submit\" id=\"use-another-account\">Use another account</button></form>",
        html::hidden_fields([("csrf_token", session.csrf_token.as_str())]),
        p.hidden_fields(),
    )
}

/// The signed-in account cannot authorize this client: say so, and offer to switch.
fn not_a_member_page(p: &AuthParams, session: &SignedIn) -> Response {
    html::page(
        StatusCode::FORBIDDEN,
        "Authorization error",
        &format!(
            "<h1>This account cannot authorize the application</h1>\
             <p class=\"error\" id=\"error\">The account you are signed in with ({}) is not a member \
             of the workspace this application belongs to.</p>{}",
            escape(&session.user.email),
            switch_account_form(p, session),
        ),
    )
}

async fn consent_page(
    state: &AppState,
    p: &AuthParams,
    request: &AuthRequest,
    session: &SignedIn,
) -> Response {
    let (tenant, role) = match tenant_role(state, &request.client, &session.user).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_a_member_page(p, session),
        Err(e) => {
            tracing::error!(error = %e, "membership lookup failed");
            return html::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Try again shortly.",
            );
        }
    };
    let scope_items: String = request
        .scopes
        .iter()
        .map(|s| {
            format!(
                "<li data-scope=\"{s}\">{} <span class=\"muted\">({s})</span></li>",
                escape(scopes::describe(s)),
                s = escape(s)
            )
        })
        .collect();
    let body = format!(
        "<h1>Authorize <span id=\"app-name\">{app}</span></h1>\
         <p class=\"muted\">Signed in as <span id=\"user-email\">{email}</span>.</p>\
         <p><strong>{app}</strong> asks for access to the workspace \
         <strong id=\"tenant-name\">{tenant}</strong> (tenant {tenant_id}, where you are {role}). It will be able to:</p>\
         <ul id=\"scopes\">{scope_items}</ul>\
         <p class=\"muted\">It will act as you, within what your role allows, and only in this workspace. \
         You will be sent back to <code>{redirect}</code>.</p>\
         <form method=\"post\" action=\"/oauth/authorize\" id=\"consent\">\
         {csrf}{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"approve\" class=\"primary\" id=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\
         </form>{switch}",
        app = escape(&request.client.name),
        email = escape(&session.user.email),
        tenant = escape(&tenant.name),
        tenant_id = tenant.id,
        role = role.as_str(),
        redirect = escape(&request.redirect_uri),
        csrf = html::hidden_fields([("csrf_token", session.csrf_token.as_str())]),
        hidden = p.hidden_fields(),
        switch = switch_account_form(p, session),
    );
    html::page(StatusCode::OK, "Authorize application", &body)
}

async fn read_form(state: &AppState, body: Body) -> Result<Params, Response> {
    let bytes = axum::body::to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| html::error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
    parse_form(&bytes).map_err(|e| html::error_page(StatusCode::BAD_REQUEST, &e.describe()))
}

fn expired_form() -> Response {
    html::error_page(
        StatusCode::BAD_REQUEST,
        "The form has expired or was not sent from this site. Go back to the application and start again.",
    )
}

/// A hash that takes as long to check as a real one, for unknown e-mails: the
/// answer's timing must not tell whether an account exists.
fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| crate::credentials::hash_password(&new_secret("")).unwrap_or_default())
}

/// `POST /oauth/login`: checks the credentials, opens a session, and goes back to
/// the authorization request (now showing the consent page).
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Https(secure): Https,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match read_form(&state, body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let csrf_cookie = html::cookie(&headers, &cookie_name("sb_csrf", secure));
    let csrf_ok = match (csrf_cookie, form.get("csrf_token")) {
        (Some(cookie), Some(field)) => constant_time_eq(cookie, field),
        _ => false,
    };
    if !csrf_ok {
        return expired_form();
    }
    let p = AuthParams::from_params(&form);
    let issuer = issuer(&state, &headers);
    let request = match check_request(&state, &p, &issuer).await {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let email = form
        .get("email")
        .map(|e| e.trim().to_lowercase())
        .unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let now = state.clock.now();
    let at = now.timestamp();
    // Counted as a failure from here on, unless it turns out to be a success.
    if let Err(wait) = state.login_throttle.reserve(&email, ip, at) {
        let minutes = (wait + 59) / 60;
        let message = format!(
            "Too many sign-in attempts. Please try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        let mut response = login_page(
            secure,
            &headers,
            &p,
            &request,
            Some(&message),
            StatusCode::TOO_MANY_REQUESTS,
            &email,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    // An e-mail with a NUL is no account's (and PostgreSQL cannot compare one).
    let found = if storable(&email) {
        state.store.find_user_by_email(&email).await
    } else {
        Ok(None)
    };
    let user = match found {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            state.login_throttle.release(&email, ip, at);
            return html::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Try again shortly.",
            );
        }
    };
    // argon2 is slow on purpose: keep it off the async workers.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_password_hash().to_string());
    let checked = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(user) if checked => user,
        // The reserved attempt stays counted as the failure.
        _ => {
            return login_page(
                secure,
                &headers,
                &p,
                &request,
                Some("These credentials do not match our records."),
                StatusCode::UNAUTHORIZED,
                &email,
            );
        }
    };
    state.login_throttle.succeeded(&email, ip, at);
    let session_id = new_secret("");
    let created = state
        .store
        .create_oauth_session(
            NewOAuthSession {
                session_hash: secret_hash(&session_id),
                user_id: user.id,
                csrf_token: new_secret(""),
                expires_at: now + Duration::seconds(SESSION_LIFETIME_SECS),
            },
            now,
        )
        .await;
    if let Err(e) = created {
        tracing::error!(error = %e, "cannot open a session");
        return html::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable. Try again shortly.",
        );
    }
    let mut response = redirect(&p.authorize_url());
    response.headers_mut().append(
        header::SET_COOKIE,
        html::set_cookie(
            &cookie_name("sb_session", secure),
            &session_id,
            SESSION_LIFETIME_SECS,
            secure,
        ),
    );
    response
}

/// `POST /oauth/authorize`: the consent decision.
pub async fn decide(
    State(state): State<AppState>,
    Https(secure): Https,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match read_form(&state, body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let p = AuthParams::from_params(&form);
    let session = match signed_in(&state, &headers, secure).await {
        Ok(Some(session)) => session,
        // Signed out meanwhile: start over at the sign-in page.
        Ok(None) => return expired_form(),
        Err(response) => return response,
    };
    let csrf_ok = form
        .get("csrf_token")
        .is_some_and(|t| constant_time_eq(t, &session.csrf_token));
    if !csrf_ok {
        return expired_form();
    }
    let issuer = issuer(&state, &headers);
    let request = match check_request(&state, &p, &issuer).await {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    match tenant_role(&state, &request.client, &session.user).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_a_member_page(&p, &session),
        Err(e) => {
            tracing::error!(error = %e, "membership lookup failed");
            return html::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Try again shortly.",
            );
        }
    }
    let state_param = request.state.as_deref();
    match form.get("decision").map(String::as_str) {
        Some("approve") => {}
        Some("deny") => {
            return error_redirect(
                &request.redirect_uri,
                state_param,
                "access_denied",
                "The user denied the request.",
                &issuer,
            )
            .into_response()
        }
        _ => return html::error_page(StatusCode::BAD_REQUEST, "Choose Approve or Deny."),
    }
    let code = new_secret(OAUTH_CODE_PREFIX);
    let now = state.clock.now();
    let stored = state
        .store
        .create_auth_code(
            NewAuthCode {
                code_hash: secret_hash(&code),
                client_id: request.client.id,
                tenant_id: request.client.tenant_id,
                user_id: session.user.id,
                redirect_uri: request.redirect_uri.clone(),
                scopes: request.scopes.clone(),
                code_challenge: request.code_challenge.clone(),
                expires_at: now + Duration::seconds(CODE_LIFETIME_SECS),
            },
            now,
        )
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "cannot store an authorization code");
        return error_redirect(
            &request.redirect_uri,
            state_param,
            "temporarily_unavailable",
            "The authorization server is temporarily unavailable.",
            &issuer,
        )
        .into_response();
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = state_param {
        pairs.push(("state", s));
    }
    redirect(&client_redirect(&request.redirect_uri, &pairs, &issuer))
}

/// `POST /oauth/logout`: ends the session (the form carries the session's CSRF
/// token) and goes back to the authorization request, which now asks to sign in.
pub async fn logout(
    State(state): State<AppState>,
    Https(secure): Https,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match read_form(&state, body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let session = match signed_in(&state, &headers, secure).await {
        Ok(Some(session)) => session,
        Ok(None) => return expired_form(),
        Err(response) => return response,
    };
    let csrf_ok = form
        .get("csrf_token")
        .is_some_and(|t| constant_time_eq(t, &session.csrf_token));
    if !csrf_ok {
        return expired_form();
    }
    if let Err(e) = state
        .store
        .delete_oauth_session(&session.session_hash)
        .await
    {
        tracing::error!(error = %e, "cannot end a session");
        return html::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable. Try again shortly.",
        );
    }
    let mut response = redirect(&AuthParams::from_params(&form).authorize_url());
    response.headers_mut().append(
        header::SET_COOKIE,
        html::set_cookie(&cookie_name("sb_session", secure), "", 0, secure),
    );
    response
}
