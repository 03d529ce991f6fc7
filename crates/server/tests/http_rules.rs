//! The common rules of the contract: authentication, the tenant header, scopes,
//! rate limits, error bodies, request ids, health and the OpenAPI document.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};
use switchboard_core::{ChannelType, Clock};

backend_tests!(
    missing_bad_expired_and_revoked_tokens_are_401,
    tenant_header_is_required_and_checked,
    scopes_are_enforced_per_endpoint,
    body_errors_are_clear_4xx_with_json,
    unknown_routes_and_wrong_methods_answer_json,
    request_ids_are_assigned_and_echoed,
    readiness_reports_the_database,
    account_tenants_lists_memberships_with_roles,
);

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "JSON body for {status}: {content_type}"
    );
    let body: Value = response.json().await.expect("json error body");
    assert!(body["message"].is_string(), "message in {body}");
    assert!(body["error"].is_string(), "error in {body}");
    (status, body)
}

async fn missing_bad_expired_and_revoked_tokens_are_401(app: TestApp) {
    let m = app.member("T").await;
    let url = app.url("/api/v1/conversations");
    let unauthenticated = json!({"message": "Unauthenticated.", "error": "unauthenticated"});
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer"),
        Some(&*format!("Token {}", m.token)),
    ] {
        let mut request = app
            .client
            .get(&url)
            .header("X-Tenant", m.tenant.to_string());
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let (status, body) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body, unauthenticated);
    }
    // Auth comes before the tenant header and before the body.
    let response = app
        .client
        .post(&url)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer"
    );
    // Expired.
    let short = app.token(m.user, &["read"], Some(60)).await;
    let ok = app
        .client
        .get(&url)
        .bearer_auth(&short)
        .header("X-Tenant", m.tenant.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    app.advance(61);
    let expired = app
        .client
        .get(&url)
        .bearer_auth(&short)
        .header("X-Tenant", m.tenant.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(expired).await, (401, unauthenticated.clone()));
    // Revoked: takes effect on the next request.
    app.db
        .execute(&format!(
            "UPDATE access_tokens SET revoked_at = created_at WHERE user_id = {}",
            m.user
        ))
        .await;
    let revoked = app.get(&m, "/api/v1/conversations").send().await.unwrap();
    assert_eq!(error_of(revoked).await, (401, unauthenticated));
}

async fn tenant_header_is_required_and_checked(app: TestApp) {
    let m = app.member("T").await;
    let url = app.url("/api/v1/conversations");
    let missing = app
        .client
        .get(&url)
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(missing).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("tenant_required"))
    );
    for bad in ["abc", "0", "-5", "1.0", "1e3", "12abc"] {
        let response = app
            .client
            .get(&url)
            .bearer_auth(&m.token)
            .header("X-Tenant", bad)
            .send()
            .await
            .unwrap();
        let (status, body) = error_of(response).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("tenant_invalid")),
            "{bad}"
        );
    }
    let twice = app
        .client
        .get(&url)
        .bearer_auth(&m.token)
        .header("X-Tenant", m.tenant.to_string())
        .header("X-Tenant", "999")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(twice).await.0, 400);
    let other = app.member("Other").await;
    let not_member = app
        .client
        .get(&url)
        .bearer_auth(&m.token)
        .header("X-Tenant", other.tenant.to_string())
        .send()
        .await
        .unwrap();
    let nonexistent = app
        .client
        .get(&url)
        .bearer_auth(&m.token)
        .header("X-Tenant", "987654")
        .send()
        .await
        .unwrap();
    let a = error_of(not_member).await;
    let b = error_of(nonexistent).await;
    assert_eq!(a.0, 403);
    assert_eq!(a, b, "a foreign tenant and a missing one look the same");
}

async fn scopes_are_enforced_per_endpoint(app: TestApp) {
    let m = app.member("T").await;
    let wa = app.channel(m.tenant, ChannelType::Whatsapp, "WA").await;
    let read_only = app.token(m.user, &["conversations:read"], Some(3600)).await;
    let write_only = app
        .token(m.user, &["conversations:write"], Some(3600))
        .await;
    let other_kind = app
        .token(m.user, &["messages:read", "messages:write"], Some(3600))
        .await;
    let body = json!({"channel_id": wa, "address": "+905321234567"});
    let post = |token: &str| {
        app.client
            .post(app.url("/api/v1/conversations"))
            .bearer_auth(token)
            .header("X-Tenant", m.tenant.to_string())
            .json(&body)
    };
    let get = |token: &str| {
        app.client
            .get(app.url("/api/v1/conversations"))
            .bearer_auth(token)
            .header("X-Tenant", m.tenant.to_string())
    };
    let (status, err) = error_of(post(&read_only).send().await.unwrap()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert_eq!(get(&read_only).send().await.unwrap().status(), 200);
    assert_eq!(post(&write_only).send().await.unwrap().status(), 201);
    assert_eq!(
        error_of(get(&write_only).send().await.unwrap()).await.0,
        403
    );
    assert_eq!(
        error_of(get(&other_kind).send().await.unwrap()).await.0,
        403
    );
    assert_eq!(
        error_of(post(&other_kind).send().await.unwrap()).await.0,
        403
    );
}

async fn body_errors_are_clear_4xx_with_json(app: TestApp) {
    let m = app.member("T").await;
    let url = app.url("/api/v1/conversations");
    let send = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut request = app
            .client
            .post(&url)
            .bearer_auth(&m.token)
            .header("X-Tenant", m.tenant.to_string())
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        request.send()
    };
    let (status, body) = error_of(
        send(Some("application/json"), b"{\"channel_id\": ".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, _) = error_of(
        send(Some("application/json"), vec![b'{', 0xff, 0xfe, b'}'])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "invalid UTF-8");
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let (status, _) = error_of(
        send(Some("application/json"), deep.into_bytes())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "deeply nested JSON");
    let (status, body) = error_of(send(Some("text/plain"), b"{}".to_vec()).await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, body) = error_of(
        send(
            Some("application/x-www-form-urlencoded"),
            b"channel_id=1".to_vec(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    // A declared body over the limit is refused before it is read.
    let response = raw_request(
        &app,
        &format!(
            "POST /api/v1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nX-Tenant: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"address\": \"aaaa",
            m.token,
            m.tenant,
            10 * 1024 * 1024
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains("\"error\":\"payload_too_large\""),
        "{response}"
    );
    // An empty body is an empty object: the fields are reported missing.
    let (status, body) = error_of(send(None, Vec::new()).await.unwrap()).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["channel_id"][0],
        "The channel id field is required."
    );
    // Huge numbers are not integers here.
    let (status, body) = error_of(
        send(
            Some("application/json"),
            br#"{"channel_id": 1180591620717411303424, "address": "x"}"#.to_vec(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["channel_id"][0],
        "The channel id field must be an integer."
    );
    // The server keeps serving.
    assert_eq!(
        app.get(&m, "/api/v1/conversations")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Sends raw bytes and returns what the server answers before closing or 5 s pass.
async fn raw_request(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&out).contains("}") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn unknown_routes_and_wrong_methods_answer_json(app: TestApp) {
    let m = app.member("T").await;
    let (status, body) = error_of(app.get(&m, "/api/v1/nothing-here").send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "The route api/v1/nothing-here could not be found."
    );
    let (status, _) = error_of(app.client.get(app.url("/nope")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    // Unknown routes are 404 even without a token.
    let (status, _) = error_of(
        app.client
            .get(app.url("/api/v1/nothing-here"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let response = app
        .client
        .delete(app.url("/api/v1/conversations"))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = error_of(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert!(allow.is_some_and(|a| a.contains("GET") && a.contains("POST")));
    let response = app
        .client
        .put(app.url("/api/v1/conversations/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 405);
}

async fn request_ids_are_assigned_and_echoed(app: TestApp) {
    let generated = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = generated
        .headers()
        .get("x-request-id")
        .expect("request id")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        echoed.headers().get("x-request-id").unwrap(),
        "trace-abc-123"
    );
    let long = "x".repeat(500);
    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", &long)
        .send()
        .await
        .unwrap();
    assert_ne!(
        replaced
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        long
    );
}

async fn readiness_reports_the_database(app: TestApp) {
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    let expected = match app.db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["database"], expected);
}

async fn account_tenants_lists_memberships_with_roles(app: TestApp) {
    let m = app.member("First").await;
    let second = app
        .store
        .create_tenant("Second", app.clock.now())
        .await
        .unwrap();
    app.store
        .put_membership(
            second.id,
            switchboard_core::UserId(m.user),
            switchboard_core::Role::Agent,
            app.clock.now(),
        )
        .await
        .unwrap();
    let _unrelated = app.member("Unrelated").await;
    let response = app
        .client
        .get(app.url("/api/v1/account/tenants"))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let got: Vec<(i64, String, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_i64().unwrap(),
                t["name"].as_str().unwrap().into(),
                t["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (m.tenant, "First".into(), "owner".into()),
            (second.id.0, "Second".into(), "agent".into())
        ]
    );
    let anonymous = app
        .client
        .get(app.url("/api/v1/account/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

mod limits {
    use super::*;

    async fn rate_limit_headers_and_429(backend: Backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limit_per_minute = 3).await;
        let m = app.member("T").await;
        for expected_remaining in ["2", "1", "0"] {
            let response = app.get(&m, "/api/v1/conversations").send().await.unwrap();
            assert_eq!(response.status(), 200);
            let h = response.headers();
            assert_eq!(h.get("x-ratelimit-limit").unwrap(), "3");
            assert_eq!(h.get("x-ratelimit-remaining").unwrap(), expected_remaining);
            let reset: i64 = h
                .get("x-ratelimit-reset")
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(reset, app.clock.now().timestamp() + 60);
        }
        app.advance(20);
        let refused = app.get(&m, "/api/v1/conversations").send().await.unwrap();
        assert_eq!(refused.headers().get("retry-after").unwrap(), "40");
        assert_eq!(refused.headers().get("x-ratelimit-remaining").unwrap(), "0");
        let (status, body) = error_of(refused).await;
        assert_eq!(status, 429);
        assert_eq!(
            body,
            json!({"message": "Too Many Attempts.", "error": "rate_limited"})
        );
        // Another token has its own budget; unauthenticated callers are counted per IP.
        let other = app.member("U").await;
        assert_eq!(
            app.get(&other, "/api/v1/conversations")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let anonymous = app
            .client
            .get(app.url("/api/v1/conversations"))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(
            anonymous.headers().get("x-ratelimit-remaining").unwrap(),
            "2"
        );
        // The window resets.
        app.advance(40);
        assert_eq!(
            app.get(&m, "/api/v1/conversations")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }

    /// Inbound ingest carries the rate-limit headers too: the right secret counts
    /// against the channel, a wrong one against the client IP, so guessing cannot use
    /// up a channel's budget; over the limit it is 429 and nothing is stored.
    async fn inbound_ingest_is_rate_limited_per_channel(backend: Backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limit_per_minute = 3).await;
        let m = app.member("T").await;
        let created: Value = app
            .post(
                &m,
                "/api/v1/channels",
                &json!({"type": "website", "name": "Site", "address": "site-1"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let channel = created["data"]["id"].as_i64().unwrap();
        let secret = created["data"]["inbound_secret"]
            .as_str()
            .unwrap()
            .to_string();
        let deliver = |secret: String, n: u32| {
            app.client
                .post(app.url(&format!("/api/v1/channels/{channel}/inbound")))
                .header("X-Channel-Secret", secret)
                .json(&json!({"address": "visitor-1", "message": format!("hi {n}"), "external_id": format!("e{n}")}))
                .send()
        };
        // Wrong secrets: 401s with headers, counted per IP, and they use up none of the
        // channel's budget.
        for expected_remaining in ["2", "1", "0"] {
            let wrong = deliver("sbc_wrong".into(), 0).await.unwrap();
            assert_eq!(wrong.status(), 401);
            assert_eq!(wrong.headers().get("x-ratelimit-limit").unwrap(), "3");
            assert_eq!(
                wrong.headers().get("x-ratelimit-remaining").unwrap(),
                expected_remaining
            );
        }
        let locked_out = deliver("sbc_wrong".into(), 0).await.unwrap();
        assert_eq!(locked_out.status(), 429);
        assert!(locked_out.headers().get("retry-after").is_some());
        for (n, expected_remaining) in [(1, "2"), (2, "1"), (3, "0")] {
            let stored = deliver(secret.clone(), n).await.unwrap();
            assert_eq!(stored.status(), 201);
            assert_eq!(
                stored.headers().get("x-ratelimit-remaining").unwrap(),
                expected_remaining
            );
        }
        let refused = deliver(secret.clone(), 4).await.unwrap();
        assert_eq!(refused.headers().get("retry-after").unwrap(), "60");
        let (status, body) = error_of(refused).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("rate_limited"))
        );
        // The refused message was not stored: three messages, and after the window
        // the same delivery is stored.
        let list = app.list(&m, "").await;
        assert_eq!(list["data"][0]["unread_count"], "3");
        app.advance(60);
        assert_eq!(deliver(secret, 4).await.unwrap().status(), 201);
        assert_eq!(app.list(&m, "").await["data"][0]["unread_count"], "4");
    }

    /// Anonymous callers are counted per client address: X-Forwarded-For names it
    /// only when the peer is a configured trusted proxy.
    async fn forwarded_for_counts_only_behind_trusted_proxies(backend: Backend) {
        let anonymous = |app: &TestApp, forwarded: &'static str| {
            app.client
                .get(app.url("/api/v1/conversations"))
                .header("X-Forwarded-For", forwarded)
                .send()
        };
        let remaining = |r: &reqwest::Response| {
            r.headers()
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        // Not trusted: every forged address shares the peer's budget.
        let direct = TestApp::spawn_with(backend, |c| c.rate_limit_per_minute = 2).await;
        let first = anonymous(&direct, "203.0.113.1").await.unwrap();
        let second = anonymous(&direct, "203.0.113.2").await.unwrap();
        assert_eq!(remaining(&first).as_deref(), Some("1"));
        assert_eq!(remaining(&second).as_deref(), Some("0"));
        let third = anonymous(&direct, "203.0.113.3").await.unwrap();
        assert_eq!(
            third.status(),
            429,
            "a forged X-Forwarded-For must not buy a new budget"
        );

        // Behind a trusted proxy (the test client is on 127.0.0.1): one budget per client.
        let proxied = TestApp::spawn_with(backend, |c| {
            c.rate_limit_per_minute = 2;
            c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        })
        .await;
        for _ in 0..2 {
            assert_eq!(
                anonymous(&proxied, "203.0.113.1").await.unwrap().status(),
                401
            );
        }
        let locked = anonymous(&proxied, "203.0.113.1").await.unwrap();
        assert_eq!(locked.status(), 429);
        // The client's own forged entry (left of what the proxy appended) is not believed.
        let forged = anonymous(&proxied, "198.51.100.7, 203.0.113.1")
            .await
            .unwrap();
        assert_eq!(forged.status(), 429);
        let other = anonymous(&proxied, "203.0.113.2").await.unwrap();
        assert_eq!(other.status(), 401);
        assert_eq!(remaining(&other).as_deref(), Some("1"));
    }

    async fn body_limit_is_configurable(backend: Backend) {
        let app = TestApp::spawn_with(backend, |c| c.max_body_bytes = 64).await;
        let m = app.member("T").await;
        let wa = app.channel(m.tenant, ChannelType::Whatsapp, "WA").await;
        let (status, _) = app
            .create_conversation(&m, json!({"channel_id": wa, "address": "+905321234567"}))
            .await;
        assert_eq!(status, 201);
        let (status, body) = app
            .create_conversation(&m, json!({"channel_id": wa, "address": "+905321234568", "first_name": "a very long name that does not fit"}))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (413, Some("payload_too_large"))
        );
    }

    /// A client that never finishes its headers is disconnected; others are served.
    async fn slow_headers_are_cut_off(backend: Backend) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = TestApp::spawn_with(backend, |c| {
            c.header_read_timeout = std::time::Duration::from_secs(1)
        })
        .await;
        let addr = app.base.trim_start_matches("http://").to_string();
        let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        // The server answers (408) or closes; either way the read ends, well before 30 s.
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(30), slow.read(&mut buf)).await;
        assert!(
            read.is_ok(),
            "a connection stalled in its headers was not cut off"
        );
        let ok = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }

    /// A connection that never sends a byte, and one left idle after a keep-alive
    /// request, are closed after the header timeout, so silent clients cannot keep
    /// the connection slots.
    async fn silent_and_idle_connections_are_closed(backend: Backend) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = TestApp::spawn_with(backend, |c| {
            c.header_read_timeout = std::time::Duration::from_secs(1);
            c.max_connections = 1;
        })
        .await;
        let addr = app.base.trim_start_matches("http://").to_string();
        let mut buf = vec![0u8; 4096];
        // Silent: the server must close it (read returns 0 or an error), not wait forever.
        let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let closed =
            tokio::time::timeout(std::time::Duration::from_secs(30), silent.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "a connection that sent nothing was not closed: {closed:?}"
        );
        // Idle after one keep-alive request: answered, then closed.
        let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), idle.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let closed = loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), idle.read(&mut buf))
                .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => continue, // the rest of the first answer
                Err(_) => break false,
            }
        };
        assert!(closed, "an idle keep-alive connection was not closed");
        // The single slot is free again.
        let ok = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }

    /// Over the connection cap, a client waits until a slot frees.
    async fn connections_beyond_the_cap_wait(backend: Backend) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = TestApp::spawn_with(backend, |c| c.max_connections = 2).await;
        let addr = app.base.trim_start_matches("http://").to_string();
        let holders = [
            tokio::net::TcpStream::connect(&addr).await.unwrap(),
            tokio::net::TcpStream::connect(&addr).await.unwrap(),
        ];
        let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(500), third.read(&mut buf)).await;
        assert!(
            early.is_err(),
            "the third connection was served while two held the slots"
        );
        drop(holders);
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), third.read(&mut buf))
            .await
            .expect("served once a slot freed")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_slow_headers() {
        slow_headers_are_cut_off(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_silent_connections() {
        silent_and_idle_connections_are_closed(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_connection_cap() {
        connections_beyond_the_cap_wait(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_rate_limit() {
        rate_limit_headers_and_429(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        not(pg_tests),
        ignore = "TEST_POSTGRES_URL is not set: PostgreSQL tests skipped"
    )]
    async fn postgres_rate_limit() {
        rate_limit_headers_and_429(Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_inbound_rate_limit() {
        inbound_ingest_is_rate_limited_per_channel(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        not(pg_tests),
        ignore = "TEST_POSTGRES_URL is not set: PostgreSQL tests skipped"
    )]
    async fn postgres_inbound_rate_limit() {
        inbound_ingest_is_rate_limited_per_channel(Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_forwarded_for() {
        forwarded_for_counts_only_behind_trusted_proxies(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_body_limit() {
        body_limit_is_configurable(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        not(pg_tests),
        ignore = "TEST_POSTGRES_URL is not set: PostgreSQL tests skipped"
    )]
    async fn postgres_body_limit() {
        body_limit_is_configurable(Backend::Postgres).await
    }
}

#[tokio::test]
async fn openapi_documents_the_seed_schemas_and_docs_page_is_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let spec: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let list = &spec["paths"]["/api/v1/conversations"]["get"];
    let create = &spec["paths"]["/api/v1/conversations"]["post"];
    for op in [list, create] {
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(params.contains(&"X-Tenant"), "{params:?}");
        for status in ["401", "403", "422", "429"] {
            assert!(op["responses"][status].is_object(), "{status} documented");
        }
    }
    assert!(create["responses"]["201"].is_object());
    assert!(create["responses"]["200"].is_object());
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["per_page", "page", "search", "channel_type"] {
        assert!(params.contains(&p), "{p}");
    }
    let resource = &spec["components"]["schemas"]["ConversationResource"];
    let properties: Vec<&str> = resource["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "display_name",
        "address",
        "last_message_id",
        "last_message",
        "last_message_at",
        "last_message_type",
        "last_message_is_customer",
        "unread_count",
        "agent_disabled",
        "agent_expires_at",
        "agent_disabled_by_user_name",
        "customer",
        "channel",
        "blacklist",
    ] {
        assert!(properties.contains(&key), "{key} in ConversationResource");
    }
    assert_eq!(resource["properties"]["unread_count"]["type"], "string");
    // Every key is always sent (null when unset), so every key is required, nullable
    // ones included, in each resource of the seeds.
    for (schema, key) in [
        ("ConversationResource", "blacklist"),
        ("ConversationResource", "last_message"),
        ("ConversationResource", "agent_expires_at"),
        ("ConversationCustomer", "avatar_url"),
        ("BlacklistResource", "deleted_at"),
        ("PageMeta", "from"),
        ("PageLinks", "next"),
    ] {
        let required = spec["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} has required keys"));
        assert!(
            required.iter().any(|k| k == key),
            "{key} is required in {schema}: {required:?}"
        );
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    // Every route the server answers is documented, with the methods it answers.
    for (path, methods) in [
        ("/api/v1/conversations", &["get", "post"][..]),
        ("/api/v1/conversations/{id}", &["get"]),
        ("/api/v1/conversations/{id}/read", &["post"]),
        ("/api/v1/conversations/{id}/messages", &["get", "post"]),
        ("/api/v1/conversations/{id}/messages/media", &["post"]),
        (
            "/api/v1/conversations/{id}/messages/{messageId}",
            &["put", "delete"],
        ),
        ("/api/v1/conversations/{id}/agent", &["get"]),
        ("/api/v1/conversations/{id}/agent/disable", &["post"]),
        ("/api/v1/conversations/{id}/agent/enable", &["post"]),
        ("/api/v1/channel-blacklists", &["get", "post"]),
        ("/api/v1/channel-blacklists/{id}", &["get", "put", "delete"]),
        ("/api/v1/channels", &["get", "post"]),
        ("/api/v1/channels/{id}", &["get", "put", "delete"]),
        ("/api/v1/channels/{id}/secret", &["post"]),
        ("/api/v1/channels/{id}/inbound", &["post"]),
        ("/api/v1/customers", &["get", "post"]),
        ("/api/v1/customers/{id}", &["get", "put"]),
        ("/api/v1/account/tenants", &["get"]),
        ("/api/v1/files/{key}", &["get"]),
    ] {
        for method in methods {
            let op = &spec["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is documented");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} responses"
            );
        }
    }
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the vendored Swagger UI"
    );
}
