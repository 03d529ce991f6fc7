//! The OAuth 2.0 authorization server, end to end over HTTP: the authorization pages
//! driven like a browser would (cookies, hidden CSRF fields, redirects read by
//! hand), the token, revocation and introspection endpoints, scopes and roles.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::TestApp;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard::credentials::hash_password;
use switchboard::oauth::clients::{register, ClientSpec};
use switchboard_core::*;

backend_tests!(
    authorization_code_flow_with_pkce_through_the_pages,
    confidential_client_authenticates_with_basic_or_body,
    client_credentials_token_acts_as_the_client_in_its_tenant,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    codes_are_single_use_and_replay_revokes_what_they_issued,
    codes_expire_after_ten_minutes,
    bad_client_or_redirect_uri_shows_a_page_and_never_redirects,
    later_request_errors_go_back_to_the_client,
    pkce_is_enforced,
    deny_redirects_with_access_denied,
    forms_need_their_csrf_tokens,
    revoked_and_expired_tokens_stop_working,
    introspection_for_resource_servers,
    metadata_document,
    login_is_throttled_per_account_and_per_ip,
    login_errors_do_not_reveal_accounts,
    scopes_are_enforced_for_oauth_tokens,
    roles_are_enforced,
    client_management_api,
    oauth_tokens_reach_only_their_clients_tenant,
    tokens_and_secrets_are_stored_hashed,
    token_endpoint_errors_follow_rfc6749,
    cookies_are_secure_behind_https,
    token_lifetimes_are_configurable,
    cli_creates_clients,
    concurrent_uses_of_a_code_or_refresh_token_have_one_winner,
    nul_bytes_are_unknown_values_not_server_errors,
    concurrent_sign_ins_cannot_outrun_the_throttle,
    introspection_follows_membership,
    forwarded_proto_counts_only_from_trusted_proxies,
);

const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A tenant with a user of `role` who can sign in with `PASSWORD`.
struct Person {
    tenant: i64,
    user: i64,
    email: String,
}

async fn person(app: &TestApp, tenant: Option<i64>, email: &str, role: Role) -> Person {
    let now = app.clock.now();
    let tenant = match tenant {
        Some(t) => t,
        None => {
            app.store
                .create_tenant("Acme <Clinic>", now)
                .await
                .unwrap()
                .id
                .0
        }
    };
    let user = app
        .store
        .create_user(
            NewUser {
                email: email.to_string(),
                name: email.to_string(),
                password_hash: hash_password(PASSWORD).unwrap(),
            },
            now,
        )
        .await
        .unwrap();
    app.store
        .put_membership(TenantId(tenant), user.id, role, now)
        .await
        .unwrap();
    Person {
        tenant,
        user: user.id.0,
        email: email.to_string(),
    }
}

struct RegisteredClient {
    client_id: String,
    secret: Option<String>,
}

async fn client(
    app: &TestApp,
    tenant: i64,
    public: bool,
    scopes: &[&str],
    redirects: &[&str],
) -> RegisteredClient {
    let (c, secret) = register(
        app.store.as_ref(),
        app.clock.as_ref(),
        TenantId(tenant),
        ClientSpec {
            name: "Test <App>".into(),
            redirect_uris: redirects.iter().map(|s| s.to_string()).collect(),
            public,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        },
    )
    .await
    .map_err(|e| format!("{e:?}"))
    .unwrap();
    RegisteredClient {
        client_id: c.client_id,
        secret,
    }
}

/// A cookie-keeping client that does not follow redirects, like a browser whose
/// every navigation we look at.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn verifier() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden fields of the page's first form, decoded.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    form_fields(html.split("</form>").next().unwrap_or(""))
}

/// The hidden fields of the form with this id.
fn hidden_fields_of(html: &str, id: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("form {id} in {html}"));
    form_fields(html[start..].split("</form>").next().unwrap_or(""))
}

fn form_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.strip_prefix("name=\"")?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn location(r: &Response) -> String {
    r.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn authorize_query(
    client_id: &str,
    redirect: &str,
    scope: &str,
    challenge: Option<&str>,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "xyz <&> state");
    if !scope.is_empty() {
        q.append_pair("scope", scope);
    }
    if let Some(c) = challenge {
        q.append_pair("code_challenge", c)
            .append_pair("code_challenge_method", "S256");
    }
    q.finish()
}

/// Submits the form on `html` at `action` with its hidden fields plus `extra`.
async fn submit(
    app: &TestApp,
    b: &Client,
    html: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut fields = hidden_fields(html);
    for (k, v) in extra {
        fields.push((k.to_string(), v.to_string()));
    }
    b.post(app.url(action)).form(&fields).send().await.unwrap()
}

/// Asks for `/oauth/authorize?{query}` and checks it is refused on the server's own
/// error page (400), nothing redirected; returns the page.
async fn refused_on_the_servers_page(app: &TestApp, b: &Client, query: &str) -> String {
    let r = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{query}");
    assert!(r.headers().get(LOCATION).is_none(), "{query}");
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"error\""), "{html}");
    html
}

/// Signs in on the login page and returns the consent page.
async fn sign_in(app: &TestApp, b: &Client, query: &str, email: &str) -> String {
    let login = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("id=\"login\""), "login page: {html}");
    let r = submit(
        app,
        b,
        &html,
        "/oauth/login",
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 303, "login: {}", r.text().await.unwrap());
    let next = location(&r);
    assert!(next.starts_with("/oauth/authorize?"), "{next}");
    let consent = b.get(app.url(&next)).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    assert!(html.contains("id=\"consent\""), "consent page: {html}");
    html
}

/// The whole browser part: sign in, approve; returns the code.
async fn obtain_code(app: &TestApp, query: &str, email: &str) -> String {
    let b = browser();
    let consent = sign_in(app, &b, query, email).await;
    let r = submit(
        app,
        &b,
        &consent,
        "/oauth/authorize",
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = query_of(&loc);
    assert_eq!(param(&q, "state").as_deref(), Some("xyz <&> state"));
    param(&q, "code").expect("code")
}

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> (u16, HeaderMap, Value) {
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

async fn exchange_public(
    app: &TestApp,
    c: &RegisteredClient,
    code: &str,
    verifier: &str,
) -> (u16, Value) {
    let (s, _, b) = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    (s, b)
}

/// Public client, PKCE, full consent flow: returns the token response.
async fn pkce_tokens(app: &TestApp, c: &RegisteredClient, email: &str, scope: &str) -> Value {
    let v = verifier();
    let code = obtain_code(
        app,
        &authorize_query(&c.client_id, REDIRECT, scope, Some(&challenge(&v))),
        email,
    )
    .await;
    let (status, body) = exchange_public(app, c, &code, &v).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh(app: &TestApp, c: &RegisteredClient, token: &str) -> (u16, Value) {
    let (s, _, b) = token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("refresh_token", token),
        ],
    )
    .await;
    (s, b)
}

fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    tenant: i64,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("X-Tenant", tenant.to_string())
}

async fn status_of(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn list_status(app: &TestApp, token: &str, tenant: i64) -> u16 {
    status_of(api(
        app,
        reqwest::Method::GET,
        "/api/v1/conversations",
        token,
        tenant,
    ))
    .await
    .0
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("string expected: {v}"))
}

// ---------------------------------------------------------------------------------

async fn authorization_code_flow_with_pkce_through_the_pages(app: TestApp) {
    let p = person(&app, None, "ayse@example.com", Role::Agent).await;
    let channel = app.channel(p.tenant, ChannelType::Whatsapp, "Desk").await;
    let c = client(&app, p.tenant, true, &["read", "write"], &[REDIRECT]).await;
    assert!(c.secret.is_none());
    let v = verifier();
    let query = authorize_query(
        &c.client_id,
        REDIRECT,
        "conversations:read conversations:write",
        Some(&challenge(&v)),
    );
    let b = browser();

    // The sign-in page: HTML, escaped application name, a CSRF field and cookie.
    let login = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let h = login.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    let cookies = set_cookies(&h);
    let csrf_cookie = cookies
        .iter()
        .find(|c| c.starts_with("sb_csrf="))
        .expect("csrf cookie");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));
    assert!(!csrf_cookie.contains("Secure"), "plain http: {csrf_cookie}");
    let html = login.text().await.unwrap();
    assert!(html.contains("Test &lt;App&gt;") && !html.contains("Test <App>"));
    let fields = hidden_fields(&html);
    assert!(param(&fields, "csrf_token").is_some());
    assert_eq!(param(&fields, "state").as_deref(), Some("xyz <&> state"));

    // Sign in: a session cookie (HttpOnly, SameSite=Lax), then the consent page.
    let r = submit(
        &app,
        &b,
        &html,
        "/oauth/login",
        &[("email", "AYSE@example.com "), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let session = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("sb_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/")
    );
    let consent = b
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(consent.contains("See your conversations"), "{consent}");
    assert!(consent.contains("Start conversations and change them"));
    assert!(
        consent.contains("Acme &lt;Clinic&gt;"),
        "tenant named: {consent}"
    );
    assert!(consent.contains("ayse@example.com"));

    // Approve: back to the client with code, state and issuer.
    let r = submit(
        &app,
        &b,
        &consent,
        "/oauth/authorize",
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert!(location(&r).starts_with("http://127.0.0.1:9/callback?"));
    assert_eq!(param(&q, "state").as_deref(), Some("xyz <&> state"));
    assert_eq!(param(&q, "iss").as_deref(), Some(app.base.as_str()));
    let code = param(&q, "code").unwrap();

    // Token: the contract's shape, never cached.
    let (status, headers, body) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "conversations:read conversations:write");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        &keys[..4],
        ["token_type", "expires_in", "access_token", "refresh_token"]
    );
    let access = s(&body["access_token"]).to_string();

    // Both seed endpoints with the access token.
    let (status, created) = status_of(
        api(
            &app,
            reqwest::Method::POST,
            "/api/v1/conversations",
            &access,
            p.tenant,
        )
        .json(
            &json!({"channel_id": channel, "address": "+90 532 123 45 67", "first_name": "İsmail"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, list) = status_of(api(
        &app,
        reqwest::Method::GET,
        "/api/v1/conversations?search=ismail",
        &access,
        p.tenant,
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["meta"]["total"], 1);

    // Refresh: a new pair that works too.
    let (status, refreshed) = refresh(&app, &c, s(&body["refresh_token"])).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(refreshed["access_token"], body["access_token"]);
    assert_eq!(
        list_status(&app, s(&refreshed["access_token"]), p.tenant).await,
        200
    );

    // Signed in already: a second authorization goes straight to consent.
    let again = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("id=\"consent\""));
}

async fn confidential_client_authenticates_with_basic_or_body(app: TestApp) {
    let p = person(&app, None, "c@example.com", Role::Owner).await;
    let c = client(&app, p.tenant, false, &["read"], &[REDIRECT]).await;
    let secret = c.secret.clone().unwrap();
    assert!(secret.starts_with("sbs_"));
    // Without PKCE (allowed for confidential clients), secret via HTTP Basic.
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "", None),
        &p.email,
    )
    .await;
    let basic = STANDARD.encode(format!("{}:{}", c.client_id, secret));
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "read", "defaults to the client's scopes");
    assert_eq!(
        list_status(&app, s(&body["access_token"]), p.tenant).await,
        200
    );
    // Secret in the body, JSON request.
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", None),
        &p.email,
    )
    .await;
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .json(&json!({"grant_type": "authorization_code", "client_id": c.client_id, "client_secret": secret, "code": code, "redirect_uri": REDIRECT}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Wrong secret: 401 invalid_client, with a Basic challenge when Basic was used.
    let bad = STANDARD.encode(format!("{}:sbs_wrong", c.client_id));
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", format!("Basic {bad}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string() && body["message"].is_string());
    // A confidential client must authenticate: no secret is invalid_client.
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (401, "invalid_client"));
    // Refresh with a confidential client needs its secret too.
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", None),
        &p.email,
    )
    .await;
    let (_, _, tokens) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("refresh_token", s(&tokens["refresh_token"])),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (401, "invalid_client"));
    let (status, _, _) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &secret),
            ("refresh_token", s(&tokens["refresh_token"])),
        ],
    )
    .await;
    assert_eq!(status, 200);
}

async fn client_credentials_token_acts_as_the_client_in_its_tenant(app: TestApp) {
    let p = person(&app, None, "cc@example.com", Role::Owner).await;
    let other = app.member("Other").await;
    let channel = app.channel(p.tenant, ChannelType::Website, "Web").await;
    let c = client(
        &app,
        p.tenant,
        false,
        &["conversations:read", "conversations:write"],
        &[REDIRECT],
    )
    .await;
    let secret = c.secret.clone().unwrap();
    let (status, headers, body) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token: {body}"
    );
    assert_eq!(body["scope"], "conversations:read conversations:write");
    let token = s(&body["access_token"]).to_string();
    assert!(token.starts_with("sbo_"));
    let (status, created) = status_of(
        api(
            &app,
            reqwest::Method::POST,
            "/api/v1/conversations",
            &token,
            p.tenant,
        )
        .json(&json!({"channel_id": channel, "address": "visitor-1"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(list_status(&app, &token, p.tenant).await, 200);
    // Limited to the client's tenant.
    let (status, body) = status_of(api(
        &app,
        reqwest::Method::GET,
        "/api/v1/conversations",
        &token,
        other.tenant,
    ))
    .await;
    assert_eq!((status, s(&body["error"])), (403, "tenant_forbidden"));
    // It is no user: an agent in its tenant, so no client management.
    let (status, tenants) = status_of(
        app.client
            .get(app.url("/api/v1/account/tenants"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tenants["data"].as_array().unwrap().len(), 1);
    assert_eq!(tenants["data"][0]["id"], p.tenant);
    assert_eq!(tenants["data"][0]["role"], "agent");
    // A scope the client was not given, and a public client: refused.
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &secret),
            ("scope", "write"),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_scope"));
    let public = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &public.client_id),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (400, "unauthorized_client"));
    // Narrower scope on request.
    let (_, _, body) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &secret),
            ("scope", "conversations:read"),
        ],
    )
    .await;
    let narrow = s(&body["access_token"]).to_string();
    let (status, body) = status_of(
        api(
            &app,
            reqwest::Method::POST,
            "/api/v1/conversations",
            &narrow,
            p.tenant,
        )
        .json(&json!({"channel_id": channel, "address": "visitor-2"})),
    )
    .await;
    assert_eq!((status, s(&body["error"])), (403, "insufficient_scope"));
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(app: TestApp) {
    let p = person(&app, None, "r@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let first = pkce_tokens(&app, &c, &p.email, "read").await;
    let r1 = s(&first["refresh_token"]).to_string();
    let (status, second) = refresh(&app, &c, &r1).await;
    assert_eq!(status, 200);
    let r2 = s(&second["refresh_token"]).to_string();
    assert_ne!(r1, r2, "rotated");
    let a2 = s(&second["access_token"]).to_string();
    // Used (so cached) before the reuse.
    assert_eq!(list_status(&app, &a2, p.tenant).await, 200);
    assert_eq!(
        list_status(&app, s(&first["access_token"]), p.tenant).await,
        200
    );
    // The rotated token comes back: refused, and the whole family is revoked.
    let (status, body) = refresh(&app, &c, &r1).await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
    assert_eq!(
        list_status(&app, &a2, p.tenant).await,
        401,
        "access tokens of the family die at once"
    );
    assert_eq!(
        list_status(&app, s(&first["access_token"]), p.tenant).await,
        401
    );
    let (status, body) = refresh(&app, &c, &r2).await;
    assert_eq!(
        (status, s(&body["error"])),
        (400, "invalid_grant"),
        "the newest refresh token too"
    );
    // Another authorization of the same user is unaffected.
    let other = pkce_tokens(&app, &c, &p.email, "read").await;
    assert_eq!(
        list_status(&app, s(&other["access_token"]), p.tenant).await,
        200
    );
    // Narrowing the scope on refresh is allowed; widening is not.
    let (status, body) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("refresh_token", s(&other["refresh_token"])),
            ("scope", "write"),
        ],
    )
    .await
    .into_pair();
    assert_eq!((status, s(&body["error"])), (400, "invalid_scope"));
    let (status, body) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("refresh_token", s(&other["refresh_token"])),
            ("scope", "conversations:read"),
        ],
    )
    .await
    .into_pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "conversations:read");
    // A refresh token is bound to its client.
    let thief = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let (status, body) = refresh(&app, &thief, s(&body["refresh_token"])).await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
}

trait IntoPair {
    fn into_pair(self) -> (u16, Value);
}

impl IntoPair for (u16, HeaderMap, Value) {
    fn into_pair(self) -> (u16, Value) {
        (self.0, self.2)
    }
}

async fn codes_are_single_use_and_replay_revokes_what_they_issued(app: TestApp) {
    let p = person(&app, None, "code@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let v = verifier();
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", Some(&challenge(&v))),
        &p.email,
    )
    .await;
    let (status, tokens) = exchange_public(&app, &c, &code, &v).await;
    assert_eq!(status, 200);
    let access = s(&tokens["access_token"]).to_string();
    assert_eq!(list_status(&app, &access, p.tenant).await, 200);
    let (status, body) = exchange_public(&app, &c, &code, &v).await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
    assert_eq!(
        list_status(&app, &access, p.tenant).await,
        401,
        "the replay revoked the first tokens"
    );
    let (status, _) = refresh(&app, &c, s(&tokens["refresh_token"])).await;
    assert_eq!(status, 400);
    // A code is bound to its client.
    let v = verifier();
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", Some(&challenge(&v))),
        &p.email,
    )
    .await;
    let other = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let (status, body) = exchange_public(&app, &other, &code, &v).await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
    let (status, _) = exchange_public(&app, &c, &code, &v).await;
    assert_eq!(status, 200, "the wrong client's attempt did not use it up");
}

async fn codes_expire_after_ten_minutes(app: TestApp) {
    let p = person(&app, None, "exp@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let v = verifier();
    let query = authorize_query(&c.client_id, REDIRECT, "read", Some(&challenge(&v)));
    let late = obtain_code(&app, &query, &p.email).await;
    let in_time = obtain_code(&app, &query, &p.email).await;
    app.advance(599);
    assert_eq!(exchange_public(&app, &c, &in_time, &v).await.0, 200);
    app.advance(1);
    let (status, body) = exchange_public(&app, &c, &late, &v).await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
    assert!(s(&body["error_description"]).contains("expired"));
}

async fn bad_client_or_redirect_uri_shows_a_page_and_never_redirects(app: TestApp) {
    let p = person(&app, None, "redir@example.com", Role::Agent).await;
    let second = "https://app.example.com/cb";
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT, second]).await;
    let ch = challenge(&verifier());
    let b = browser();
    for query in [
        authorize_query("sbcl_nope", REDIRECT, "read", Some(&ch)),
        authorize_query(
            &c.client_id,
            "https://evil.example.com/cb",
            "read",
            Some(&ch),
        ),
        authorize_query(&c.client_id, &format!("{REDIRECT}/more"), "read", Some(&ch)),
        authorize_query(&c.client_id, &format!("{REDIRECT}?x=1"), "read", Some(&ch)),
        authorize_query(
            &c.client_id,
            "HTTP://127.0.0.1:9/callback",
            "read",
            Some(&ch),
        ),
        // An invalid scope too: with an unregistered URI, never redirect.
        authorize_query(
            &c.client_id,
            "https://evil.example.com/cb",
            "nope",
            Some(&ch),
        ),
        format!("response_type=code&client_id={}", c.client_id),
        "response_type=code".to_string(),
    ] {
        refused_on_the_servers_page(&app, &b, &query).await;
    }
    // The code is bound to the redirect URI it was issued for.
    let v = verifier();
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", Some(&challenge(&v))),
        &p.email,
    )
    .await;
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("code", &code),
            ("redirect_uri", second),
            ("code_verifier", &v),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("code", &code),
            ("code_verifier", &v),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_request"));
    assert_eq!(exchange_public(&app, &c, &code, &v).await.0, 200);
}

async fn later_request_errors_go_back_to_the_client(app: TestApp) {
    let p = person(&app, None, "later@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["conversations:read"], &[REDIRECT]).await;
    let ch = challenge(&verifier());
    let b = browser();
    for (query, error) in [
        (
            authorize_query(&c.client_id, REDIRECT, "read", Some(&ch)),
            "invalid_scope",
        ),
        (
            authorize_query(&c.client_id, REDIRECT, "admin", Some(&ch)),
            "invalid_scope",
        ),
        (
            authorize_query(&c.client_id, REDIRECT, "conversations:read", Some(&ch))
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
    ] {
        let r = b
            .get(app.url(&format!("/oauth/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{query}");
        let loc = location(&r);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let q = query_of(&loc);
        assert_eq!(param(&q, "error").as_deref(), Some(error));
        assert_eq!(param(&q, "state").as_deref(), Some("xyz <&> state"));
    }
}

async fn pkce_is_enforced(app: TestApp) {
    let p = person(&app, None, "pkce@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let b = browser();
    // A public client without PKCE, or with the plain method: back with invalid_request.
    for query in [
        authorize_query(&c.client_id, REDIRECT, "read", None),
        format!(
            "{}&code_challenge={}&code_challenge_method=plain",
            authorize_query(&c.client_id, REDIRECT, "read", None),
            "a".repeat(43)
        ),
        format!(
            "{}&code_challenge={}",
            authorize_query(&c.client_id, REDIRECT, "read", None),
            "a".repeat(43)
        ),
    ] {
        let r = b
            .get(app.url(&format!("/oauth/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(
            param(&query_of(&location(&r)), "error").as_deref(),
            Some("invalid_request"),
            "{query}"
        );
    }
    // Wrong and missing verifier.
    let v = verifier();
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", Some(&challenge(&v))),
        &p.email,
    )
    .await;
    let wrong = verifier() + "x";
    let (status, body) = exchange_public(&app, &c, &code, &wrong).await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
    // The challenge itself is not a verifier.
    let (status, _) = exchange_public(&app, &c, &code, &challenge(&v)).await;
    assert_eq!(status, 400);
    assert_eq!(exchange_public(&app, &c, &code, &v).await.0, 200);
}

async fn deny_redirects_with_access_denied(app: TestApp) {
    let p = person(&app, None, "deny@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let b = browser();
    let consent = sign_in(
        &app,
        &b,
        &authorize_query(
            &c.client_id,
            REDIRECT,
            "read",
            Some(&challenge(&verifier())),
        ),
        &p.email,
    )
    .await;
    let r = submit(
        &app,
        &b,
        &consent,
        "/oauth/authorize",
        &[("decision", "deny")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert_eq!(param(&q, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&q, "state").as_deref(), Some("xyz <&> state"));
    assert!(param(&q, "code").is_none());
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM oauth_codes").await, 0);
}

async fn forms_need_their_csrf_tokens(app: TestApp) {
    let p = person(&app, None, "csrf@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let query = authorize_query(
        &c.client_id,
        REDIRECT,
        "read",
        Some(&challenge(&verifier())),
    );
    // Sign-in form: a wrong token, or a browser without the CSRF cookie (a forged
    // cross-site post), is refused before the password is looked at.
    let b = browser();
    let html = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = submit(
        &app,
        &b,
        &html.replace(
            "name=\"csrf_token\" value=\"",
            "name=\"csrf_token\" value=\"x",
        ),
        "/oauth/login",
        &[("email", &p.email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 400);
    let stranger = browser();
    let r = submit(
        &app,
        &stranger,
        &html,
        "/oauth/login",
        &[("email", &p.email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 400, "no CSRF cookie");
    // Consent form: the session's token is needed.
    let consent = sign_in(&app, &b, &query, &p.email).await;
    let forged = consent.replace(
        "name=\"csrf_token\" value=\"",
        "name=\"csrf_token\" value=\"x",
    );
    let r = submit(
        &app,
        &b,
        &forged,
        "/oauth/authorize",
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get(LOCATION).is_none());
    // Without the session cookie the right token is useless.
    let r = submit(
        &app,
        &stranger,
        &consent,
        "/oauth/authorize",
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM oauth_codes").await, 0);
    let r = submit(
        &app,
        &b,
        &consent,
        "/oauth/authorize",
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 303);
}

async fn revoked_and_expired_tokens_stop_working(app: TestApp) {
    let p = person(&app, None, "rev@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    // Revoking an access token: the next request fails (although it was cached).
    let t = pkce_tokens(&app, &c, &p.email, "read").await;
    let access = s(&t["access_token"]).to_string();
    assert_eq!(list_status(&app, &access, p.tenant).await, 200);
    // Another client cannot revoke it.
    let other = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let r = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("client_id", other.client_id.as_str()), ("token", &access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(list_status(&app, &access, p.tenant).await, 200);
    let r = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", c.client_id.as_str()),
            ("token", &access),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(list_status(&app, &access, p.tenant).await, 401);
    // The refresh token still works; revoking it ends its whole authorization.
    let (status, t2) = refresh(&app, &c, s(&t["refresh_token"])).await;
    assert_eq!(status, 200);
    let a2 = s(&t2["access_token"]).to_string();
    assert_eq!(list_status(&app, &a2, p.tenant).await, 200);
    let r = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", c.client_id.as_str()),
            ("token", s(&t2["refresh_token"])),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(list_status(&app, &a2, p.tenant).await, 401);
    assert_eq!(refresh(&app, &c, s(&t2["refresh_token"])).await.0, 400);
    // Unknown tokens: 200 as well (RFC 7009).
    let r = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", c.client_id.as_str()),
            ("token", "sbo_nothing"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Expiry: the access token after an hour, the refresh token after 30 days.
    let t = pkce_tokens(&app, &c, &p.email, "read").await;
    let access = s(&t["access_token"]).to_string();
    assert_eq!(list_status(&app, &access, p.tenant).await, 200);
    app.advance(3599);
    assert_eq!(list_status(&app, &access, p.tenant).await, 200);
    app.advance(1);
    assert_eq!(
        list_status(&app, &access, p.tenant).await,
        401,
        "expired, cached or not"
    );
    let (status, t3) = refresh(&app, &c, s(&t["refresh_token"])).await;
    assert_eq!(status, 200);
    app.advance(30 * 24 * 3600);
    let (status, body) = refresh(&app, &c, s(&t3["refresh_token"])).await;
    assert_eq!((status, s(&body["error"])), (400, "invalid_grant"));
}

async fn introspection_for_resource_servers(app: TestApp) {
    let p = person(&app, None, "intro@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let rs = client(&app, p.tenant, false, &["read"], &[REDIRECT]).await;
    let elsewhere = app.member("Elsewhere").await;
    let foreign_rs = client(&app, elsewhere.tenant, false, &["read"], &[REDIRECT]).await;
    let t = pkce_tokens(&app, &c, &p.email, "conversations:read").await;
    let access = s(&t["access_token"]).to_string();
    let introspect = |who: &RegisteredClient, token: &str| {
        app.client
            .post(app.url("/oauth/introspect"))
            .basic_auth(&who.client_id, who.secret.as_deref())
            .form(&[("token", token)])
            .send()
    };
    let r = introspect(&rs, &access).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "conversations:read");
    assert_eq!(body["client_id"], c.client_id.as_str());
    assert_eq!(body["sub"], p.user.to_string());
    assert_eq!(body["tenant_id"], p.tenant);
    assert_eq!(
        body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(),
        3600
    );
    let body: Value = introspect(&rs, s(&t["refresh_token"]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["active"], true);
    // Another tenant's resource server learns nothing.
    let body: Value = introspect(&foreign_rs, &access)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"active": false}));
    let body: Value = introspect(&rs, "sbo_unknown")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"active": false}));
    // Public clients cannot introspect.
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("client_id", c.client_id.as_str()), ("token", &access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Revoked: inactive.
    app.client
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", c.client_id.as_str()),
            ("token", s(&t["refresh_token"])),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = introspect(&rs, &access)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"active": false}));
}

async fn metadata_document(app: TestApp) {
    let r = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["issuer"], app.base.as_str());
    assert_eq!(m["token_endpoint"], format!("{}/oauth/token", app.base));
    assert_eq!(
        m["authorization_endpoint"],
        format!("{}/oauth/authorize", app.base)
    );
    assert_eq!(
        m["revocation_endpoint"],
        format!("{}/oauth/revoke", app.base)
    );
    assert_eq!(
        m["introspection_endpoint"],
        format!("{}/oauth/introspect", app.base)
    );
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert!(m["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("conversations:read")));
    // And the OpenAPI document names the token endpoint.
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/oauth/token"].is_object());
    assert!(doc["paths"]["/api/v1/oauth/clients"].is_object());
}

async fn try_login(
    app: &TestApp,
    b: &Client,
    query: &str,
    email: &str,
    password: &str,
) -> (u16, String) {
    let html = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = submit(
        app,
        b,
        &html,
        "/oauth/login",
        &[("email", email), ("password", password)],
    )
    .await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

fn error_text(html: &str) -> String {
    html.split("id=\"error\" role=\"alert\">")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .unwrap_or("")
        .to_string()
}

async fn login_is_throttled_per_account_and_per_ip(app: TestApp) {
    let p = person(&app, None, "victim@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let query = authorize_query(
        &c.client_id,
        REDIRECT,
        "read",
        Some(&challenge(&verifier())),
    );
    let b = browser();
    for _ in 0..5 {
        assert_eq!(
            try_login(&app, &b, &query, &p.email, "wrong password")
                .await
                .0,
            401
        );
    }
    // Locked: even the right password is refused, without saying whether it was right.
    let (status, html) = try_login(&app, &b, &query, &p.email, PASSWORD).await;
    assert_eq!(status, 429);
    assert!(
        error_text(&html).contains("Too many sign-in attempts"),
        "{html}"
    );
    // An address that does not exist is locked the same way.
    for _ in 0..5 {
        try_login(&app, &b, &query, "ghost@example.com", "x").await;
    }
    let (status, ghost) = try_login(&app, &b, &query, "ghost@example.com", "x").await;
    assert_eq!(status, 429);
    assert_eq!(error_text(&ghost), error_text(&html));
    // The window ends.
    app.advance(15 * 60);
    assert_eq!(try_login(&app, &b, &query, &p.email, PASSWORD).await.0, 303);
    // Per IP: 20 failures over different accounts lock out the address.
    let q = person(&app, Some(p.tenant), "other@example.com", Role::Agent).await;
    let b = browser();
    for i in 0..20 {
        let (status, _) =
            try_login(&app, &b, &query, &format!("spray{i}@example.com"), "guess").await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let (status, _) = try_login(&app, &b, &query, &q.email, PASSWORD).await;
    assert_eq!(status, 429, "the IP is locked for every account");
    app.advance(15 * 60);
    assert_eq!(try_login(&app, &b, &query, &q.email, PASSWORD).await.0, 303);
}

async fn login_errors_do_not_reveal_accounts(app: TestApp) {
    let p = person(&app, None, "known@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let query = authorize_query(
        &c.client_id,
        REDIRECT,
        "read",
        Some(&challenge(&verifier())),
    );
    let b = browser();
    let (s1, known) = try_login(&app, &b, &query, &p.email, "wrong password").await;
    let (s2, unknown) = try_login(&app, &b, &query, "nobody@example.com", "wrong password").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(error_text(&known), error_text(&unknown));
    assert_eq!(
        error_text(&known),
        "These credentials do not match our records."
    );
    // An account that is not in the client's tenant cannot authorize it.
    let outsider = person(&app, None, "outsider@example.com", Role::Owner).await;
    let b = browser();
    let html = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = submit(
        &app,
        &b,
        &html,
        "/oauth/login",
        &[("email", &outsider.email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = b.get(app.url(&location(&r))).send().await.unwrap();
    assert_eq!(page.status(), 403);
    // "Use another account": needs the session's CSRF token, then signs out.
    let html = page.text().await.unwrap();
    assert!(html.contains("outsider@example.com"));
    let fields = hidden_fields_of(&html, "switch");
    let forged: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "csrf_token" {
                    "x".to_string()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    let r = b
        .post(app.url("/oauth/logout"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = b
        .post(app.url("/oauth/logout"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(set_cookies(r.headers())
        .iter()
        .any(|c| c.starts_with("sb_session=;") && c.contains("Max-Age=0")));
    let again = b
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("id=\"login\""), "signed out: {again}");
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM oauth_sessions").await,
        0
    );
    // Signing in as a member now works.
    let consent = sign_in(&app, &b, &query, &p.email).await;
    assert!(consent.contains("id=\"use-another-account\""));
}

async fn scopes_are_enforced_for_oauth_tokens(app: TestApp) {
    let p = person(&app, None, "scope@example.com", Role::Admin).await;
    let channel = app.channel(p.tenant, ChannelType::Telegram, "Bot").await;
    let c = client(&app, p.tenant, true, &["read", "write"], &[REDIRECT]).await;
    let body = json!({"channel_id": channel, "address": "12345"});
    let read_only =
        s(&pkce_tokens(&app, &c, &p.email, "conversations:read").await["access_token"]).to_string();
    let write_only =
        s(&pkce_tokens(&app, &c, &p.email, "conversations:write").await["access_token"])
            .to_string();
    let umbrella =
        s(&pkce_tokens(&app, &c, &p.email, "read write").await["access_token"]).to_string();
    let denied = |r: (u16, Value)| {
        assert_eq!(
            (r.0, r.1["error"].as_str().unwrap_or("").to_string()),
            (403, "insufficient_scope".to_string()),
            "{}",
            r.1
        )
    };
    use reqwest::Method as M;
    assert_eq!(list_status(&app, &read_only, p.tenant).await, 200);
    denied(
        status_of(api(&app, M::POST, "/api/v1/conversations", &read_only, p.tenant).json(&body))
            .await,
    );
    denied(
        status_of(api(
            &app,
            M::GET,
            "/api/v1/conversations",
            &write_only,
            p.tenant,
        ))
        .await,
    );
    denied(
        status_of(api(
            &app,
            M::GET,
            "/api/v1/conversations/1",
            &write_only,
            p.tenant,
        ))
        .await,
    );
    assert_eq!(
        status_of(
            api(
                &app,
                M::POST,
                "/api/v1/conversations",
                &write_only,
                p.tenant
            )
            .json(&body)
        )
        .await
        .0,
        201
    );
    // Client management needs clients:* (the umbrellas grant it).
    denied(
        status_of(api(
            &app,
            M::GET,
            "/api/v1/oauth/clients",
            &read_only,
            p.tenant,
        ))
        .await,
    );
    denied(
        status_of(
            api(&app, M::POST, "/api/v1/oauth/clients", &read_only, p.tenant).json(&json!({})),
        )
        .await,
    );
    denied(
        status_of(api(
            &app,
            M::DELETE,
            &format!("/api/v1/oauth/clients/{}", c.client_id),
            &read_only,
            p.tenant,
        ))
        .await,
    );
    assert_eq!(
        status_of(api(
            &app,
            M::GET,
            "/api/v1/oauth/clients",
            &umbrella,
            p.tenant
        ))
        .await
        .0,
        200
    );
    // Personal access tokens take scopes the same way.
    let pat = app.token(p.user, &["clients:read"], Some(3600)).await;
    assert_eq!(
        status_of(api(&app, M::GET, "/api/v1/oauth/clients", &pat, p.tenant))
            .await
            .0,
        200
    );
    denied(status_of(api(&app, M::GET, "/api/v1/conversations", &pat, p.tenant)).await);
    // The account endpoint needs no scope.
    let (status, _) = status_of(
        app.client
            .get(app.url("/api/v1/account/tenants"))
            .bearer_auth(&read_only),
    )
    .await;
    assert_eq!(status, 200);
}

async fn roles_are_enforced(app: TestApp) {
    use reqwest::Method as M;
    let owner = person(&app, None, "owner@example.com", Role::Owner).await;
    let admin = person(&app, Some(owner.tenant), "admin@example.com", Role::Admin).await;
    let agent = person(&app, Some(owner.tenant), "agent@example.com", Role::Agent).await;
    let channel = app
        .channel(owner.tenant, ChannelType::Whatsapp, "Desk")
        .await;
    let c = client(&app, owner.tenant, true, &["read", "write"], &[REDIRECT]).await;
    let create = json!({"name": "Integration", "redirect_uris": ["https://x.example.com/cb"]});
    for (who, may_manage) in [(&owner, true), (&admin, true), (&agent, false)] {
        // Through the OAuth flow (the user's role follows the token) and a PAT.
        let oauth =
            s(&pkce_tokens(&app, &c, &who.email, "read write").await["access_token"]).to_string();
        let pat = app.token(who.user, &["read", "write"], Some(3600)).await;
        for token in [&oauth, &pat] {
            // Every role uses conversations.
            assert_eq!(list_status(&app, token, owner.tenant).await, 200);
            let (status, _) = status_of(
                api(&app, M::POST, "/api/v1/conversations", token, owner.tenant).json(
                    &json!({"channel_id": channel, "address": format!("+90532{:07}", who.user)}),
                ),
            )
            .await;
            assert!(status == 201 || status == 200, "{status}");
            let (s1, b1) = status_of(api(
                &app,
                M::GET,
                "/api/v1/oauth/clients",
                token,
                owner.tenant,
            ))
            .await;
            let (s2, b2) = status_of(
                api(&app, M::POST, "/api/v1/oauth/clients", token, owner.tenant).json(&create),
            )
            .await;
            if may_manage {
                assert_eq!((s1, s2), (200, 201), "{b1} {b2}");
                let id = s(&b2["data"]["client_id"]).to_string();
                let (s3, _) = status_of(api(
                    &app,
                    M::DELETE,
                    &format!("/api/v1/oauth/clients/{id}"),
                    token,
                    owner.tenant,
                ))
                .await;
                assert_eq!(s3, 200);
            } else {
                for (status, body) in [(s1, b1), (s2, b2)] {
                    assert_eq!(
                        (status, s(&body["error"])),
                        (403, "insufficient_role"),
                        "{body}"
                    );
                }
                let (status, body) = status_of(api(
                    &app,
                    M::DELETE,
                    &format!("/api/v1/oauth/clients/{}", c.client_id),
                    token,
                    owner.tenant,
                ))
                .await;
                assert_eq!((status, s(&body["error"])), (403, "insufficient_role"));
            }
        }
    }
    // The role is read on every request: demoting the admin takes effect at once.
    let pat = app.token(admin.user, &["read"], Some(3600)).await;
    assert_eq!(
        status_of(api(
            &app,
            M::GET,
            "/api/v1/oauth/clients",
            &pat,
            owner.tenant
        ))
        .await
        .0,
        200
    );
    app.change_made_elsewhere(app.store.put_membership(
        TenantId(owner.tenant),
        UserId(admin.user),
        Role::Agent,
        app.clock.now(),
    ))
    .await
    .unwrap();
    assert_eq!(
        status_of(api(
            &app,
            M::GET,
            "/api/v1/oauth/clients",
            &pat,
            owner.tenant
        ))
        .await
        .0,
        403
    );
    // The account endpoint reports each role.
    let (_, tenants) = status_of(
        app.client
            .get(app.url("/api/v1/account/tenants"))
            .bearer_auth(&pat),
    )
    .await;
    assert_eq!(tenants["data"][0]["role"], "agent");
}

async fn client_management_api(app: TestApp) {
    use reqwest::Method as M;
    let m = app.member("Mgmt").await;
    let other = app.member("Other").await;
    let (status, created) = status_of(
        api(&app, M::POST, "/api/v1/oauth/clients", &m.token, m.tenant).json(&json!({
            "name": "  Dashboard  ",
            "redirect_uris": ["https://dash.example.com/cb", "http://localhost:3000/cb"],
            "scopes": ["conversations:read", "conversations:write"]
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    assert_eq!(data["name"], "Dashboard");
    assert_eq!(data["public"], false);
    assert_eq!(
        data["scopes"],
        json!(["conversations:read", "conversations:write"])
    );
    let secret = s(&data["client_secret"]).to_string();
    let id = s(&data["client_id"]).to_string();
    let (status, public) = status_of(
        api(&app, M::POST, "/api/v1/oauth/clients", &m.token, m.tenant).json(&json!({
            "name": "SPA", "redirect_uris": ["https://spa.example.com/cb"], "public": true, "scopes": "read"
        })),
    )
    .await;
    assert_eq!(status, 201);
    assert!(public["data"].get("client_secret").is_none());
    assert_eq!(public["data"]["scopes"], json!(["read"]));
    // Listed without secrets; other tenants see none of them.
    let (_, list) = status_of(api(
        &app,
        M::GET,
        "/api/v1/oauth/clients",
        &m.token,
        m.tenant,
    ))
    .await;
    let listed = list["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c.get("client_secret").is_none()));
    let (_, list) = status_of(api(
        &app,
        M::GET,
        "/api/v1/oauth/clients",
        &other.token,
        other.tenant,
    ))
    .await;
    assert_eq!(list["data"], json!([]));
    // Validation: Laravel-shaped 422s.
    for (body, field) in [
        (json!({}), "name"),
        (
            json!({"name": "x", "redirect_uris": ["http://dash.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "x", "redirect_uris": ["https://a.example.com/cb#f"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "x", "redirect_uris": "https://a.example.com/cb"}),
            "redirect_uris",
        ),
        (
            json!({"name": "x", "redirect_uris": ["https://a.example.com/cb"], "scopes": ["admin"]}),
            "scopes",
        ),
        (
            json!({"name": "x", "redirect_uris": ["https://a.example.com/cb"], "public": "maybe"}),
            "public",
        ),
    ] {
        let (status, err) =
            status_of(api(&app, M::POST, "/api/v1/oauth/clients", &m.token, m.tenant).json(&body))
                .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["error"], "validation_failed");
        assert!(err["errors"][field].is_array(), "{field}: {err}");
    }
    // A public client needs a redirect URI; a confidential one for client
    // credentials alone may have none, and no authorization request can name it.
    for no_uris in [
        json!({}),
        json!({"redirect_uris": null}),
        json!({"redirect_uris": []}),
    ] {
        let mut body = json!({"name": "Public", "public": true});
        body.as_object_mut()
            .unwrap()
            .extend(no_uris.as_object().unwrap().clone());
        let (status, err) =
            status_of(api(&app, M::POST, "/api/v1/oauth/clients", &m.token, m.tenant).json(&body))
                .await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(
            err["errors"]["redirect_uris"][0],
            "The redirect uris field is required for a public client.",
            "{err}"
        );
    }
    let (status, backend) = status_of(
        api(&app, M::POST, "/api/v1/oauth/clients", &m.token, m.tenant)
            .json(&json!({"name": "Backend", "scopes": ["conversations:read"]})),
    )
    .await;
    assert_eq!(status, 201, "{backend}");
    assert_eq!(backend["data"]["redirect_uris"], json!([]), "{backend}");
    let backend_id = s(&backend["data"]["client_id"]).to_string();
    let (status, _, t) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &backend_id),
            ("client_secret", s(&backend["data"]["client_secret"])),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        list_status(&app, s(&t["access_token"]), m.tenant).await,
        200
    );
    let query = authorize_query(
        &backend_id,
        "https://anything.example.com/cb",
        "conversations:read",
        Some(&challenge(&verifier())),
    );
    let html = refused_on_the_servers_page(&app, &browser(), &query).await;
    assert!(
        html.contains("The redirect_uri is not registered for this application."),
        "{html}"
    );
    // The secret works; deleting the client ends its tokens at once.
    let (_, _, t) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    let token = s(&t["access_token"]).to_string();
    assert_eq!(list_status(&app, &token, m.tenant).await, 200);
    let (status, _) = status_of(api(
        &app,
        M::DELETE,
        &format!("/api/v1/oauth/clients/{id}"),
        &other.token,
        other.tenant,
    ))
    .await;
    assert_eq!(status, 404, "another tenant's client does not exist");
    let (status, _) = status_of(api(
        &app,
        M::DELETE,
        &format!("/api/v1/oauth/clients/{id}"),
        &m.token,
        m.tenant,
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(list_status(&app, &token, m.tenant).await, 401);
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!((status, s(&body["error"])), (401, "invalid_client"));
    let (status, _) = status_of(api(
        &app,
        M::DELETE,
        &format!("/api/v1/oauth/clients/{id}"),
        &m.token,
        m.tenant,
    ))
    .await;
    assert_eq!(status, 404);
    // Its authorization page is gone too.
    let r = browser()
        .get(app.url(&format!(
            "/oauth/authorize?{}",
            authorize_query(&id, "https://dash.example.com/cb", "", None)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn oauth_tokens_reach_only_their_clients_tenant(app: TestApp) {
    let p = person(&app, None, "two@example.com", Role::Owner).await;
    let second = app
        .store
        .create_tenant("Second", app.clock.now())
        .await
        .unwrap()
        .id
        .0;
    app.store
        .put_membership(
            TenantId(second),
            UserId(p.user),
            Role::Owner,
            app.clock.now(),
        )
        .await
        .unwrap();
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let t = pkce_tokens(&app, &c, &p.email, "read").await;
    let access = s(&t["access_token"]).to_string();
    assert_eq!(list_status(&app, &access, p.tenant).await, 200);
    let (status, body) = status_of(api(
        &app,
        reqwest::Method::GET,
        "/api/v1/conversations",
        &access,
        second,
    ))
    .await;
    assert_eq!((status, s(&body["error"])), (403, "tenant_forbidden"));
    let (_, tenants) = status_of(
        app.client
            .get(app.url("/api/v1/account/tenants"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(tenants["data"].as_array().unwrap().len(), 1);
    assert_eq!(tenants["data"][0]["role"], "owner");
    // The user's personal token still reaches both.
    let pat = app.token(p.user, &["read"], Some(60)).await;
    let (_, tenants) = status_of(
        app.client
            .get(app.url("/api/v1/account/tenants"))
            .bearer_auth(&pat),
    )
    .await;
    assert_eq!(tenants["data"].as_array().unwrap().len(), 2);
    // Leaving the tenant ends the OAuth token's use there (the cached role goes when
    // the membership changes, here by hand in the database), and refreshing.
    app.change_made_elsewhere(app.db.execute(&format!(
        "DELETE FROM tenant_memberships WHERE user_id = {} AND tenant_id = {}",
        p.user, p.tenant
    )))
    .await;
    assert_eq!(list_status(&app, &access, p.tenant).await, 403);
    assert_eq!(refresh(&app, &c, s(&t["refresh_token"])).await.0, 400);
}

async fn tokens_and_secrets_are_stored_hashed(app: TestApp) {
    let p = person(&app, None, "hash@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, false, &["read"], &[REDIRECT]).await;
    let secret = c.secret.clone().unwrap();
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", None),
        &p.email,
    )
    .await;
    let (_, _, t) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    let sha = |v: &str| hex::encode(Sha256::digest(v.as_bytes()));
    for (table, column, value) in [
        ("oauth_clients", "secret_hash", secret.as_str()),
        ("oauth_codes", "code_hash", code.as_str()),
        ("oauth_access_tokens", "token_hash", s(&t["access_token"])),
        ("oauth_refresh_tokens", "token_hash", s(&t["refresh_token"])),
    ] {
        assert!(value.len() >= 40, "high entropy: {value}");
        let plain = app
            .db
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = '{value}'"
            ))
            .await;
        let hashed = app
            .db
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = '{}'",
                sha(value)
            ))
            .await;
        assert_eq!((plain, hashed), (0, 1), "{table}");
    }
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM oauth_sessions WHERE session_hash LIKE 'sb%' OR length(session_hash) <> 64").await, 0);
}

async fn token_endpoint_errors_follow_rfc6749(app: TestApp) {
    let p = person(&app, None, "errs@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let cid = c.client_id.as_str();
    for (form, status, error) in [
        (vec![("client_id", cid)], 400, "invalid_request"),
        (
            vec![("grant_type", "password"), ("client_id", cid)],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", cid),
                ("code", "sba_x"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &"a".repeat(43)),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", cid),
                ("redirect_uri", REDIRECT),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", cid),
                ("refresh_token", "sbr_x"),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", "sbcl_unknown"),
                ("refresh_token", "sbr_x"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", cid),
                ("client_secret", "sbs_x"),
                ("refresh_token", "sbr_x"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", cid),
            ],
            400,
            "invalid_request",
        ),
    ] {
        let (got, headers, body) = token_request(&app, &form).await;
        assert_eq!(
            (got, s(&body["error"])),
            (status, error),
            "{form:?}: {body}"
        );
        assert_eq!(headers["cache-control"], "no-store");
        assert!(body["error_description"].is_string() && body["message"].is_string());
    }
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "text/plain")
        .body("grant_type=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

async fn cookies_are_secure_behind_https(app: TestApp) {
    // The test client is the trusted proxy (see forwarded_proto_counts_only_from_trusted_proxies).
    let app = TestApp::spawn_with(app.db.backend, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let p = person(&app, None, "tls@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let query = authorize_query(
        &c.client_id,
        REDIRECT,
        "read",
        Some(&challenge(&verifier())),
    );
    let r = app
        .client
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(r.headers());
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("__Host-sb_csrf="))
        .expect("secure csrf cookie");
    assert!(
        csrf.contains("; Secure")
            && csrf.contains("HttpOnly")
            && csrf.contains("SameSite=Lax")
            && csrf.contains("Path=/")
    );
    let html = r.text().await.unwrap();
    let token = param(&hidden_fields(&html), "csrf_token").unwrap();
    let cookie_value = csrf.split(';').next().unwrap().to_string();
    let mut fields = hidden_fields(&html);
    fields.push(("email".into(), p.email.clone()));
    fields.push(("password".into(), PASSWORD.into()));
    let r = browser()
        .post(app.url("/oauth/login"))
        .header("X-Forwarded-Proto", "https")
        .header("Cookie", cookie_value)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "token {token}");
    let session = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("__Host-sb_session="))
        .expect("secure session cookie");
    assert!(
        session.contains("; Secure")
            && session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
    );
}

async fn token_lifetimes_are_configurable(_app: TestApp) {
    let app = TestApp::spawn_with(_app.db.backend, |c| {
        c.access_token_ttl_secs = 120;
        c.refresh_token_ttl_secs = 600;
    })
    .await;
    let p = person(&app, None, "ttl@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let t = pkce_tokens(&app, &c, &p.email, "read").await;
    assert_eq!(t["expires_in"], 120);
    let access = s(&t["access_token"]).to_string();
    app.advance(119);
    assert_eq!(list_status(&app, &access, p.tenant).await, 200);
    app.advance(1);
    assert_eq!(list_status(&app, &access, p.tenant).await, 401);
    app.advance(480);
    assert_eq!(
        refresh(&app, &c, s(&t["refresh_token"])).await.0,
        400,
        "refresh token expired after 600 s"
    );
}

async fn cli_creates_clients(app: TestApp) {
    let tenant = app
        .store
        .create_tenant("CLI", app.clock.now())
        .await
        .unwrap()
        .id
        .0;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("SWITCHBOARD_") || name == "DATABASE_URL" || name == "RUST_LOG" {
                cmd.env_remove(&key);
            }
        }
        let out = cmd
            .arg("--database-url")
            .arg(&app.db.url)
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
        (
            out.status.success(),
            serde_json::from_str::<Value>(&stdout).unwrap(),
        )
    };
    let t = tenant.to_string();
    let (ok, out) = run(&[
        "client",
        "create",
        "--tenant",
        &t,
        "--name",
        "Dashboard",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "conversations:read conversations:write",
    ]);
    assert!(ok, "{out}");
    assert!(s(&out["client_id"]).starts_with("sbcl_"));
    assert!(s(&out["client_secret"]).starts_with("sbs_"));
    assert_eq!(
        out["scopes"],
        json!(["conversations:read", "conversations:write"])
    );
    let (ok, out) = run(&[
        "client",
        "create",
        "--tenant",
        &t,
        "--name",
        "SPA",
        "--redirect-uri",
        REDIRECT,
        "--redirect-uri",
        "https://spa.example.com/cb",
        "--public",
    ]);
    assert!(ok, "{out}");
    assert!(out.get("client_secret").is_none());
    assert_eq!(out["public"], true);
    assert_eq!(out["scopes"], json!(["read", "write"]));
    assert_eq!(out["redirect_uris"].as_array().unwrap().len(), 2);
    let (ok, out) = run(&[
        "client",
        "create",
        "--tenant",
        &t,
        "--name",
        "X",
        "--redirect-uri",
        "http://example.com/cb",
    ]);
    assert!(!ok);
    assert_eq!(out["error"], "invalid_argument");
    let (ok, out) = run(&[
        "client",
        "create",
        "--tenant",
        &t,
        "--name",
        "X",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "admin",
    ]);
    assert!(!ok);
    assert_eq!(out["error"], "invalid_scope");
    let (ok, out) = run(&[
        "client",
        "create",
        "--tenant",
        "999",
        "--name",
        "X",
        "--redirect-uri",
        REDIRECT,
    ]);
    assert!(!ok);
    assert_eq!(out["error"], "not_found");
    // Without a redirect URI: a confidential client (client credentials alone) yes,
    // a public one no.
    let (ok, out) = run(&["client", "create", "--tenant", &t, "--name", "Backend"]);
    assert!(ok, "{out}");
    assert_eq!(out["redirect_uris"], json!([]), "{out}");
    assert!(s(&out["client_secret"]).starts_with("sbs_"));
    let (ok, out) = run(&[
        "client", "create", "--tenant", &t, "--name", "App", "--public",
    ]);
    assert!(!ok);
    assert_eq!(out["error"], "invalid_argument", "{out}");
    assert!(
        s(&out["message"]).contains("required for a public client"),
        "{out}"
    );
    // The client works against the server.
    let listed = app
        .store
        .list_oauth_clients(TenantId(tenant))
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
}

async fn concurrent_uses_of_a_code_or_refresh_token_have_one_winner(app: TestApp) {
    let p = person(&app, None, "race@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let v = verifier();
    let code = obtain_code(
        &app,
        &authorize_query(&c.client_id, REDIRECT, "read", Some(&challenge(&v))),
        &p.email,
    )
    .await;
    let (a, b) = futures::join!(
        exchange_public(&app, &c, &code, &v),
        exchange_public(&app, &c, &code, &v)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let winner = if a.0 == 200 { a.1 } else { b.1 };
    // The loser is a replay: what the winner got is revoked.
    assert_eq!(
        list_status(&app, s(&winner["access_token"]), p.tenant).await,
        401
    );

    let t = pkce_tokens(&app, &c, &p.email, "read").await;
    let presented = s(&t["refresh_token"]).to_string();
    let (a, b) = futures::join!(refresh(&app, &c, &presented), refresh(&app, &c, &presented));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let winner = if a.0 == 200 { a.1 } else { b.1 };
    assert_eq!(
        refresh(&app, &c, s(&winner["refresh_token"])).await.0,
        400,
        "family revoked"
    );
}

// --- Hardening ------------------------------------------------------------------

/// Posts the form on `html` at `action` with its hidden fields, each of `fields`
/// replacing the hidden field of that name or added.
async fn submit_replacing(
    app: &TestApp,
    b: &Client,
    html: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Response {
    let mut form = hidden_fields(html);
    for (k, v) in fields {
        match form.iter_mut().find(|(name, _)| name == k) {
            Some(field) => field.1 = v.to_string(),
            None => form.push((k.to_string(), v.to_string())),
        }
    }
    b.post(app.url(action)).form(&form).send().await.unwrap()
}

async fn oauth_json(r: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(status < 500, "{what}: {status} {text}");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: JSON: {text}"));
    (status, body)
}

async fn page_status(r: reqwest::RequestBuilder, what: &str) -> (u16, String) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(status < 500, "{what}: {status} {text}");
    (status, text)
}

/// A NUL cannot be part of any stored client id, e-mail or token (PostgreSQL cannot
/// even compare text with one): on every OAuth path such a value is answered like a
/// value that matches nothing, never with a 5xx.
async fn nul_bytes_are_unknown_values_not_server_errors(app: TestApp) {
    let p = person(&app, None, "nul@example.com", Role::Owner).await;
    let public = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let conf = client(&app, p.tenant, false, &["read"], &[REDIRECT]).await;
    let secret = conf.secret.clone().unwrap();

    // Client authentication with a NUL in the client_id, every way it can be sent.
    for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
        let post = || app.client.post(app.url(path));
        let grant = [("grant_type", "client_credentials"), ("token", "t")];
        let requests = [
            (
                "form",
                post().form(&[
                    grant[0],
                    grant[1],
                    ("client_id", "\0"),
                    ("client_secret", "x"),
                ]),
            ),
            (
                "form, public",
                post().form(&[grant[0], grant[1], ("client_id", "a\0b")]),
            ),
            (
                "JSON",
                post().json(&json!({"grant_type": "client_credentials", "token": "t",
                    "client_id": "\u{0}", "client_secret": "x"})),
            ),
            (
                "JSON, public",
                post().json(&json!({"grant_type": "client_credentials", "token": "t",
                    "client_id": format!("{}\u{0}", public.client_id)})),
            ),
            ("Basic", post().basic_auth("\0", Some("x")).form(&grant)),
            (
                "Basic, escaped",
                post().basic_auth("%00", Some("x")).form(&grant),
            ),
            (
                "Basic, raw",
                post()
                    .header(
                        "Authorization",
                        format!("Basic {}", STANDARD.encode(b"\0:\0")),
                    )
                    .form(&grant),
            ),
        ];
        for (how, request) in requests {
            let what = format!("{path}, client_id with NUL ({how})");
            let (status, body) = oauth_json(request, &what).await;
            assert_eq!(
                (status, s(&body["error"])),
                (401, "invalid_client"),
                "{what}"
            );
        }
    }

    // A real client, NUL in every other parameter of the token endpoint.
    let token = |fields: &[(&str, &str)]| {
        app.client
            .post(app.url("/oauth/token"))
            .basic_auth(&conf.client_id, Some(&secret))
            .form(fields)
    };
    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[("grant_type", "\0")], "unsupported_grant_type"),
        (
            &[
                ("grant_type", "authorization_code"),
                ("code", "\0"),
                ("redirect_uri", REDIRECT),
            ],
            "invalid_grant",
        ),
        (
            &[
                ("grant_type", "authorization_code"),
                ("code", "sba_x"),
                ("redirect_uri", "\0"),
            ],
            "invalid_grant",
        ),
        (
            &[
                ("grant_type", "authorization_code"),
                ("code", "sba_x"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", "\0"),
            ],
            "invalid_grant",
        ),
        (
            &[("grant_type", "refresh_token"), ("refresh_token", "\0")],
            "invalid_grant",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "sbr_\0"),
                ("scope", "\0"),
            ],
            "invalid_grant",
        ),
        (
            &[("grant_type", "client_credentials"), ("scope", "read\0")],
            "invalid_scope",
        ),
        (
            &[("grant_type", "client_credentials"), ("client_id", "\0")],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", "\0"),
            ],
            "invalid_request",
        ),
    ];
    for (fields, error) in cases {
        let what = format!("token endpoint with {fields:?}");
        let (status, body) = oauth_json(token(fields), &what).await;
        assert_eq!((status, s(&body["error"])), (400, error), "{what}");
    }
    // Revocation and introspection: a NUL token is an unknown token.
    for (path, fields) in [
        (
            "/oauth/revoke",
            [("token", "\0"), ("token_type_hint", "\0")],
        ),
        (
            "/oauth/introspect",
            [("token", "sbr_\0"), ("token_type_hint", "\0")],
        ),
        (
            "/oauth/introspect",
            [("token", "sbo_\0"), ("token_type_hint", "a")],
        ),
    ] {
        let what = format!("{path} with {fields:?}");
        let r = app
            .client
            .post(app.url(path))
            .basic_auth(&conf.client_id, Some(&secret))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{what}");
        if path == "/oauth/introspect" {
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"active": false}),
                "{what}"
            );
        }
    }

    // The authorization pages.
    let v = verifier();
    let ch = challenge(&v);
    let good = [
        ("response_type", "code"),
        ("client_id", public.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "read"),
        ("state", "st"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let with = |name: &str, value: &'static str| -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in good {
            q.append_pair(k, if k == name { value } else { v });
        }
        q.finish()
    };
    for name in ["client_id", "redirect_uri"] {
        for value in ["\0", "x\0"] {
            let what = format!("authorize with a NUL in {name}");
            let (status, html) = page_status(
                app.client
                    .get(app.url(&format!("/oauth/authorize?{}", with(name, value)))),
                &what,
            )
            .await;
            assert_eq!(status, 400, "{what}: {html}");
            assert!(html.contains("id=\"error\""), "{what}: {html}");
        }
    }
    for name in [
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ] {
        let what = format!("authorize with a NUL in {name}");
        let r = browser()
            .get(app.url(&format!("/oauth/authorize?{}", with(name, "\0"))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{what}");
        let q = query_of(&location(&r));
        assert!(location(&r).starts_with(REDIRECT), "{what}");
        assert!(param(&q, "error").is_some(), "{what}: {q:?}");
    }
    let query = with("", "");

    // The sign-in form.
    let b = browser();
    let html = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (fields, expected) in [
        (vec![("email", "\0"), ("password", PASSWORD)], 401),
        (
            vec![("email", "nul@example.com\0"), ("password", PASSWORD)],
            401,
        ),
        (vec![("email", "nul@example.com"), ("password", "\0")], 401),
        (
            vec![("email", "nul@example.com"), ("password", "correct\0horse")],
            401,
        ),
        (
            vec![
                ("email", "nul@example.com"),
                ("password", PASSWORD),
                ("csrf_token", "\0"),
            ],
            400,
        ),
        (
            vec![
                ("email", "nul@example.com"),
                ("password", PASSWORD),
                ("client_id", "\0"),
            ],
            400,
        ),
        (
            vec![
                ("email", "nul@example.com"),
                ("password", PASSWORD),
                ("redirect_uri", "\0"),
            ],
            400,
        ),
    ] {
        let what = format!("sign-in with {fields:?}");
        let r = submit_replacing(&app, &b, &html, "/oauth/login", &fields).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, expected, "{what}: {text}");
    }
    // The consent and sign-out forms, signed in.
    let consent = sign_in(&app, &b, &query, &p.email).await;
    for fields in [
        vec![("decision", "\0")],
        vec![("decision", "approve"), ("csrf_token", "\0")],
        vec![("decision", "approve"), ("client_id", "\0")],
        vec![("decision", "approve"), ("redirect_uri", "\0")],
    ] {
        let what = format!("consent with {fields:?}");
        let r = submit_replacing(&app, &b, &consent, "/oauth/authorize", &fields).await;
        assert_eq!(r.status(), 400, "{what}");
        assert!(r.headers().get(LOCATION).is_none(), "{what}");
    }
    let switch_form = consent
        .split("id=\"switch\"")
        .nth(1)
        .expect("switch form")
        .to_string();
    let r = submit_replacing(
        &app,
        &b,
        &switch_form,
        "/oauth/logout",
        &[("csrf_token", "\0")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM oauth_codes").await, 0);

    // Deleting a client by an id with a NUL: no such client.
    let owner = app.token(p.user, &["read", "write"], None).await;
    for id in ["%00", "x%00", &format!("{}%00", conf.client_id)] {
        let (status, body) = status_of(api(
            &app,
            reqwest::Method::DELETE,
            &format!("/api/v1/oauth/clients/{id}"),
            &owner,
            p.tenant,
        ))
        .await;
        assert_eq!(
            (status, s(&body["error"])),
            (404, "not_found"),
            "delete {id}: {body}"
        );
    }
}

/// Concurrent wrong guesses for one account: no more of them are checked than the
/// limit allows, and the right password sent after them is refused too.
async fn concurrent_sign_ins_cannot_outrun_the_throttle(app: TestApp) {
    let p = person(&app, None, "burst@example.com", Role::Agent).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let query = authorize_query(
        &c.client_id,
        REDIRECT,
        "read",
        Some(&challenge(&verifier())),
    );
    let b = browser();
    let html = b
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let guesses = (0..20).map(|i| {
        let password = format!("guess {i}");
        let (app, b, html) = (&app, &b, &html);
        async move {
            submit(
                app,
                b,
                html,
                "/oauth/login",
                &[("email", "burst@example.com"), ("password", &password)],
            )
            .await
            .status()
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 20, "{statuses:?}");
    assert_eq!(checked, 5, "exactly the limit is checked: {statuses:?}");
    let (status, _) = try_login(&app, &b, &query, &p.email, PASSWORD).await;
    assert_eq!(status, 429, "the account is locked");
    // A success refunds its attempt to the IP: 19 signed-in users behind one address
    // and one wrong guess do not lock it.
    app.advance(15 * 60);
    for i in 0..19 {
        let q = person(
            &app,
            Some(p.tenant),
            &format!("ok{i}@example.com"),
            Role::Agent,
        )
        .await;
        assert_eq!(
            try_login(&app, &browser(), &query, &q.email, PASSWORD)
                .await
                .0,
            303
        );
    }
    assert_eq!(
        try_login(&app, &b, &query, "burst@example.com", "x")
            .await
            .0,
        401
    );
    assert_eq!(try_login(&app, &b, &query, &p.email, PASSWORD).await.0, 303);
}

/// Introspection agrees with the API: a user's token stops being active when the
/// user leaves the tenant; a client-credentials token has no user and stays active.
async fn introspection_follows_membership(app: TestApp) {
    let p = person(&app, None, "leaver@example.com", Role::Agent).await;
    let _owner = person(&app, Some(p.tenant), "stays@example.com", Role::Owner).await;
    let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
    let rs = client(&app, p.tenant, false, &["read"], &[REDIRECT]).await;
    let t = pkce_tokens(&app, &c, &p.email, "read").await;
    let (access, refresh_token) = (s(&t["access_token"]), s(&t["refresh_token"]));
    let (_, _, cc) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &rs.client_id),
            ("client_secret", rs.secret.as_deref().unwrap()),
        ],
    )
    .await;
    let machine = s(&cc["access_token"]);
    let active = |token: String| {
        let app = &app;
        let rs = &rs;
        async move {
            let body: Value = app
                .client
                .post(app.url("/oauth/introspect"))
                .basic_auth(&rs.client_id, rs.secret.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["active"].as_bool().expect("active")
        }
    };
    assert!(active(access.into()).await);
    assert!(active(refresh_token.into()).await);
    assert!(active(machine.into()).await);
    let left = app
        .change_made_elsewhere(
            app.store
                .change_member(TenantId(p.tenant), UserId(p.user), None),
        )
        .await
        .unwrap();
    assert!(matches!(
        left,
        switchboard_core::auth_store::MemberChange::Done
    ));
    assert_eq!(list_status(&app, access, p.tenant).await, 403);
    assert!(
        !active(access.into()).await,
        "access token of a former member"
    );
    assert!(
        !active(refresh_token.into()).await,
        "refresh token of a former member"
    );
    assert!(active(machine.into()).await, "client-credentials token");
    // Back in the tenant, the same tokens count again (as they do for the API).
    app.store
        .put_membership(TenantId(p.tenant), UserId(p.user), Role::Agent, app.now())
        .await
        .unwrap();
    assert!(active(access.into()).await);
}

/// X-Forwarded-Proto makes the cookies `Secure`, and the issuer (like every absolute
/// URL the server writes) `https`, only when a trusted proxy sent it.
async fn forwarded_proto_counts_only_from_trusted_proxies(app: TestApp) {
    for (trusted, secure) in [(false, false), (true, true)] {
        let app = TestApp::spawn_with(app.db.backend, |c| {
            if trusted {
                c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            }
        })
        .await;
        let issuer = |proto: &'static str| {
            let app = &app;
            async move {
                let metadata: serde_json::Value = app
                    .client
                    .get(app.url("/.well-known/oauth-authorization-server"))
                    .header("X-Forwarded-Proto", proto)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                metadata["issuer"].as_str().unwrap().to_string()
            }
        };
        let https_issuer = issuer("https").await;
        assert_eq!(
            https_issuer.starts_with("https://"),
            secure,
            "trusted {trusted}: {https_issuer}"
        );
        assert!(
            issuer("http").await.starts_with("http://"),
            "trusted {trusted}: a proxy that says http"
        );
        let p = person(&app, None, "proto@example.com", Role::Agent).await;
        let c = client(&app, p.tenant, true, &["read"], &[REDIRECT]).await;
        let query = authorize_query(
            &c.client_id,
            REDIRECT,
            "read",
            Some(&challenge(&verifier())),
        );
        let r = app
            .client
            .get(app.url(&format!("/oauth/authorize?{query}")))
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap();
        let cookies = set_cookies(r.headers());
        let csrf = cookies
            .iter()
            .find(|c| c.contains("sb_csrf="))
            .expect("csrf cookie");
        assert_eq!(
            csrf.starts_with("__Host-sb_csrf="),
            secure,
            "trusted {trusted}: {csrf}"
        );
        assert_eq!(
            csrf.contains("; Secure"),
            secure,
            "trusted {trusted}: {csrf}"
        );
        // A trusted proxy that says http, or a chain whose nearest hop says http.
        if trusted {
            for proto in ["http", "https, http"] {
                let r = app
                    .client
                    .get(app.url(&format!("/oauth/authorize?{query}")))
                    .header("X-Forwarded-Proto", proto)
                    .send()
                    .await
                    .unwrap();
                let cookies = set_cookies(r.headers());
                assert!(
                    cookies.iter().all(|c| !c.contains("Secure")),
                    "{proto}: {cookies:?}"
                );
            }
        }
    }
}
