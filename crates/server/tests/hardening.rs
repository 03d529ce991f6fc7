//! Hardening: concurrency invariants and hostile input, on both backends.

mod common;

use common::{Member, TestApp};
use serde_json::{json, Value};

backend_tests!(
    fifty_concurrent_creates_yield_one_conversation,
    fifty_concurrent_messages_keep_conversation_state_exact,
    concurrent_blacklist_creates_yield_one_active_entry,
    hostile_input_gets_json_4xx_on_every_endpoint,
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

/// Every endpoint, with a body where it takes one.
fn endpoints(
    conversation: i64,
    message: i64,
    channel: i64,
    customer: i64,
    blacklist: i64,
) -> Vec<(reqwest::Method, String, bool)> {
    use reqwest::Method as M;
    vec![
        (M::GET, "/api/v1/conversations".into(), false),
        (M::POST, "/api/v1/conversations".into(), true),
        (
            M::GET,
            format!("/api/v1/conversations/{conversation}"),
            false,
        ),
        (
            M::POST,
            format!("/api/v1/conversations/{conversation}/read"),
            false,
        ),
        (
            M::GET,
            format!("/api/v1/conversations/{conversation}/messages"),
            false,
        ),
        (
            M::POST,
            format!("/api/v1/conversations/{conversation}/messages"),
            true,
        ),
        (
            M::PUT,
            format!("/api/v1/conversations/{conversation}/messages/{message}"),
            true,
        ),
        (
            M::DELETE,
            format!("/api/v1/conversations/{conversation}/messages/{message}"),
            false,
        ),
        (
            M::GET,
            format!("/api/v1/conversations/{conversation}/agent"),
            false,
        ),
        (
            M::POST,
            format!("/api/v1/conversations/{conversation}/agent/disable"),
            true,
        ),
        (
            M::POST,
            format!("/api/v1/conversations/{conversation}/agent/enable"),
            false,
        ),
        (M::GET, "/api/v1/channel-blacklists".into(), false),
        (M::POST, "/api/v1/channel-blacklists".into(), true),
        (
            M::GET,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            false,
        ),
        (
            M::PUT,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            true,
        ),
        (M::GET, "/api/v1/channels".into(), false),
        (M::POST, "/api/v1/channels".into(), true),
        (M::GET, format!("/api/v1/channels/{channel}"), false),
        (M::PUT, format!("/api/v1/channels/{channel}"), true),
        (M::GET, "/api/v1/customers".into(), false),
        (M::POST, "/api/v1/customers".into(), true),
        (M::GET, format!("/api/v1/customers/{customer}"), false),
        (M::PUT, format!("/api/v1/customers/{customer}"), true),
        (M::GET, "/api/v1/account/tenants".into(), false),
    ]
}

async fn expect_json_answer(response: reqwest::Response, what: &str) -> u16 {
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
    }
    status
}

async fn hostile_input_gets_json_4xx_on_every_endpoint(app: TestApp) {
    let m = app.member("T").await;
    let (channel, _) = channel_and_secret(&app, &m).await;
    let (_, c) = app
        .create_conversation(
            &m,
            json!({"channel_id": channel, "address": "+905325550011"}),
        )
        .await;
    let conversation = c["data"]["id"].as_i64().unwrap();
    let customer = c["data"]["customer"]["id"].as_i64().unwrap();
    let sent: Value = app
        .post(
            &m,
            &format!("/api/v1/conversations/{conversation}/messages"),
            &json!({"message": "hi"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message: i64 = sent["data"]["message_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let b: Value = app
        .post(
            &m,
            "/api/v1/channel-blacklists",
            &json!({"channel_id": channel, "customer_id": customer, "reason": "manual"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let blacklist = b["data"]["id"].as_i64().unwrap();
    let huge = "1180591620717411303424";
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let ten_mb = format!("{{\"message\": \"{}\"}}", "a".repeat(10 * 1024 * 1024));
    let hostile_bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed JSON", b"{\"message\": ".to_vec(), "application/json"),
        ("JSON of the wrong type", b"[1, 2, 3]".to_vec(), "application/json"),
        ("a JSON string", b"\"text\"".to_vec(), "application/json"),
        ("huge numbers", format!("{{\"channel_id\": {huge}, \"customer_id\": {huge}, \"message\": {huge}, \"duration_minutes\": {huge}, \"ttl_seconds\": {huge}, \"quoted_message_id\": {huge}, \"default_channel_id\": {huge}}}").into_bytes(), "application/json"),
        ("negative ids", b"{\"channel_id\": -1, \"customer_id\": -5, \"quoted_message_id\": -2, \"default_channel_id\": -3, \"duration_minutes\": -1}".to_vec(), "application/json"),
        ("NUL bytes", b"{\"message\": \"a\\u0000b\", \"address\": \"\\u0000\", \"name\": \"x\\u0000\", \"first_name\": \"\\u0000\", \"note\": \"\\u0000\", \"type\": \"web\\u0000site\"}".to_vec(), "application/json"),
        ("invalid UTF-8", vec![b'{', b'"', b'm', b'"', b':', b'"', 0xff, 0xfe, b'"', b'}'], "application/json"),
        ("deeply nested JSON", nested.into_bytes(), "application/json"),
        ("wrong content type", b"message=hi".to_vec(), "application/x-www-form-urlencoded"),
        ("10 MB body", ten_mb.into_bytes(), "application/json"),
    ];
    for (method, path, takes_body) in endpoints(conversation, message, channel, customer, blacklist)
    {
        if takes_body {
            for (what, body, content_type) in &hostile_bodies {
                let response = app
                    .client
                    .request(method.clone(), app.url(&path))
                    .bearer_auth(&m.token)
                    .header("X-Tenant", m.tenant.to_string())
                    .header("Content-Type", *content_type)
                    .body(body.clone())
                    .send()
                    .await;
                let Ok(response) = response else {
                    // A 10 MB upload may be cut off by the early 413; the server must
                    // still be serving (checked below).
                    assert_eq!(
                        *what, "10 MB body",
                        "{method} {path}: {what}: request failed"
                    );
                    continue;
                };
                let status =
                    expect_json_answer(response, &format!("{method} {path}: {what}")).await;
                if *what != "negative ids" && *what != "huge numbers" && *what != "NUL bytes" {
                    assert!(
                        (400..500).contains(&status),
                        "{method} {path}: {what} -> {status}"
                    );
                }
            }
        }
        // Query-string abuse, missing and duplicated headers.
        let absurd = format!("{path}?per_page={huge}&page=-1&search=%00&channel_type=%FF&active=maybe&sort_by=1;DROP");
        let response = app.get(&m, &absurd).send().await.expect("absurd query");
        let status = expect_json_answer(response, &format!("GET {absurd}")).await;
        assert!(status < 500);
        let anonymous = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("anonymous");
        assert_eq!(
            expect_json_answer(anonymous, &format!("{method} {path} without token")).await,
            401
        );
        let doubled = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(&m.token)
            .header("X-Tenant", m.tenant.to_string())
            .header("X-Tenant", m.tenant.to_string())
            .send()
            .await
            .expect("doubled header");
        let status =
            expect_json_answer(doubled, &format!("{method} {path} with X-Tenant twice")).await;
        if path != "/api/v1/account/tenants" {
            assert_eq!(status, 400, "{method} {path} with X-Tenant twice");
        }
    }
    // Negative and huge ids in paths are simply not found.
    for path in [
        "/api/v1/conversations/-1",
        &format!("/api/v1/conversations/{huge}"),
        "/api/v1/channels/0",
        "/api/v1/customers/1e3",
    ] {
        let response = app.get(&m, path).send().await.unwrap();
        assert_eq!(expect_json_answer(response, path).await, 404, "{path}");
    }
    // And the server keeps serving, its data intact.
    let page = app.list(&m, "").await;
    assert_eq!(page["meta"]["total"], 1);
    assert_eq!(page["data"][0]["id"], conversation);
}
