//! Hardening: concurrency invariants and hostile input, on both backends.

mod common;

use common::{Member, TestApp};
use serde_json::{json, Value};

backend_tests!(
    fifty_concurrent_creates_yield_one_conversation,
    fifty_concurrent_messages_keep_conversation_state_exact,
    concurrent_blacklist_creates_yield_one_active_entry,
    hostile_input_gets_json_4xx_on_every_endpoint,
    control_characters_and_broken_framing_get_json_4xx,
);

async fn channel_and_secret(app: &TestApp, m: &Member) -> (i64, String) {
    let body: Value = app
        .post(
            m,
            "/api/v1/channels",
            &json!({"type": "whatsapp", "name": "WA", "address": "+905320000000"}),
        )
        .send()
        .await
        .expect("create channel")
        .json()
        .await
        .expect("json");
    (
        body["data"]["id"].as_i64().expect("channel id"),
        body["data"]["inbound_secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    )
}

async fn fifty_concurrent_creates_yield_one_conversation(app: TestApp) {
    let m = app.member("T").await;
    let (channel, _) = channel_and_secret(&app, &m).await;
    let results = futures::future::join_all((0..50).map(|i| {
        let app = &app;
        let m = &m;
        async move {
            // Different spellings of one number: one normalised key.
            let address = if i % 2 == 0 {
                "+90 532 555 00 11"
            } else {
                "00905325550011"
            };
            app.create_conversation(m, json!({"channel_id": channel, "address": address}))
                .await
        }
    }))
    .await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(
        results.iter().all(|(s, _)| *s == 201 || *s == 200),
        "{results:?}"
    );
    let ids: std::collections::BTreeSet<i64> = results
        .iter()
        .map(|(_, b)| b["data"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM conversations WHERE tenant_id = {}",
                m.tenant
            ))
            .await,
        1
    );
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM customers WHERE tenant_id = {}",
                m.tenant
            ))
            .await,
        1
    );
    assert_eq!(app.list(&m, "").await["meta"]["total"], 1);
}

async fn fifty_concurrent_messages_keep_conversation_state_exact(app: TestApp) {
    let m = app.member("T").await;
    let (channel, secret) = channel_and_secret(&app, &m).await;
    let results = futures::future::join_all((0..50).map(|i| {
        let app = &app;
        let secret = &secret;
        async move {
            app.client
                .post(app.url(&format!("/api/v1/channels/{channel}/inbound")))
                .header("X-Channel-Secret", secret)
                .json(&json!({"address": "+905325550011", "message": format!("message {i}"), "external_id": format!("ext-{i}")}))
                .send()
                .await
                .expect("inbound")
                .status()
                .as_u16()
        }
    }))
    .await;
    assert!(results.iter().all(|s| *s == 201), "{results:?}");
    let page = app.list(&m, "").await;
    assert_eq!(page["meta"]["total"], 1, "one conversation");
    let c = &page["data"][0];
    assert_eq!(c["unread_count"], "50");
    let conversation = c["id"].as_i64().unwrap();
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = {conversation}"
            ))
            .await,
        50
    );
    // last_message_* describe one stored message, consistently.
    let last_id: i64 = c["last_message_id"].as_str().unwrap().parse().unwrap();
    let messages: Value = app
        .get(
            &m,
            &format!("/api/v1/conversations/{conversation}/messages?per_page=100"),
        )
        .send()
        .await
        .expect("messages")
        .json()
        .await
        .expect("json");
    let last = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|msg| msg["id"] == last_id)
        .expect("last message is stored");
    assert_eq!(last["message"], c["last_message"]);
    assert_eq!(c["last_message_is_customer"], true);
    // ...and it is the newest one, the message of the last commit: not one whose
    // update of the conversation happened to come last.
    let newest = format!("SELECT MAX(id) FROM messages WHERE conversation_id = {conversation}");
    assert_eq!(last_id, app.db.scalar(&newest).await);
    assert_eq!(
        messages["data"][0]["id"], last_id,
        "the top of the message list"
    );
    // Concurrent agent replies too: every one stored, the conversation names one of them.
    let replies = futures::future::join_all((0..50).map(|i| {
        let app = &app;
        let m = &m;
        async move {
            app.post(
                m,
                &format!("/api/v1/conversations/{conversation}/messages"),
                &json!({"message": format!("reply {i}")}),
            )
            .send()
            .await
            .expect("reply")
            .status()
            .as_u16()
        }
    }))
    .await;
    assert!(replies.iter().all(|s| *s == 201), "{replies:?}");
    let c = &app.list(&m, "").await["data"][0];
    assert_eq!(c["unread_count"], "50", "agent replies are not unread");
    assert_eq!(c["last_message_is_customer"], false);
    assert!(c["last_message"].as_str().unwrap().starts_with("reply "));
    let last_id: i64 = c["last_message_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(last_id, app.db.scalar(&newest).await, "the newest reply");
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM message_outbox WHERE tenant_id = {}",
                m.tenant
            ))
            .await,
        50
    );
}

async fn concurrent_blacklist_creates_yield_one_active_entry(app: TestApp) {
    let m = app.member("T").await;
    let (channel, _) = channel_and_secret(&app, &m).await;
    let (_, c) = app
        .create_conversation(
            &m,
            json!({"channel_id": channel, "address": "+905325550011"}),
        )
        .await;
    let customer = c["data"]["customer"]["id"].as_i64().unwrap();
    let results = futures::future::join_all((0..20).map(|_| {
        let app = &app;
        let m = &m;
        async move {
            let response = app
                .post(
                    m,
                    "/api/v1/channel-blacklists",
                    &json!({"channel_id": channel, "customer_id": customer, "reason": "llm_spam"}),
                )
                .send()
                .await
                .expect("blacklist");
            response.status().as_u16()
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|s| *s == 201 || *s == 422),
        "{results:?}"
    );
    assert_eq!(
        app.db
            .scalar(&format!("SELECT COUNT(*) FROM channel_blacklists WHERE tenant_id = {} AND is_active AND deleted_at IS NULL", m.tenant))
            .await,
        1
    );
}

/// How an endpoint takes its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Json,
    Multipart,
    /// The OAuth endpoints: form-encoded or JSON parameters.
    OAuthParams,
}

/// How an endpoint authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// A bearer token and `X-Tenant`.
    Tenant,
    /// A bearer token, no tenant.
    Account,
    /// The channel's inbound secret.
    ChannelSecret,
    /// An OAuth client (HTTP Basic); errors are RFC 6749-shaped.
    Client,
    /// A signed URL.
    Signature,
    /// Nothing.
    Public,
}

struct Endpoint {
    method: reqwest::Method,
    /// The path as the OpenAPI document names it.
    template: &'static str,
    path: String,
    body: Body,
    auth: Auth,
}

/// The rows the endpoints' paths point at, and the credentials to reach them.
struct Fixture {
    m: Member,
    other: Member,
    conversation: i64,
    message: i64,
    channel: i64,
    secret: String,
    customer: i64,
    blacklist: i64,
    member: i64,
    client_id: String,
    client_secret: String,
}

impl Fixture {
    async fn new(app: &TestApp) -> Fixture {
        let m = app.member("T").await;
        let other = app.member("Other").await;
        let (channel, secret) = channel_and_secret(app, &m).await;
        let (_, c) = app
            .create_conversation(
                &m,
                json!({"channel_id": channel, "address": "+905325550011"}),
            )
            .await;
        let conversation = c["data"]["id"].as_i64().expect("conversation id");
        let customer = c["data"]["customer"]["id"].as_i64().expect("customer id");
        let sent = ok_json(app.post(
            &m,
            &format!("/api/v1/conversations/{conversation}/messages"),
            &json!({"message": "hi"}),
        ))
        .await;
        let message: i64 = sent["data"]["message_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("message id");
        let b = ok_json(app.post(
            &m,
            "/api/v1/channel-blacklists",
            &json!({"channel_id": channel, "customer_id": customer, "reason": "manual"}),
        ))
        .await;
        let blacklist = b["data"]["id"].as_i64().expect("blacklist id");
        let member = app
            .join(m.tenant, "second@hardening.test", &["read"])
            .await
            .user;
        let client = ok_json(app.post(
            &m,
            "/api/v1/oauth/clients",
            &json!({"name": "Hostile", "redirect_uris": ["https://app.example.com/cb"]}),
        ))
        .await;
        Fixture {
            m,
            other,
            conversation,
            message,
            channel,
            secret,
            customer,
            blacklist,
            member,
            client_id: client["data"]["client_id"]
                .as_str()
                .expect("client id")
                .to_string(),
            client_secret: client["data"]["client_secret"]
                .as_str()
                .expect("client secret")
                .to_string(),
        }
    }

    /// Every operation of the API, as the OpenAPI document lists them.
    fn endpoints(&self) -> Vec<Endpoint> {
        use reqwest::Method as M;
        use Auth::*;
        use Body::{Json, Multipart, None as NoBody, OAuthParams};
        let table: [(M, &'static str, Body, Auth); 40] = [
            (M::GET, "/api/v1/conversations", NoBody, Tenant),
            (M::POST, "/api/v1/conversations", Json, Tenant),
            (M::GET, "/api/v1/conversations/{id}", NoBody, Tenant),
            (M::POST, "/api/v1/conversations/{id}/read", NoBody, Tenant),
            (
                M::GET,
                "/api/v1/conversations/{id}/messages",
                NoBody,
                Tenant,
            ),
            (M::POST, "/api/v1/conversations/{id}/messages", Json, Tenant),
            (
                M::POST,
                "/api/v1/conversations/{id}/messages/media",
                Multipart,
                Tenant,
            ),
            (
                M::PUT,
                "/api/v1/conversations/{id}/messages/{messageId}",
                Json,
                Tenant,
            ),
            (
                M::DELETE,
                "/api/v1/conversations/{id}/messages/{messageId}",
                NoBody,
                Tenant,
            ),
            (M::GET, "/api/v1/conversations/{id}/agent", NoBody, Tenant),
            (
                M::POST,
                "/api/v1/conversations/{id}/agent/disable",
                Json,
                Tenant,
            ),
            (
                M::POST,
                "/api/v1/conversations/{id}/agent/enable",
                NoBody,
                Tenant,
            ),
            (M::GET, "/api/v1/channel-blacklists", NoBody, Tenant),
            (M::POST, "/api/v1/channel-blacklists", Json, Tenant),
            (M::GET, "/api/v1/channel-blacklists/{id}", NoBody, Tenant),
            (M::PUT, "/api/v1/channel-blacklists/{id}", Json, Tenant),
            (M::DELETE, "/api/v1/channel-blacklists/{id}", NoBody, Tenant),
            (M::GET, "/api/v1/channels", NoBody, Tenant),
            (M::POST, "/api/v1/channels", Json, Tenant),
            (M::GET, "/api/v1/channels/{id}", NoBody, Tenant),
            (M::PUT, "/api/v1/channels/{id}", Json, Tenant),
            (M::DELETE, "/api/v1/channels/{id}", NoBody, Tenant),
            (M::POST, "/api/v1/channels/{id}/secret", NoBody, Tenant),
            (
                M::POST,
                "/api/v1/channels/{id}/inbound",
                Json,
                ChannelSecret,
            ),
            (M::GET, "/api/v1/customers", NoBody, Tenant),
            (M::POST, "/api/v1/customers", Json, Tenant),
            (M::GET, "/api/v1/customers/{id}", NoBody, Tenant),
            (M::PUT, "/api/v1/customers/{id}", Json, Tenant),
            (M::GET, "/api/v1/files/{key}", NoBody, Signature),
            (M::GET, "/api/v1/account/tenants", NoBody, Account),
            (M::GET, "/api/v1/oauth/clients", NoBody, Tenant),
            (M::POST, "/api/v1/oauth/clients", Json, Tenant),
            (
                M::DELETE,
                "/api/v1/oauth/clients/{client_id}",
                NoBody,
                Tenant,
            ),
            (M::GET, "/api/v1/members", NoBody, Tenant),
            (M::PUT, "/api/v1/members/{user_id}", Json, Tenant),
            (M::DELETE, "/api/v1/members/{user_id}", NoBody, Tenant),
            (M::POST, "/oauth/token", OAuthParams, Client),
            (M::POST, "/oauth/revoke", OAuthParams, Client),
            (M::POST, "/oauth/introspect", OAuthParams, Client),
            (
                M::GET,
                "/.well-known/oauth-authorization-server",
                NoBody,
                Public,
            ),
        ];
        table
            .into_iter()
            .map(|(method, template, body, auth)| {
                // The channel's own id for its routes, else the id of the kind named.
                let id = if template.starts_with("/api/v1/conversations") {
                    self.conversation
                } else if template.starts_with("/api/v1/channel-blacklists") {
                    self.blacklist
                } else if template.starts_with("/api/v1/customers") {
                    self.customer
                } else {
                    self.channel
                };
                let path = template
                    .replace("{id}", &id.to_string())
                    .replace("{messageId}", &self.message.to_string())
                    .replace("{user_id}", &self.member.to_string())
                    .replace("{client_id}", &self.client_id)
                    .replace("{key}", &format!("{}/missing.png", self.m.tenant));
                Endpoint {
                    method,
                    template,
                    path,
                    body,
                    auth,
                }
            })
            .collect()
    }

    /// A request to `e` with valid credentials for it.
    fn authorized(&self, app: &TestApp, e: &Endpoint) -> reqwest::RequestBuilder {
        let request = app.client.request(e.method.clone(), app.url(&e.path));
        match e.auth {
            Auth::Tenant => request
                .bearer_auth(&self.m.token)
                .header("X-Tenant", self.m.tenant.to_string()),
            Auth::Account => request.bearer_auth(&self.m.token),
            Auth::ChannelSecret => request.header("X-Channel-Secret", &self.secret),
            Auth::Client => request.basic_auth(&self.client_id, Some(&self.client_secret)),
            Auth::Signature | Auth::Public => request,
        }
    }
}

async fn ok_json(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

/// The two error shapes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"message", "error"}` (plus `errors` for validation).
    Api,
    /// RFC 6749: `{"error", "error_description", "message"}`.
    OAuth,
}

fn shape(e: &Endpoint) -> Shape {
    if e.auth == Auth::Client {
        Shape::OAuth
    } else {
        Shape::Api
    }
}

/// Reads an answer: never a 5xx, always JSON, and an error body of the contract's
/// shape on every 4xx. Returns the status and the machine error code (if any).
async fn expect_json_answer(
    response: reqwest::Response,
    shape: Shape,
    what: &str,
) -> (u16, String) {
    let status = response.status().as_u16();
    assert!(status < 500, "{what}: a 5xx ({status}) is always a bug");
    let text = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{what}: not JSON ({status}): {text}"));
    if status >= 400 {
        assert!(
            body["message"].is_string() && body["error"].is_string(),
            "{what}: error body {body}"
        );
        if shape == Shape::OAuth {
            assert!(
                body["error_description"].is_string(),
                "{what}: RFC 6749 error body {body}"
            );
        }
    }
    let code = body["error"].as_str().unwrap_or("").to_string();
    (status, code)
}

/// Sends `request` and asserts a 4xx with the contract's error body; returns the
/// status and error code.
async fn expect_4xx(request: reqwest::RequestBuilder, shape: Shape, what: &str) -> (u16, String) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let (status, code) = expect_json_answer(response, shape, what).await;
    assert!((400..500).contains(&status), "{what}: {status} {code}");
    (status, code)
}

fn hostile_json_bodies() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let huge = "1180591620717411303424";
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let ten_mb = format!("{{\"message\": \"{}\"}}", "a".repeat(10 * 1024 * 1024));
    vec![
        ("malformed JSON", b"{\"message\": ".to_vec(), "application/json"),
        ("JSON of the wrong type", b"[1, 2, 3]".to_vec(), "application/json"),
        ("a JSON string", b"\"text\"".to_vec(), "application/json"),
        ("huge numbers", format!("{{\"channel_id\": {huge}, \"customer_id\": {huge}, \"message\": {huge}, \"duration_minutes\": {huge}, \"ttl_seconds\": {huge}, \"quoted_message_id\": {huge}, \"default_channel_id\": {huge}, \"address\": {huge}, \"role\": {huge}, \"name\": {huge}, \"grant_type\": {huge}}}").into_bytes(), "application/json"),
        ("negative ids", b"{\"channel_id\": -1, \"customer_id\": -5, \"quoted_message_id\": -2, \"default_channel_id\": -3, \"duration_minutes\": -1, \"ttl_seconds\": -1}".to_vec(), "application/json"),
        // One field each endpoint reads, with a NUL in it: PostgreSQL cannot store
        // NUL in text, so it must be refused (422) before any store sees it.
        ("NUL bytes", b"{\"message\": \"a\\u0000b\", \"address\": \"\\u0000\", \"name\": \"x\\u0000\", \"first_name\": \"\\u0000\", \"note\": \"\\u0000\", \"type\": \"web\\u0000site\", \"reason\": \"manual\\u0000\", \"role\": \"agent\\u0000\", \"duration_minutes\": \"1\\u0000\", \"redirect_uris\": [\"https://a\\u0000\"], \"grant_type\": \"\\u0000\", \"token\": \"\\u0000\"}".to_vec(), "application/json"),
        ("invalid UTF-8", vec![b'{', b'"', b'm', b'"', b':', b'"', 0xff, 0xfe, b'"', b'}'], "application/json"),
        ("deeply nested JSON", nested.into_bytes(), "application/json"),
        ("wrong content type", b"message=hi".to_vec(), "text/plain"),
        ("10 MB body", ten_mb.into_bytes(), "application/json"),
    ]
}

/// A multipart body of `parts` (name, file name, bytes) with `boundary`.
fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
];

fn hostile_multipart_bodies() -> Vec<(&'static str, Vec<u8>, String)> {
    let form = "multipart/form-data; boundary=XyZ".to_string();
    let ten_mb = vec![0u8; 10 * 1024 * 1024];
    vec![
        ("a JSON body", b"{\"message\": \"hi\"}".to_vec(), "application/json".into()),
        ("no boundary", multipart("XyZ", &[("file", Some("a.png"), PNG)]), "multipart/form-data".into()),
        ("not multipart at all", b"garbage, no boundary anywhere".to_vec(), form.clone()),
        ("no closing boundary", b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG".to_vec(), form.clone()),
        ("no file", multipart("XyZ", &[("message", None, b"caption only")]), form.clone()),
        ("a NUL in the caption", multipart("XyZ", &[("file", Some("a.png"), PNG), ("message", None, b"a\0b")]), form.clone()),
        ("an invalid UTF-8 caption", multipart("XyZ", &[("file", Some("a.png"), PNG), ("message", None, b"\xff\xfe")]), form.clone()),
        ("a caption of 5001 characters", multipart("XyZ", &[("file", Some("a.png"), PNG), ("message", None, "a".repeat(5001).as_bytes())]), form.clone()),
        ("a file that is no known type", multipart("XyZ", &[("file", Some("a.png"), b"#!/bin/sh\necho hi\n")]), form.clone()),
        ("10 MB of zeros", multipart("XyZ", &[("file", Some("zeros.png"), &ten_mb)]), form),
    ]
}

async fn hostile_input_gets_json_4xx_on_every_endpoint(app: TestApp) {
    let f = Fixture::new(&app).await;
    let endpoints = f.endpoints();

    // The table is every operation of the OpenAPI document, no more and no less.
    let spec: Value = ok_json(app.client.get(app.url("/api/openapi.json"))).await;
    let documented: std::collections::BTreeSet<String> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let tested: std::collections::BTreeSet<String> = endpoints
        .iter()
        .map(|e| format!("{} {}", e.method, e.template))
        .collect();
    assert_eq!(tested, documented, "the table must cover every endpoint");

    let json_bodies = hostile_json_bodies();
    let multipart_bodies = hostile_multipart_bodies();
    for e in &endpoints {
        let shape = shape(e);
        let label = format!("{} {}", e.method, e.path);
        match e.body {
            Body::Json | Body::OAuthParams => {
                for (what, body, content_type) in &json_bodies {
                    let sent = f
                        .authorized(&app, e)
                        .header("Content-Type", *content_type)
                        .body(body.clone())
                        .send()
                        .await;
                    let Ok(response) = sent else {
                        // A 10 MB upload may be cut off by the early 413; the server
                        // must still be serving (checked at the end).
                        assert_eq!(*what, "10 MB body", "{label}: {what}: request failed");
                        continue;
                    };
                    let (status, _) =
                        expect_json_answer(response, shape, &format!("{label}: {what}")).await;
                    // Ids and numbers out of range are 422 where the endpoint reads
                    // them; an endpoint that reads none of them may succeed.
                    if *what != "negative ids" && *what != "huge numbers" {
                        assert!((400..500).contains(&status), "{label}: {what} -> {status}");
                    }
                    if *what == "NUL bytes" && shape == Shape::Api {
                        assert_eq!(status, 422, "{label}: NUL bytes");
                    }
                }
                let fields = br#"{"message": "hi", "address": "+905325550099", "name": "n"}"#;
                expect_4xx(
                    f.authorized(&app, e).body(fields.to_vec()),
                    shape,
                    &format!("{label}: a body without Content-Type"),
                )
                .await;
                expect_4xx(
                    f.authorized(&app, e)
                        .header("Content-Type", "application/json")
                        .header("Content-Type", "application/json")
                        .body(b"{}".to_vec()),
                    shape,
                    &format!("{label}: Content-Type twice"),
                )
                .await;
            }
            Body::Multipart => {
                for (what, body, content_type) in &multipart_bodies {
                    expect_4xx(
                        f.authorized(&app, e)
                            .header("Content-Type", content_type.as_str())
                            .body(body.clone()),
                        shape,
                        &format!("{label}: {what}"),
                    )
                    .await;
                }
                expect_4xx(
                    f.authorized(&app, e)
                        .header("Content-Type", "multipart/form-data; boundary=XyZ")
                        .header("Content-Type", "multipart/form-data; boundary=Other")
                        .body(multipart("XyZ", &[("file", Some("a.png"), PNG)])),
                    shape,
                    &format!("{label}: Content-Type twice"),
                )
                .await;
            }
            Body::None => {}
        }
        if e.body == Body::OAuthParams {
            for (what, form) in [
                ("no grant or token", "client_id=x".to_string()),
                (
                    "a repeated parameter",
                    "token=a&token=b&grant_type=client_credentials&grant_type=refresh_token".into(),
                ),
                (
                    "a NUL in a parameter",
                    "grant_type=client_credentials&token=%00&scope=read%00".into(),
                ),
                (
                    "invalid UTF-8 in a parameter",
                    "grant_type=%FF%FE&token=%FF".into(),
                ),
            ] {
                let request = f
                    .authorized(&app, e)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form);
                let what = format!("{label}: {what}");
                // Revocation and introspection answer an unknown token (a NUL or
                // undecodable one is no token of ours) like any unknown token, 200
                // (RFC 7009 2.2, RFC 7662 2.2); the token endpoint refuses the grant.
                if e.template != "/oauth/token" && (what.contains("NUL") || what.contains("UTF-8"))
                {
                    let response = request.send().await.expect("request");
                    assert_eq!(response.status().as_u16(), 200, "{what}");
                    if e.template == "/oauth/introspect" {
                        let body: Value = response.json().await.expect("json");
                        assert_eq!(body, json!({"active": false}), "{what}");
                    }
                    continue;
                }
                let (status, _) = expect_4xx(request, shape, &what).await;
                assert_eq!(status, 400, "{what}");
            }
        }

        // Credentials: missing, duplicated, of the wrong kind.
        let anonymous = app.client.request(e.method.clone(), app.url(&e.path));
        match e.auth {
            Auth::Tenant | Auth::Account => {
                for (what, request) in [
                    ("without a token", anonymous),
                    (
                        "with Authorization twice",
                        f.authorized(&app, e)
                            .header("Authorization", format!("Bearer {}", f.m.token)),
                    ),
                    (
                        "with a Basic Authorization",
                        app.client
                            .request(e.method.clone(), app.url(&e.path))
                            .basic_auth(&f.m.token, Some("x"))
                            .header("X-Tenant", f.m.tenant.to_string()),
                    ),
                ] {
                    let (status, code) =
                        expect_4xx(request, shape, &format!("{label} {what}")).await;
                    assert_eq!(
                        (status, code.as_str()),
                        (401, "unauthenticated"),
                        "{label} {what}"
                    );
                }
            }
            Auth::ChannelSecret => {
                for (what, request) in [
                    ("without a secret", anonymous),
                    (
                        "with X-Channel-Secret twice",
                        f.authorized(&app, e).header("X-Channel-Secret", &f.secret),
                    ),
                    (
                        "with a user's token",
                        app.client
                            .request(e.method.clone(), app.url(&e.path))
                            .bearer_auth(&f.m.token),
                    ),
                ] {
                    let (status, _) = expect_4xx(
                        request.json(&json!({"address": "+905325550099", "message": "hi"})),
                        shape,
                        &format!("{label} {what}"),
                    )
                    .await;
                    assert_eq!(status, 401, "{label} {what}");
                }
            }
            Auth::Client => {
                let form = |r: reqwest::RequestBuilder| {
                    r.form(&[("grant_type", "client_credentials"), ("token", "sbo_x")])
                };
                for (what, request, expected) in [
                    ("without client authentication", form(anonymous), 400),
                    (
                        "with Authorization twice",
                        form(f.authorized(&app, e).header(
                            "Authorization",
                            format!(
                                "Basic {}",
                                base64_credentials(&f.client_id, &f.client_secret)
                            ),
                        )),
                        400,
                    ),
                    (
                        "with a wrong secret",
                        form(
                            app.client
                                .request(e.method.clone(), app.url(&e.path))
                                .basic_auth(&f.client_id, Some("wrong")),
                        ),
                        401,
                    ),
                    (
                        "with a bearer token",
                        form(
                            app.client
                                .request(e.method.clone(), app.url(&e.path))
                                .bearer_auth(&f.m.token),
                        ),
                        401,
                    ),
                ] {
                    let (status, _) = expect_4xx(request, shape, &format!("{label} {what}")).await;
                    assert_eq!(status, expected, "{label} {what}");
                }
            }
            Auth::Signature => {
                for query in [
                    "",
                    "?expires=1&signature=abc",
                    "?expires=-1&signature=%00",
                    "?conversation=1&message=1&expires=99999999999&signature=abc",
                ] {
                    let url = app.url(&format!("{}{query}", e.path));
                    let (status, _) =
                        expect_4xx(app.client.get(url), shape, &format!("{label}{query}")).await;
                    assert_eq!(status, 403, "{label}{query}");
                }
            }
            Auth::Public => {}
        }
        if e.auth == Auth::Tenant {
            let tenant_cases: [(&str, Option<Vec<&str>>, u16); 5] = [
                ("without X-Tenant", None, 400),
                ("with X-Tenant twice", Some(vec!["1", "1"]), 400),
                ("with a negative X-Tenant", Some(vec!["-1"]), 400),
                (
                    "with a huge X-Tenant",
                    Some(vec!["1180591620717411303424"]),
                    400,
                ),
                ("with another tenant's X-Tenant", None, 403),
            ];
            for (what, values, expected) in tenant_cases {
                let mut request = app
                    .client
                    .request(e.method.clone(), app.url(&e.path))
                    .bearer_auth(&f.m.token);
                match (&values, expected) {
                    (Some(values), _) => {
                        for v in values {
                            request = request.header("X-Tenant", *v);
                        }
                    }
                    (None, 403) => request = request.header("X-Tenant", f.other.tenant.to_string()),
                    (None, _) => {}
                }
                let (status, _) = expect_4xx(request, shape, &format!("{label} {what}")).await;
                assert_eq!(status, expected, "{label} {what}");
            }
        }

        // Query-string abuse: absurd paging, NUL, invalid UTF-8.
        let huge = "1180591620717411303424";
        let absurd = format!(
            "{}?per_page={huge}&page=-1&search=%00&channel_type=%FF&active=maybe&sort_by=1;DROP&expires=x",
            e.path
        );
        let response = f
            .authorized(
                &app,
                &Endpoint {
                    method: reqwest::Method::GET,
                    template: e.template,
                    path: absurd.clone(),
                    body: e.body,
                    auth: e.auth,
                },
            )
            .send()
            .await
            .expect("absurd query");
        // Another method than the endpoint's is the router's 405, API-shaped.
        let query_shape = if e.method == reqwest::Method::GET {
            shape
        } else {
            Shape::Api
        };
        expect_json_answer(response, query_shape, &format!("GET {absurd}")).await;
        for page in [
            "per_page=0",
            "per_page=101",
            "per_page=abc",
            "page=0",
            &format!("page={huge}"),
        ] {
            if e.method == reqwest::Method::GET
                && e.template.ends_with('s')
                && e.auth == Auth::Tenant
                && [
                    "/api/v1/conversations",
                    "/api/v1/channel-blacklists",
                    "/api/v1/channels",
                    "/api/v1/customers",
                    "/api/v1/conversations/{id}/messages",
                ]
                .contains(&e.template)
            {
                let url = format!("{}?{page}", e.path);
                let (status, _) = expect_4xx(
                    f.authorized(
                        &app,
                        &Endpoint {
                            method: reqwest::Method::GET,
                            template: e.template,
                            path: url.clone(),
                            body: e.body,
                            auth: e.auth,
                        },
                    ),
                    shape,
                    &url,
                )
                .await;
                assert_eq!(status, 422, "{url}");
            }
        }
    }

    // Negative and huge ids in paths are simply not found.
    let huge = "1180591620717411303424";
    for path in [
        "/api/v1/conversations/-1".to_string(),
        format!("/api/v1/conversations/{huge}"),
        "/api/v1/channels/0".to_string(),
        "/api/v1/customers/1e3".to_string(),
        format!("/api/v1/channel-blacklists/{huge}"),
        "/api/v1/channel-blacklists/-7".to_string(),
    ] {
        let (status, _) = expect_4xx(app.get(&f.m, &path), Shape::Api, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    // And the server keeps serving, its data intact.
    let page = app.list(&f.m, "").await;
    assert_eq!(page["meta"]["total"], 1);
    assert_eq!(page["data"][0]["id"], f.conversation);
    assert_eq!(page["data"][0]["unread_count"], "0");
    assert!(page["data"][0]["blacklist"].is_object(), "still blocked");
    let channel = ok_json(app.get(&f.m, &format!("/api/v1/channels/{}", f.channel))).await;
    assert_eq!(channel["data"]["name"], "WA", "the channel is unchanged");
    let members = ok_json(app.get(&f.m, "/api/v1/members")).await;
    assert_eq!(members["data"].as_array().map(Vec::len), Some(2));
    let clients = ok_json(app.get(&f.m, "/api/v1/oauth/clients")).await;
    assert_eq!(clients["data"].as_array().map(Vec::len), Some(1));
    let inbound = app
        .client
        .post(app.url(&format!("/api/v1/channels/{}/inbound", f.channel)))
        .header("X-Channel-Secret", &f.secret)
        .json(&json!({"address": "+905325550099", "message": "still here"}))
        .send()
        .await
        .expect("inbound");
    assert_eq!(inbound.status().as_u16(), 201, "the secret still works");
}

fn base64_credentials(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

/// Sends raw bytes (reqwest refuses to send control characters in a header) and
/// reads the whole answer: status and body.
async fn raw_request(base: &str, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes the connection")
    .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, head.to_string(), body.to_string())
}

async fn control_characters_and_broken_framing_get_json_4xx(app: TestApp) {
    let f = Fixture::new(&app).await;
    let token = f.m.token.clone();
    let tenant = f.m.tenant;
    let host = app.base.trim_start_matches("http://").to_string();
    for e in f.endpoints() {
        let method = e.method.as_str();
        let path = &e.path;
        let shape = shape(&e);
        let hostile: Vec<(&str, Vec<u8>)> = vec![
            ("a control character in X-Tenant", format!("X-Tenant: 1\x01\r\nAuthorization: Bearer {token}\r\n").into_bytes()),
            ("DEL in Authorization", format!("X-Tenant: {tenant}\r\nAuthorization: Bearer {token}\x7f\r\n").into_bytes()),
            ("NUL in Content-Type", format!("X-Tenant: {tenant}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\x00\r\nContent-Length: 2\r\n\r\n{{}}").into_bytes()),
            ("a bare CR in a header", format!("X-Tenant: {tenant}\rX-Other: 1\r\nAuthorization: Bearer {token}\r\n").into_bytes()),
            ("an escape sequence in X-Channel-Secret", format!("X-Channel-Secret: {}\x1b[31m\r\n", f.secret).into_bytes()),
            ("a header without a colon", format!("X-Tenant {tenant}\r\nAuthorization: Bearer {token}\r\n").into_bytes()),
            ("two different Content-Lengths", format!("X-Tenant: {tenant}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}").into_bytes()),
            ("a non-numeric Content-Length", format!("X-Tenant: {tenant}\r\nAuthorization: Bearer {token}\r\nContent-Length: 2x\r\n\r\n{{}}").into_bytes()),
            // Bytes above 0x7f are legal on the wire but are no token or tenant id.
            ("Latin-1 bytes in X-Tenant and Authorization", b"X-Tenant: 1\xff\r\nAuthorization: Bearer \xe9\xe9\r\nX-Channel-Secret: \xff\r\n".to_vec()),
        ];
        for (what, headers) in hostile {
            // Legal bytes to an endpoint that reads no header: nothing to refuse.
            if e.auth == Auth::Public && what.starts_with("Latin-1") {
                continue;
            }
            let mut request =
                format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n")
                    .into_bytes();
            request.extend_from_slice(&headers);
            if !headers.ends_with(b"\r\n\r\n") && !headers.ends_with(b"{}") {
                request.extend_from_slice(b"\r\n");
            }
            let (status, head, body) = raw_request(&app.base, &request).await;
            let what = format!("{method} {path}: {what}");
            assert!(
                (400..500).contains(&status),
                "{what}: {status}\n{head}\n{body}"
            );
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{what}: {head}"
            );
            let body: Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{what}: not JSON: {body:?}"));
            assert!(
                body["message"].is_string() && body["error"].is_string(),
                "{what}: {body}"
            );
            if shape == Shape::OAuth && status != 400 {
                assert!(body["error_description"].is_string(), "{what}: {body}");
            }
        }
    }
    // A request line the server cannot read, and an over-long URI and header section.
    for (what, request, expected) in [
        (
            "a control character in the path",
            b"GET /api/v1/\x01 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an unknown HTTP version",
            b"GET /api/v1/conversations HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a 100 kB URI",
            format!(
                "GET /api/v1/conversations?search={} HTTP/1.1\r\nHost: x\r\n\r\n",
                "a".repeat(100_000)
            )
            .into_bytes(),
            414,
        ),
        (
            "1 MB of headers",
            format!(
                "GET /api/v1/conversations HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(1024 * 1024)
            )
            .into_bytes(),
            431,
        ),
    ] {
        let (status, head, body) = raw_request(&app.base, &request).await;
        assert!(
            (400..500).contains(&status),
            "{what}: {status}\n{head}\n{body}"
        );
        if expected != 400 {
            assert_eq!(status, expected, "{what}");
        }
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: not JSON: {body:?}"));
        assert!(
            body["message"].is_string() && body["error"].is_string(),
            "{what}: {body}"
        );
    }
    // The server keeps serving, and nothing was changed.
    let page = app.list(&f.m, "").await;
    assert_eq!(page["meta"]["total"], 1);
    assert_eq!(page["data"][0]["id"], f.conversation);
    assert!(page["data"][0]["blacklist"].is_object());
    let members = ok_json(app.get(&f.m, "/api/v1/members")).await;
    assert_eq!(members["data"].as_array().map(Vec::len), Some(2));
}
