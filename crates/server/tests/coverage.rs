//! Gaps in the other suites: scope denials on every endpoint, the request timeout,
//! cross-tenant references in bodies, the validation rules nobody exercised, concurrent
//! duplicate inbound deliveries and the conversation's last message after a media send.

mod common;

use common::{Backend, Member, TestApp};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

backend_tests!(
    every_endpoint_refuses_a_token_without_its_scope,
    media_send_to_another_tenants_conversation_is_404_and_stores_no_file,
    references_to_another_tenants_rows_in_bodies_are_422,
    inbound_ingest_validation,
    blacklist_update_and_list_filter_validation,
    message_list_edit_and_caption_validation,
    channel_and_customer_validation,
    concurrent_duplicate_inbound_deliveries_store_one_message,
    media_send_moves_the_conversations_last_message,
    scope_is_checked_before_the_body,
);

/// Tests that need their own server configuration, once per backend.
macro_rules! configured_tests {
    ($($name:ident),* $(,)?) => {
        mod configured_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod configured_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(pg_tests), ignore = "TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

configured_tests!(
    a_request_past_the_timeout_is_503_and_stores_nothing,
    uploads_over_the_limit_are_413_json_and_store_no_file,
);

const PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// Every fine-grained scope (the umbrellas `read` and `write` aside).
const FINE_SCOPES: &[&str] = &[
    "conversations:read",
    "conversations:write",
    "messages:read",
    "messages:write",
    "customers:read",
    "customers:write",
    "channels:read",
    "channels:write",
    "blacklists:read",
    "blacklists:write",
    "clients:read",
    "clients:write",
    "members:read",
    "members:write",
];

/// A request body.
#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    /// Raw bytes sent as `application/json`.
    RawJson(&'static str),
    /// Multipart with a file and an optional caption.
    Media(Vec<u8>, Option<String>),
}

async fn send(
    app: &TestApp,
    m: &Member,
    method: reqwest::Method,
    path: &str,
    body: Body,
) -> (u16, Value) {
    let response = request(app, m, method, path, body)
        .send()
        .await
        .expect("request");
    read(response).await
}

fn request(
    app: &TestApp,
    m: &Member,
    method: reqwest::Method,
    path: &str,
    body: Body,
) -> reqwest::RequestBuilder {
    let request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&m.token)
        .header("X-Tenant", m.tenant.to_string());
    match body {
        Body::None => request,
        Body::Json(value) => request.json(&value),
        Body::RawJson(text) => request
            .header("Content-Type", "application/json")
            .body(text),
        Body::Media(bytes, caption) => {
            let mut form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("scan.png"),
            );
            if let Some(caption) = caption {
                form = form.text("message", caption);
            }
            request.multipart(form)
        }
    }
}

/// Status and body; a body that is not JSON comes back as a JSON string.
async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(app: &TestApp, m: &Member, path: &str) -> (u16, Value) {
    send(app, m, reqwest::Method::GET, path, Body::None).await
}

async fn post(app: &TestApp, m: &Member, path: &str, body: Value) -> (u16, Value) {
    send(app, m, reqwest::Method::POST, path, Body::Json(body)).await
}

async fn put(app: &TestApp, m: &Member, path: &str, body: Value) -> (u16, Value) {
    send(app, m, reqwest::Method::PUT, path, Body::Json(body)).await
}

async fn media(app: &TestApp, m: &Member, conversation: i64, body: Body) -> (u16, Value) {
    send(
        app,
        m,
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{conversation}/messages/media"),
        body,
    )
    .await
}

/// Asserts Laravel's 422 shape: `error`, the summary `message`, and exactly these
/// fields with these first messages.
fn assert_invalid(status: u16, body: &Value, expected: &[(&str, &str)], what: &str) {
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(body["error"], "validation_failed", "{what}: {body}");
    let errors = body["errors"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: errors object in {body}"));
    let fields: BTreeSet<&str> = errors.keys().map(String::as_str).collect();
    let wanted: BTreeSet<&str> = expected.iter().map(|(f, _)| *f).collect();
    assert_eq!(fields, wanted, "{what}: fields of {body}");
    for (field, message) in expected {
        assert_eq!(errors[*field][0], *message, "{what}: {field} in {body}");
    }
    let all: Vec<&str> = errors
        .values()
        .flat_map(|m| m.as_array().expect("messages array").iter())
        .map(|m| m.as_str().expect("message string"))
        .collect();
    // `expected` is in validation order; the summary starts with its first message.
    let first = expected[0].1;
    let summary = match all.len() {
        1 => first.to_string(),
        2 => format!("{first} (and 1 more error)"),
        n => format!("{first} (and {} more errors)", n - 1),
    };
    assert_eq!(body["message"], summary, "{what}: summary of {body}");
}

/// A tenant with a WhatsApp channel made through the API (so its secret is known)
/// and one conversation.
struct Setup {
    m: Member,
    channel: i64,
    secret: String,
    conversation: i64,
    customer: i64,
}

async fn setup(app: &TestApp, tenant_name: &str) -> Setup {
    let m = app.member(tenant_name).await;
    let (status, body) = post(
        app,
        &m,
        "/api/v1/channels",
        json!({"type": "whatsapp", "name": "Front desk", "address": "+905320000000"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let channel = body["data"]["id"].as_i64().unwrap();
    let secret = body["data"]["inbound_secret"].as_str().unwrap().to_string();
    let (status, body) = app
        .create_conversation(
            &m,
            json!({"channel_id": channel, "address": "+905321234567", "first_name": "Ayşe"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Setup {
        m,
        channel,
        secret,
        conversation: body["data"]["id"].as_i64().unwrap(),
        customer: body["data"]["customer"]["id"].as_i64().unwrap(),
    }
}

async fn inbound(app: &TestApp, channel: i64, secret: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/channels/{channel}/inbound")))
        .header("X-Channel-Secret", secret)
        .json(&body)
        .send()
        .await
        .expect("inbound");
    read(response).await
}

/// Sends a text message through the API; its id.
async fn send_text(app: &TestApp, m: &Member, conversation: i64, text: &str) -> i64 {
    let (status, body) = post(
        app,
        m,
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({ "message": text }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["data"]["message_id"]
        .as_str()
        .expect("message id string")
        .parse()
        .expect("digits")
}

async fn conversation(app: &TestApp, m: &Member, id: i64) -> Value {
    let (status, body) = get(app, m, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.scalar(sql).await
}

/// Files under the file store's directory, at any depth.
fn stored_files(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .map(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    1
                }
            })
            .sum()
    }
    walk(&app.config.files_dir)
}

/// A token of the same user as `m`, with `scopes`.
async fn with_scopes(app: &TestApp, m: &Member, scopes: &[&str]) -> Member {
    Member {
        tenant: m.tenant,
        user: m.user,
        token: app.token(m.user, scopes, Some(3600)).await,
    }
}

/// Every scope but `needed` and the umbrella that would grant it (the other
/// umbrella is kept: `read` must not grant a write, nor `write` a read).
fn all_scopes_but(needed: &str) -> Vec<&'static str> {
    let other_umbrella = if needed.ends_with(":read") {
        "write"
    } else {
        "read"
    };
    FINE_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != needed)
        .chain([other_umbrella])
        .collect()
}

struct Endpoint {
    method: reqwest::Method,
    path: String,
    body: Body,
    scope: &'static str,
    /// What the right scope answers.
    ok: u16,
}

fn endpoint(
    method: reqwest::Method,
    path: impl Into<String>,
    body: Body,
    scope: &'static str,
    ok: u16,
) -> Endpoint {
    Endpoint {
        method,
        path: path.into(),
        body,
        scope,
        ok,
    }
}

async fn every_endpoint_refuses_a_token_without_its_scope(app: TestApp) {
    use reqwest::Method;
    let s = setup(&app, "Clinic").await;
    let c = s.conversation;
    let (_, second) = app
        .create_conversation(
            &s.m,
            json!({"channel_id": s.channel, "address": "+905329999999"}),
        )
        .await;
    let second_customer = second["data"]["customer"]["id"].as_i64().unwrap();
    let to_edit = send_text(&app, &s.m, c, "to edit").await;
    let to_delete = send_text(&app, &s.m, c, "to delete").await;
    let (status, body) = post(
        &app,
        &s.m,
        "/api/v1/channel-blacklists",
        json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let blacklist = body["data"]["id"].as_i64().unwrap();
    let (status, body) = post(
        &app,
        &s.m,
        "/api/v1/channels",
        json!({"type": "telegram", "name": "Old bot", "address": "@oldbot"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let doomed_channel = body["data"]["id"].as_i64().unwrap();
    let colleague = app
        .join(s.m.tenant, "colleague@clinic.test", &["read"])
        .await;
    let client_body = json!({"name": "Dashboard", "redirect_uris": ["https://app.example.com/cb"]});
    let (status, body) = post(&app, &s.m, "/api/v1/oauth/clients", client_body.clone()).await;
    assert_eq!(status, 201, "{body}");
    let client_id = body["data"]["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("client_id in {body}"))
        .to_string();

    let json = |v: Value| Body::Json(v);
    let table = vec![
        endpoint(
            Method::GET,
            "/api/v1/conversations",
            Body::None,
            "conversations:read",
            200,
        ),
        endpoint(
            Method::POST,
            "/api/v1/conversations",
            json(json!({"channel_id": s.channel, "address": "+905551112233"})),
            "conversations:write",
            201,
        ),
        endpoint(
            Method::GET,
            format!("/api/v1/conversations/{c}"),
            Body::None,
            "conversations:read",
            200,
        ),
        endpoint(
            Method::POST,
            format!("/api/v1/conversations/{c}/read"),
            json(json!({})),
            "conversations:write",
            200,
        ),
        endpoint(
            Method::GET,
            format!("/api/v1/conversations/{c}/agent"),
            Body::None,
            "conversations:read",
            200,
        ),
        endpoint(
            Method::POST,
            format!("/api/v1/conversations/{c}/agent/disable"),
            json(json!({"duration_minutes": 5})),
            "conversations:write",
            200,
        ),
        endpoint(
            Method::POST,
            format!("/api/v1/conversations/{c}/agent/enable"),
            json(json!({})),
            "conversations:write",
            200,
        ),
        endpoint(
            Method::GET,
            format!("/api/v1/conversations/{c}/messages"),
            Body::None,
            "messages:read",
            200,
        ),
        endpoint(
            Method::POST,
            format!("/api/v1/conversations/{c}/messages"),
            json(json!({"message": "hello"})),
            "messages:write",
            201,
        ),
        endpoint(
            Method::POST,
            format!("/api/v1/conversations/{c}/messages/media"),
            Body::Media(PNG.to_vec(), Some("caption".into())),
            "messages:write",
            201,
        ),
        endpoint(
            Method::PUT,
            format!("/api/v1/conversations/{c}/messages/{to_edit}"),
            json(json!({"message": "edited"})),
            "messages:write",
            200,
        ),
        endpoint(
            Method::DELETE,
            format!("/api/v1/conversations/{c}/messages/{to_delete}"),
            Body::None,
            "messages:write",
            200,
        ),
        endpoint(
            Method::GET,
            "/api/v1/customers",
            Body::None,
            "customers:read",
            200,
        ),
        endpoint(
            Method::POST,
            "/api/v1/customers",
            json(json!({"first_name": "Işıl"})),
            "customers:write",
            201,
        ),
        endpoint(
            Method::GET,
            format!("/api/v1/customers/{}", s.customer),
            Body::None,
            "customers:read",
            200,
        ),
        endpoint(
            Method::PUT,
            format!("/api/v1/customers/{}", s.customer),
            json(json!({"last_name": "Kaya"})),
            "customers:write",
            200,
        ),
        endpoint(
            Method::GET,
            "/api/v1/channels",
            Body::None,
            "channels:read",
            200,
        ),
        endpoint(
            Method::POST,
            "/api/v1/channels",
            json(json!({"type": "website", "name": "Site", "address": "clinic.example"})),
            "channels:write",
            201,
        ),
        endpoint(
            Method::GET,
            format!("/api/v1/channels/{}", s.channel),
            Body::None,
            "channels:read",
            200,
        ),
        endpoint(
            Method::PUT,
            format!("/api/v1/channels/{}", s.channel),
            json(json!({"name": "Reception"})),
            "channels:write",
            200,
        ),
        endpoint(
            Method::POST,
            format!("/api/v1/channels/{}/secret", s.channel),
            json(json!({})),
            "channels:write",
            200,
        ),
        endpoint(
            Method::DELETE,
            format!("/api/v1/channels/{doomed_channel}"),
            Body::None,
            "channels:write",
            200,
        ),
        endpoint(
            Method::GET,
            "/api/v1/channel-blacklists",
            Body::None,
            "blacklists:read",
            200,
        ),
        endpoint(
            Method::POST,
            "/api/v1/channel-blacklists",
            json(
                json!({"channel_id": s.channel, "customer_id": second_customer, "reason": "llm_spam"}),
            ),
            "blacklists:write",
            201,
        ),
        endpoint(
            Method::GET,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            Body::None,
            "blacklists:read",
            200,
        ),
        endpoint(
            Method::PUT,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            json(json!({"note": "checked"})),
            "blacklists:write",
            200,
        ),
        endpoint(
            Method::DELETE,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            Body::None,
            "blacklists:write",
            200,
        ),
        endpoint(
            Method::GET,
            "/api/v1/oauth/clients",
            Body::None,
            "clients:read",
            200,
        ),
        endpoint(
            Method::POST,
            "/api/v1/oauth/clients",
            json(client_body),
            "clients:write",
            201,
        ),
        endpoint(
            Method::DELETE,
            format!("/api/v1/oauth/clients/{client_id}"),
            Body::None,
            "clients:write",
            200,
        ),
        endpoint(
            Method::GET,
            "/api/v1/members",
            Body::None,
            "members:read",
            200,
        ),
        endpoint(
            Method::PUT,
            format!("/api/v1/members/{}", colleague.user),
            json(json!({"role": "agent"})),
            "members:write",
            200,
        ),
        endpoint(
            Method::DELETE,
            format!("/api/v1/members/{}", colleague.user),
            Body::None,
            "members:write",
            200,
        ),
    ];

    let mut denied: HashMap<&str, Member> = HashMap::new();
    let mut granted: HashMap<&str, Member> = HashMap::new();
    for e in table {
        let what = format!("{} {} ({})", e.method, e.path, e.scope);
        if !denied.contains_key(e.scope) {
            let without = with_scopes(&app, &s.m, &all_scopes_but(e.scope)).await;
            denied.insert(e.scope, without);
            let only = with_scopes(&app, &s.m, &[e.scope]).await;
            granted.insert(e.scope, only);
        }
        let response = request(
            &app,
            &denied[e.scope],
            e.method.clone(),
            &e.path,
            e.body.clone(),
        )
        .send()
        .await
        .expect("request");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (status, body) = read(response).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {content_type}"
        );
        assert_eq!(
            body,
            json!({
                "message": format!("The access token does not have the {} scope this request needs.", e.scope),
                "error": "insufficient_scope",
            }),
            "{what}"
        );
        // The refused call changed nothing: the same call with the scope succeeds (a
        // delete that had gone through would now be 404 or 422).
        let (status, body) = send(
            &app,
            &granted[e.scope],
            e.method.clone(),
            &e.path,
            e.body.clone(),
        )
        .await;
        assert_eq!(status, e.ok, "{what} with its scope: {body}");
    }
    // An umbrella grants its kind only.
    let read_only = with_scopes(&app, &s.m, &["read"]).await;
    let (status, body) = post(
        &app,
        &read_only,
        &format!("/api/v1/conversations/{c}/messages"),
        json!({"message": "x"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope")),
        "{body}"
    );
    let write_only = with_scopes(&app, &s.m, &["write"]).await;
    let (status, body) = get(&app, &write_only, "/api/v1/customers").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope")),
        "{body}"
    );
}

/// docs/api.md: "authentication (401), then the tenant header (400), then membership
/// (403), then scope (403 `insufficient_scope`), then the body".
async fn scope_is_checked_before_the_body(app: TestApp) {
    use reqwest::Method;
    let s = setup(&app, "Clinic").await;
    let c = s.conversation;
    let message = send_text(&app, &s.m, c, "hi").await;
    let cases: Vec<(Method, String, &str)> = vec![
        (
            Method::POST,
            "/api/v1/conversations".into(),
            "conversations:write",
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{c}/agent/disable"),
            "conversations:write",
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{c}/messages"),
            "messages:write",
        ),
        (
            Method::PUT,
            format!("/api/v1/conversations/{c}/messages/{message}"),
            "messages:write",
        ),
        (Method::POST, "/api/v1/customers".into(), "customers:write"),
        (
            Method::PUT,
            format!("/api/v1/customers/{}", s.customer),
            "customers:write",
        ),
        (Method::POST, "/api/v1/channels".into(), "channels:write"),
        (
            Method::PUT,
            format!("/api/v1/channels/{}", s.channel),
            "channels:write",
        ),
        (
            Method::POST,
            "/api/v1/channel-blacklists".into(),
            "blacklists:write",
        ),
        (
            Method::POST,
            "/api/v1/oauth/clients".into(),
            "clients:write",
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, scope) in cases {
        let without = with_scopes(&app, &s.m, &all_scopes_but(scope)).await;
        for body in ["{", "[1]"] {
            let (status, response) =
                send(&app, &without, method.clone(), &path, Body::RawJson(body)).await;
            if (status, response["error"].as_str()) != (403, Some("insufficient_scope")) {
                wrong.push(format!("{method} {path} body {body}: {status} {response}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "body checked before scope:\n{}",
        wrong.join("\n")
    );
}

/// Holds the database so that a write of the server waits: SQLite's write lock
/// (`BEGIN IMMEDIATE` from another connection), or a PostgreSQL row lock on the
/// conversation.
enum Blocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Blocker {
    async fn hold(app: &TestApp, conversation: i64) -> Blocker {
        use sqlx::Connection;
        match app.db.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&app.db.url)
                    .await
                    .expect("connect");
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .expect("take the write lock");
                Blocker::Sqlite(conn)
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&app.db.url)
                    .await
                    .expect("connect");
                sqlx::query("BEGIN")
                    .execute(&mut conn)
                    .await
                    .expect("begin");
                sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
                    .bind(conversation)
                    .fetch_one(&mut conn)
                    .await
                    .expect("lock the conversation");
                Blocker::Postgres(conn)
            }
        }
    }

    async fn release(self) {
        match self {
            Blocker::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut conn)
                    .await
                    .expect("rollback");
            }
            Blocker::Postgres(mut conn) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut conn)
                    .await
                    .expect("rollback");
            }
        }
    }
}

async fn a_request_past_the_timeout_is_503_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.request_timeout = Duration::from_secs(2)).await;
    let s = setup(&app, "Clinic").await;
    let messages = format!(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = {}",
        s.conversation
    );
    assert_eq!(count(&app, &messages).await, 0);
    let blocker = Blocker::hold(&app, s.conversation).await;
    let response = request(
        &app,
        &s.m,
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
        Body::Json(json!({"message": "stuck"})),
    )
    // Far beyond the server's timeout: if that does not fire, this fails the test.
    .timeout(Duration::from_secs(60))
    .send()
    .await
    .expect("an answer from the server, not a client timeout");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(response.headers().get("x-request-id").is_some());
    let (status, body) = read(response).await;
    blocker.release().await;
    assert_eq!(status, 503, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        body,
        json!({"message": "The request took too long and was cancelled.", "error": "timeout"})
    );
    // The server writes again, and the cancelled send left nothing behind.
    let after = send_text(&app, &s.m, s.conversation, "after").await;
    assert_eq!(count(&app, &messages).await, 1, "only the later message");
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["last_message_id"], after.to_string());
    assert_eq!(c["last_message"], "after");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM message_outbox WHERE tenant_id = {}",
                s.m.tenant
            )
        )
        .await,
        1
    );
}

async fn media_send_to_another_tenants_conversation_is_404_and_stores_no_file(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    let intruder = app.member("Intruder").await;
    let (status, body) = media(
        &app,
        &intruder,
        s.conversation,
        Body::Media(PNG.to_vec(), Some("not yours".into())),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(body["message"].is_string());
    assert_eq!(stored_files(&app), 0, "nothing written to the file store");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = {}",
                s.conversation
            )
        )
        .await,
        0
    );
    // The same upload by the owner is stored (so the count above can see a file).
    let (status, body) = media(
        &app,
        &s.m,
        s.conversation,
        Body::Media(PNG.to_vec(), Some("yours".into())),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(stored_files(&app), 1);
}

async fn references_to_another_tenants_rows_in_bodies_are_422(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    let other = setup(&app, "Other").await;
    let foreign_message = send_text(&app, &other.m, other.conversation, "foreign").await;
    // Blacklist create: a foreign customer, a foreign channel.
    let (status, body) = post(
        &app,
        &s.m,
        "/api/v1/channel-blacklists",
        json!({"channel_id": s.channel, "customer_id": other.customer, "reason": "manual"}),
    )
    .await;
    assert_invalid(
        status,
        &body,
        &[("customer_id", "The selected customer id is invalid.")],
        "foreign customer_id",
    );
    let (status, body) = post(
        &app,
        &s.m,
        "/api/v1/channel-blacklists",
        json!({"channel_id": other.channel, "customer_id": s.customer, "reason": "manual"}),
    )
    .await;
    assert_invalid(
        status,
        &body,
        &[("channel_id", "The selected channel id is invalid.")],
        "foreign channel_id",
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM channel_blacklists").await,
        0
    );
    // Customer create and update: a foreign default channel.
    let (status, body) = post(
        &app,
        &s.m,
        "/api/v1/customers",
        json!({"first_name": "Işıl", "default_channel_id": other.channel}),
    )
    .await;
    assert_invalid(
        status,
        &body,
        &[(
            "default_channel_id",
            "The selected default channel id is invalid.",
        )],
        "customer create",
    );
    let (status, body) = put(
        &app,
        &s.m,
        &format!("/api/v1/customers/{}", s.customer),
        json!({"first_name": "Changed", "default_channel_id": other.channel}),
    )
    .await;
    assert_invalid(
        status,
        &body,
        &[(
            "default_channel_id",
            "The selected default channel id is invalid.",
        )],
        "customer update",
    );
    let (_, customer) = get(&app, &s.m, &format!("/api/v1/customers/{}", s.customer)).await;
    assert_eq!(
        customer["data"]["first_name"], "Ayşe",
        "update refused whole"
    );
    assert_eq!(customer["data"]["default_channel_id"], s.channel);
    // Conversation create on a foreign channel.
    let (status, body) = app
        .create_conversation(
            &s.m,
            json!({"channel_id": other.channel, "address": "+905551112233"}),
        )
        .await;
    assert_invalid(
        status,
        &body,
        &[("channel_id", "The selected channel id is invalid.")],
        "conversation on a foreign channel",
    );
    // Quotes: another tenant's message, and a message of another conversation.
    let (_, sibling) = app
        .create_conversation(
            &s.m,
            json!({"channel_id": s.channel, "address": "+905329999999"}),
        )
        .await;
    let sibling = sibling["data"]["id"].as_i64().unwrap();
    let sibling_message = send_text(&app, &s.m, sibling, "elsewhere").await;
    for (quoted, what) in [
        (foreign_message, "another tenant's message"),
        (sibling_message, "another conversation's message"),
    ] {
        let (status, body) = post(
            &app,
            &s.m,
            &format!("/api/v1/conversations/{}/messages", s.conversation),
            json!({"message": "quoting", "quoted_message_id": quoted}),
        )
        .await;
        assert_invalid(
            status,
            &body,
            &[(
                "quoted_message_id",
                "The selected quoted message id is invalid.",
            )],
            what,
        );
        assert!(!body.to_string().contains("foreign"), "{body}");
    }
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = {}",
                s.conversation
            )
        )
        .await,
        0
    );
}

async fn inbound_ingest_validation(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    let long = |n: usize| "x".repeat(n);
    let address = "+905321234567";
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            json!({"address": address, "message": "hi", "message_type": "gif"}),
            vec![("message_type", "The selected message type is invalid.")],
        ),
        (
            json!({"address": address, "message": "hi", "message_type": 3}),
            vec![("message_type", "The message type field must be a string.")],
        ),
        (
            json!({"address": address, "message": "hi", "sent_at": "yesterday"}),
            vec![("sent_at", "The sent at field must be a valid date.")],
        ),
        (
            json!({"address": address, "message": "hi", "sent_at": "2026-02-30T10:00:00Z"}),
            vec![("sent_at", "The sent at field must be a valid date.")],
        ),
        (
            json!({"address": address, "message": "hi", "external_id": long(256)}),
            vec![(
                "external_id",
                "The external id field must not be greater than 255 characters.",
            )],
        ),
        (
            json!({"address": address, "message": "hi", "first_name": long(256)}),
            vec![(
                "first_name",
                "The first name field must not be greater than 255 characters.",
            )],
        ),
        (
            json!({"address": address, "message": "hi", "last_name": long(256)}),
            vec![(
                "last_name",
                "The last name field must not be greater than 255 characters.",
            )],
        ),
        (
            json!({"address": address, "message": long(5001)}),
            vec![(
                "message",
                "The message field must not be greater than 5000 characters.",
            )],
        ),
        (
            json!({"message": "hi"}),
            vec![("address", "The address field is required.")],
        ),
        (
            json!({"address": address}),
            vec![("message", "The message field is required.")],
        ),
        (
            json!({"address": address, "message": "   "}),
            vec![("message", "The message field is required.")],
        ),
        (
            json!({}),
            vec![
                ("address", "The address field is required."),
                ("message", "The message field is required."),
            ],
        ),
        (
            json!({"address": long(256), "message": "hi", "external_id": long(256), "sent_at": "soon"}),
            vec![
                (
                    "address",
                    "The address field must not be greater than 255 characters.",
                ),
                (
                    "external_id",
                    "The external id field must not be greater than 255 characters.",
                ),
                ("sent_at", "The sent at field must be a valid date."),
            ],
        ),
    ];
    for (body, expected) in cases {
        let (status, response) = inbound(&app, s.channel, &s.secret, body.clone()).await;
        let what = body.to_string();
        assert_invalid(status, &response, &expected, &what[..what.len().min(120)]);
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM messages").await,
        0,
        "nothing stored"
    );
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["unread_count"], "0");
    // The limits themselves are accepted, and a non-text type needs no text.
    let (status, body) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": address, "message": long(5000), "external_id": long(255), "first_name": long(255), "sent_at": "2026-03-01T08:00:00Z"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": address, "message_type": "location"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["unread_count"], "2");
    assert_eq!(c["last_message_type"], "location");
}

async fn blacklist_update_and_list_filter_validation(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    let (status, body) = post(
        &app,
        &s.m,
        "/api/v1/channel-blacklists",
        json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual", "note": "original", "ttl_seconds": 3600}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_i64().unwrap();
    let original = body["data"].clone();
    let path = format!("/api/v1/channel-blacklists/{id}");
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            json!({"reason": "spam"}),
            vec![("reason", "The selected reason is invalid.")],
        ),
        (
            json!({"reason": 1}),
            vec![("reason", "The selected reason is invalid.")],
        ),
        (
            json!({"note": "n".repeat(1001)}),
            vec![(
                "note",
                "The note field must not be greater than 1000 characters.",
            )],
        ),
        (
            json!({"note": 5}),
            vec![("note", "The note field must be a string.")],
        ),
        (
            json!({"expires_at": "tomorrow"}),
            vec![("expires_at", "The expires at field must be a valid date.")],
        ),
        (
            json!({"expires_at": 1767225600}),
            vec![("expires_at", "The expires at field must be a valid date.")],
        ),
        (
            json!({"is_active": "maybe"}),
            vec![("is_active", "The is active field must be true or false.")],
        ),
        (
            json!({"is_active": 2}),
            vec![("is_active", "The is active field must be true or false.")],
        ),
        (
            json!({"metadata": "text"}),
            vec![("metadata", "The metadata field must be an array.")],
        ),
        (
            json!({"metadata": 7}),
            vec![("metadata", "The metadata field must be an array.")],
        ),
        (
            json!({"reason": "spam", "note": 5, "expires_at": "x", "is_active": "x", "metadata": true}),
            vec![
                ("reason", "The selected reason is invalid."),
                ("note", "The note field must be a string."),
                ("expires_at", "The expires at field must be a valid date."),
                ("is_active", "The is active field must be true or false."),
                ("metadata", "The metadata field must be an array."),
            ],
        ),
        // One bad field refuses the whole update.
        (
            json!({"note": "changed", "is_active": false, "reason": "nope"}),
            vec![("reason", "The selected reason is invalid.")],
        ),
    ];
    for (body, expected) in cases {
        let (status, response) = put(&app, &s.m, &path, body.clone()).await;
        assert_invalid(status, &response, &expected, &body.to_string());
    }
    let (status, now) = get(&app, &s.m, &path).await;
    assert_eq!(status, 200);
    for key in ["reason", "note", "expires_at", "is_active", "metadata"] {
        assert_eq!(now["data"][key], original[key], "{key} unchanged");
    }

    for (query, expected) in [
        (
            "channel_id=x",
            vec![("channel_id", "The channel id field must be an integer.")],
        ),
        (
            "channel_id=1.5",
            vec![("channel_id", "The channel id field must be an integer.")],
        ),
        (
            "channel_id=0",
            vec![("channel_id", "The channel id field must be at least 1.")],
        ),
        (
            "customer_id=abc",
            vec![("customer_id", "The customer id field must be an integer.")],
        ),
        (
            "customer_id=-3",
            vec![("customer_id", "The customer id field must be at least 1.")],
        ),
        (
            "active=maybe",
            vec![("active", "The active field must be true or false.")],
        ),
        (
            "active=2",
            vec![("active", "The active field must be true or false.")],
        ),
        (
            "per_page=0",
            vec![("per_page", "The per page field must be at least 1.")],
        ),
        (
            "channel_id=x&customer_id=y&active=z",
            vec![
                ("channel_id", "The channel id field must be an integer."),
                ("customer_id", "The customer id field must be an integer."),
                ("active", "The active field must be true or false."),
            ],
        ),
    ] {
        let (status, body) = get(&app, &s.m, &format!("/api/v1/channel-blacklists?{query}")).await;
        assert_invalid(status, &body, &expected, query);
    }
    // Well-typed filters work.
    for (query, total) in [
        (format!("channel_id={}", s.channel), 1),
        (format!("customer_id={}", s.customer), 1),
        ("active=1".to_string(), 1),
        ("active=true".to_string(), 1),
        ("active=0".to_string(), 0),
        (format!("channel_id={}", s.channel + 1000), 0),
    ] {
        let (status, body) = get(&app, &s.m, &format!("/api/v1/channel-blacklists?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["meta"]["total"], total, "{query}");
    }
}

async fn message_list_edit_and_caption_validation(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    let list = format!("/api/v1/conversations/{}/messages", s.conversation);
    for (query, expected) in [
        (
            "per_page=0",
            vec![("per_page", "The per page field must be at least 1.")],
        ),
        (
            "per_page=101",
            vec![(
                "per_page",
                "The per page field must not be greater than 100.",
            )],
        ),
        (
            "per_page=x",
            vec![("per_page", "The per page field must be an integer.")],
        ),
        (
            "page=0",
            vec![("page", "The page field must be at least 1.")],
        ),
        (
            "page=x&per_page=0",
            vec![
                ("per_page", "The per page field must be at least 1."),
                ("page", "The page field must be an integer."),
            ],
        ),
    ] {
        let (status, body) = get(&app, &s.m, &format!("{list}?{query}")).await;
        assert_invalid(status, &body, &expected, query);
    }
    for query in ["per_page=1", "per_page=100", "page=1"] {
        assert_eq!(get(&app, &s.m, &format!("{list}?{query}")).await.0, 200);
    }

    // Edit.
    let agent_message = send_text(&app, &s.m, s.conversation, "original").await;
    let edit = format!("{list}/{agent_message}");
    for (body, expected) in [
        (json!({}), "The message field is required."),
        (json!({"message": null}), "The message field is required."),
        (json!({"message": "  "}), "The message field is required."),
        (
            json!({"message": "x".repeat(5001)}),
            "The message field must not be greater than 5000 characters.",
        ),
        (
            json!({"message": 12}),
            "The message field must be a string.",
        ),
    ] {
        let (status, response) = put(&app, &s.m, &edit, body.clone()).await;
        assert_invalid(
            status,
            &response,
            &[("message", expected)],
            &body.to_string(),
        );
    }
    let (status, body) = put(&app, &s.m, &edit, json!({"message": "y".repeat(5000)})).await;
    assert_eq!(status, 200, "the limit itself is fine: {body}");
    let (_, ingested) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": "+905321234567", "message": "customer text"}),
    )
    .await;
    let customer_message = ingested["message_id"].as_i64().unwrap();
    let (status, body) = put(
        &app,
        &s.m,
        &format!("{list}/{customer_message}"),
        json!({"message": "rewritten"}),
    )
    .await;
    assert_invalid(
        status,
        &body,
        &[("message", "Only agent messages can be edited.")],
        "customer message",
    );
    let (status, _) = send(&app, &s.m, reqwest::Method::DELETE, &edit, Body::None).await;
    assert_eq!(status, 200);
    let (status, body) = put(&app, &s.m, &edit, json!({"message": "revived"})).await;
    assert_invalid(
        status,
        &body,
        &[("message", "A deleted message cannot be edited.")],
        "deleted message",
    );
    let (_, page) = get(&app, &s.m, &list).await;
    let texts: Vec<&Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["message"])
        .collect();
    assert!(
        !texts.contains(&&json!("rewritten")) && !texts.contains(&&json!("revived")),
        "{texts:?}"
    );
    let deleted = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == agent_message)
        .unwrap();
    assert_eq!(deleted["is_deleted"], true);
    assert_eq!(deleted["message"], Value::Null);

    // Media caption.
    let (status, body) = media(
        &app,
        &s.m,
        s.conversation,
        Body::Media(PNG.to_vec(), Some("c".repeat(5001))),
    )
    .await;
    assert_invalid(
        status,
        &body,
        &[(
            "message",
            "The message field must not be greater than 5000 characters.",
        )],
        "caption",
    );
    assert_eq!(stored_files(&app), 0, "a refused upload stores no file");
    let (status, body) = media(
        &app,
        &s.m,
        s.conversation,
        Body::Media(PNG.to_vec(), Some("c".repeat(5000))),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn uploads_over_the_limit_are_413_json_and_store_no_file(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_upload_bytes = 1024).await;
    let s = setup(&app, "Clinic").await;
    let png_of = |len: usize| {
        let mut bytes = PNG.to_vec();
        bytes.resize(len, 0);
        bytes
    };
    // Just over the limit (inside the transport's slack), and far over it.
    for len in [1025, 256 * 1024] {
        let response = request(
            &app,
            &s.m,
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{}/messages/media", s.conversation),
            Body::Media(png_of(len), Some("big".into())),
        )
        .send()
        .await
        .expect("request");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (status, body) = read(response).await;
        assert_eq!(status, 413, "{len} bytes: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(
            body,
            json!({"message": "The file is larger than the limit of 1024 bytes.", "error": "payload_too_large"}),
            "{len} bytes"
        );
    }
    assert_eq!(stored_files(&app), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 0);
    // At the limit it is accepted.
    let (status, body) = media(&app, &s.m, s.conversation, Body::Media(png_of(1024), None)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(stored_files(&app), 1);
}

async fn channel_and_customer_validation(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    let long = "a".repeat(256);
    for (body, expected) in [
        (
            json!({"type": "sms", "name": "SMS", "address": "+905320000001"}),
            vec![("type", "The selected type is invalid.")],
        ),
        (
            json!({"type": 1, "name": "SMS", "address": "+905320000001"}),
            vec![("type", "The selected type is invalid.")],
        ),
        (
            json!({"type": "telegram", "name": "Bot", "address": long.clone()}),
            vec![(
                "address",
                "The address field must not be greater than 255 characters.",
            )],
        ),
        (
            json!({"type": "telegram", "name": long.clone(), "address": "@bot"}),
            vec![(
                "name",
                "The name field must not be greater than 255 characters.",
            )],
        ),
        (
            json!({}),
            vec![
                ("type", "The type field is required."),
                ("name", "The name field is required."),
                ("address", "The address field is required."),
            ],
        ),
    ] {
        let (status, response) = post(&app, &s.m, "/api/v1/channels", body.clone()).await;
        let what = body.to_string();
        assert_invalid(status, &response, &expected, &what[..what.len().min(120)]);
    }
    let (_, page) = get(&app, &s.m, "/api/v1/channels").await;
    assert_eq!(page["meta"]["total"], 1, "no channel made");
    let channel = format!("/api/v1/channels/{}", s.channel);
    let (status, body) = put(&app, &s.m, &channel, json!({"address": long.clone()})).await;
    assert_invalid(
        status,
        &body,
        &[(
            "address",
            "The address field must not be greater than 255 characters.",
        )],
        "channel update address",
    );
    let (status, body) = put(&app, &s.m, &channel, json!({"type": "sms"})).await;
    assert_invalid(
        status,
        &body,
        &[("type", "The selected type is invalid.")],
        "channel update type",
    );

    for (query, expected) in [
        (
            "sort_order=up",
            vec![("sort_order", "The selected sort order is invalid.")],
        ),
        (
            "sort_order=ASC",
            vec![("sort_order", "The selected sort order is invalid.")],
        ),
        (
            "sort_by=password",
            vec![("sort_by", "The selected sort by is invalid.")],
        ),
        (
            "per_page=0",
            vec![("per_page", "The per page field must be at least 1.")],
        ),
        (
            "per_page=101",
            vec![(
                "per_page",
                "The per page field must not be greater than 100.",
            )],
        ),
        (
            "per_page=x",
            vec![("per_page", "The per page field must be an integer.")],
        ),
        (
            "page=0",
            vec![("page", "The page field must be at least 1.")],
        ),
        (
            "sort_by=email&sort_order=down&per_page=-1",
            vec![
                ("per_page", "The per page field must be at least 1."),
                ("sort_by", "The selected sort by is invalid."),
                ("sort_order", "The selected sort order is invalid."),
            ],
        ),
    ] {
        let (status, body) = get(&app, &s.m, &format!("/api/v1/customers?{query}")).await;
        assert_invalid(status, &body, &expected, query);
    }
    for query in [
        "sort_by=last_name&sort_order=desc",
        "sort_by=created_at&sort_order=asc",
        "per_page=100",
    ] {
        let (status, body) = get(&app, &s.m, &format!("/api/v1/customers?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
}

async fn concurrent_duplicate_inbound_deliveries_store_one_message(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    // An existing conversation, and an address nobody has written from yet.
    for (address, external_id) in [
        ("+905321234567", "wamid.burst"),
        ("+447700900123", "wamid.newcomer"),
    ] {
        let body = json!({"address": address, "message": "Merhaba", "external_id": external_id});
        let answers = futures::future::join_all(
            (0..20).map(|_| inbound(&app, s.channel, &s.secret, body.clone())),
        )
        .await;
        let stored: Vec<&Value> = answers
            .iter()
            .filter(|(status, _)| *status == 201)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(stored.len(), 1, "{external_id}: one 201 in {answers:?}");
        assert_eq!(stored[0]["status"], "stored");
        let message_id = stored[0]["message_id"].as_i64().unwrap();
        let conversation_id = stored[0]["conversation_id"].as_i64().unwrap();
        for (status, b) in &answers {
            if *status != 201 {
                assert_eq!(*status, 200, "{external_id}: {b}");
                assert_eq!(b["status"], "duplicate", "{external_id}: {b}");
            }
            assert_eq!(b["message_id"], message_id, "{external_id}: {b}");
            assert_eq!(b["conversation_id"], conversation_id, "{external_id}: {b}");
        }
        assert_eq!(
            count(
                &app,
                &format!("SELECT COUNT(*) FROM messages WHERE external_id = '{external_id}'")
            )
            .await,
            1,
            "{external_id}"
        );
        let c = conversation(&app, &s.m, conversation_id).await;
        assert_eq!(c["unread_count"], "1", "{external_id}");
        assert_eq!(c["last_message_id"], message_id.to_string());
    }
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM conversations WHERE tenant_id = {}",
                s.m.tenant
            )
        )
        .await,
        2,
        "the newcomer got one conversation"
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM customers WHERE tenant_id = {}",
                s.m.tenant
            )
        )
        .await,
        2,
        "and one customer"
    );
}

async fn media_send_moves_the_conversations_last_message(app: TestApp) {
    let s = setup(&app, "Clinic").await;
    send_text(&app, &s.m, s.conversation, "before").await;
    app.advance(5);
    let (status, body) = media(
        &app,
        &s.m,
        s.conversation,
        Body::Media(PNG.to_vec(), Some("Röntgen sonucu".into())),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["message_id"].as_str().unwrap().to_string();
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["last_message_id"], id);
    assert_eq!(c["last_message_type"], "image");
    assert_eq!(c["last_message"], "Röntgen sonucu");
    assert_eq!(c["last_message_is_customer"], false);
    assert_eq!(c["last_message_at"], "2026-03-01T09:00:05Z");
    let listed = &app.list(&s.m, "").await["data"][0];
    assert_eq!(listed["id"], s.conversation);
    assert_eq!(listed["last_message_type"], "image");
    assert_eq!(listed["last_message"], "Röntgen sonucu");
    // A document without a caption: the type follows, the previous caption does not linger.
    app.advance(5);
    let (status, body) = media(
        &app,
        &s.m,
        s.conversation,
        Body::Media(
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec(),
            None,
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["message_id"].as_str().unwrap().to_string();
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["last_message_id"], id);
    assert_eq!(c["last_message_type"], "document");
    assert_ne!(c["last_message"], "Röntgen sonucu");
}
