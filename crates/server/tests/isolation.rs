//! Tenant isolation as a property: random sequences of operations by members of two
//! tenants (and one user who belongs to both) never show one tenant the other's data.
//! Seeded: set SWITCHBOARD_TEST_SEED to replay another sequence.

mod common;

use common::{Member, TestApp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeSet;

backend_tests!(
    random_operations_never_cross_tenants,
    foreign_tenant_is_403_on_every_endpoint
);

/// One tenant's side of the run: its actors, its ids, and the marker in all its text.
struct Side {
    marker: &'static str,
    actors: Vec<Member>,
    channel: i64,
    secret: String,
    conversations: BTreeSet<i64>,
    customers: BTreeSet<i64>,
    messages: BTreeSet<i64>,
    blacklists: BTreeSet<i64>,
}

async fn call(
    app: &TestApp,
    m: &Member,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&m.token)
        .header("X-Tenant", m.tenant.to_string());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    assert!(status < 500, "{path}: {status}");
    (status, response.json().await.expect("json"))
}

async fn side(app: &TestApp, name: &str, marker: &'static str) -> Side {
    let owner = app.member(name).await;
    let agent = app
        .join(
            owner.tenant,
            &format!("agent@{marker}.test"),
            &["read", "write"],
        )
        .await;
    let (status, channel) = call(
        app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/channels",
        Some(json!({"type": "telegram", "name": format!("{marker} bot"), "address": format!("@{marker}_bot")})),
    )
    .await;
    assert_eq!(status, 201);
    Side {
        marker,
        actors: vec![owner, agent],
        channel: channel["data"]["id"].as_i64().unwrap(),
        secret: channel["data"]["inbound_secret"]
            .as_str()
            .unwrap()
            .to_string(),
        conversations: BTreeSet::new(),
        customers: BTreeSet::new(),
        messages: BTreeSet::new(),
        blacklists: BTreeSet::new(),
    }
}

/// The ids under `data` (a list or one resource).
fn data_ids(body: &Value) -> Vec<i64> {
    match &body["data"] {
        Value::Array(items) => items.iter().filter_map(|i| i["id"].as_i64()).collect(),
        item => item["id"].as_i64().into_iter().collect(),
    }
}

async fn random_operations_never_cross_tenants(app: TestApp) {
    // A new sequence on every run, so CI keeps exploring; a failure prints the seed,
    // and SWITCHBOARD_TEST_SEED replays it.
    let seed = std::env::var("SWITCHBOARD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("isolation property test: SWITCHBOARD_TEST_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sides = [
        side(&app, "Alpha Clinic", "alphaqx").await,
        side(&app, "Bravo Shop", "bravozk").await,
    ];
    // A user in both tenants acts in each, picking the tenant by header.
    let both = app
        .join(
            sides[0].actors[0].tenant,
            "both@tenants.test",
            &["read", "write"],
        )
        .await;
    app.store
        .put_membership(
            switchboard_core::TenantId(sides[1].actors[0].tenant),
            switchboard_core::UserId(both.user),
            switchboard_core::Role::Owner,
            app.now(),
        )
        .await
        .unwrap();
    sides[0].actors.push(both.clone());
    sides[1].actors.push(Member {
        tenant: sides[1].actors[0].tenant,
        ..both
    });

    for step in 0..160 {
        let s = rng.gen_range(0..2);
        let (me, other) = if s == 0 { (0, 1) } else { (1, 0) };
        let actor = sides[me].actors[rng.gen_range(0..sides[me].actors.len())].clone();
        let marker = sides[me].marker;
        let n: u32 = rng.gen_range(0..1_000_000);
        let op = rng.gen_range(0..10);
        let (path, status, body) = match op {
            0 => {
                let path = "/api/v1/conversations".to_string();
                let body = json!({"channel_id": sides[me].channel, "address": format!("@{marker}{n}"), "first_name": format!("{marker}{n}")});
                let (status, body) =
                    call(&app, &actor, reqwest::Method::POST, &path, Some(body)).await;
                if status == 201 || status == 200 {
                    sides[me]
                        .conversations
                        .insert(body["data"]["id"].as_i64().unwrap());
                    sides[me]
                        .customers
                        .insert(body["data"]["customer"]["id"].as_i64().unwrap());
                }
                (path, status, body)
            }
            1 => {
                let response = app
                    .client
                    .post(app.url(&format!("/api/v1/channels/{}/inbound", sides[me].channel)))
                    .header("X-Channel-Secret", &sides[me].secret)
                    .json(&json!({"address": format!("@{marker}{}", n % 50), "message": format!("{marker} says {n}"), "first_name": format!("{marker}in{n}")}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                if status == 201 {
                    sides[me]
                        .conversations
                        .insert(body["conversation_id"].as_i64().unwrap());
                    sides[me]
                        .messages
                        .insert(body["message_id"].as_i64().unwrap());
                }
                assert!(
                    !body.to_string().contains(sides[other].marker),
                    "step {step}: inbound leaked {body}"
                );
                continue;
            }
            2 => {
                let Some(&c) = pick(&mut rng, &sides[me].conversations) else {
                    continue;
                };
                let path = format!("/api/v1/conversations/{c}/messages");
                let (status, body) = call(
                    &app,
                    &actor,
                    reqwest::Method::POST,
                    &path,
                    Some(json!({"message": format!("{marker} reply {n}")})),
                )
                .await;
                if status == 201 {
                    sides[me].messages.insert(
                        body["data"]["message_id"]
                            .as_str()
                            .unwrap()
                            .parse()
                            .unwrap(),
                    );
                }
                (path, status, body)
            }
            3 => {
                let query = [
                    "",
                    "search=a",
                    "search=bravozk",
                    "search=alphaqx",
                    "channel_type=telegram",
                    "per_page=100",
                ][rng.gen_range(0..6)];
                let path = format!("/api/v1/conversations?{query}");
                let (status, body) = call(&app, &actor, reqwest::Method::GET, &path, None).await;
                for id in data_ids(&body) {
                    assert!(
                        sides[me].conversations.contains(&id),
                        "step {step}: {path} shows conversation {id} of the other tenant"
                    );
                }
                (path, status, body)
            }
            4 => {
                let Some(&c) = pick(&mut rng, &sides[me].conversations) else {
                    continue;
                };
                let path = format!("/api/v1/conversations/{c}/messages?per_page=100");
                let (status, body) = call(&app, &actor, reqwest::Method::GET, &path, None).await;
                for id in data_ids(&body) {
                    assert!(
                        !sides[other].messages.contains(&id),
                        "step {step}: {path} shows message {id} of the other tenant"
                    );
                }
                (path, status, body)
            }
            5 => {
                let path = "/api/v1/customers?per_page=100".to_string();
                let (status, body) = call(&app, &actor, reqwest::Method::GET, &path, None).await;
                for id in data_ids(&body) {
                    assert!(
                        !sides[other].customers.contains(&id),
                        "step {step}: customer {id} of the other tenant"
                    );
                }
                (path, status, body)
            }
            6 => {
                let Some(&customer) = pick(&mut rng, &sides[me].customers) else {
                    continue;
                };
                let path = "/api/v1/channel-blacklists".to_string();
                let body = json!({"channel_id": sides[me].channel, "customer_id": customer, "reason": "manual", "note": format!("{marker} note"), "ttl_seconds": 3600});
                let (status, body) =
                    call(&app, &actor, reqwest::Method::POST, &path, Some(body)).await;
                if status == 201 {
                    sides[me]
                        .blacklists
                        .insert(body["data"]["id"].as_i64().unwrap());
                }
                (path, status, body)
            }
            7 => {
                let path = "/api/v1/channel-blacklists?per_page=100".to_string();
                let (status, body) = call(&app, &actor, reqwest::Method::GET, &path, None).await;
                for id in data_ids(&body) {
                    assert!(
                        sides[me].blacklists.contains(&id),
                        "step {step}: blacklist {id} of the other tenant"
                    );
                }
                (path, status, body)
            }
            8 => {
                // Reach for the other tenant's ids: always 404, never their data.
                let Some(&c) = pick(&mut rng, &sides[other].conversations) else {
                    continue;
                };
                let path = format!("/api/v1/conversations/{c}");
                let (status, body) = call(&app, &actor, reqwest::Method::GET, &path, None).await;
                assert_eq!(status, 404, "step {step}: {path}");
                (path, status, body)
            }
            _ => {
                let Some(&customer) = pick(&mut rng, &sides[other].customers) else {
                    continue;
                };
                let path = format!("/api/v1/customers/{customer}");
                let (status, body) = call(
                    &app,
                    &actor,
                    reqwest::Method::PUT,
                    &path,
                    Some(json!({"first_name": format!("{marker}hijack")})),
                )
                .await;
                assert_eq!(status, 404, "step {step}: {path}");
                (path, status, body)
            }
        };
        assert!(status < 500, "step {step}: {path} -> {status}");
        // `links` echo the caller's own query; the data is what must not leak.
        let text = body["data"].to_string();
        assert!(
            !text.contains(sides[other].marker),
            "step {step} (seed {seed}): a {} response to {path} contains the other tenant's data: {text}",
            sides[me].marker
        );
    }
    // The hijack attempts changed nothing.
    for s in &sides {
        let (_, page) = call(
            &app,
            &s.actors[0],
            reqwest::Method::GET,
            "/api/v1/customers?search=hijack",
            None,
        )
        .await;
        assert_eq!(page["meta"]["total"], 0);
    }
    assert!(
        sides.iter().all(|s| !s.conversations.is_empty()),
        "the run exercised both tenants"
    );
}

fn pick<'a>(rng: &mut StdRng, set: &'a BTreeSet<i64>) -> Option<&'a i64> {
    if set.is_empty() {
        None
    } else {
        set.iter().nth(rng.gen_range(0..set.len()))
    }
}

async fn foreign_tenant_is_403_on_every_endpoint(app: TestApp) {
    let a = app.member("A").await;
    let b = app.member("B").await;
    let paths: Vec<(reqwest::Method, &str)> = vec![
        (reqwest::Method::GET, "/api/v1/conversations"),
        (reqwest::Method::POST, "/api/v1/conversations"),
        (reqwest::Method::GET, "/api/v1/conversations/1"),
        (reqwest::Method::POST, "/api/v1/conversations/1/read"),
        (reqwest::Method::GET, "/api/v1/conversations/1/messages"),
        (reqwest::Method::POST, "/api/v1/conversations/1/messages"),
        (
            reqwest::Method::POST,
            "/api/v1/conversations/1/messages/media",
        ),
        (reqwest::Method::PUT, "/api/v1/conversations/1/messages/1"),
        (
            reqwest::Method::DELETE,
            "/api/v1/conversations/1/messages/1",
        ),
        (reqwest::Method::GET, "/api/v1/conversations/1/agent"),
        (
            reqwest::Method::POST,
            "/api/v1/conversations/1/agent/disable",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/conversations/1/agent/enable",
        ),
        (reqwest::Method::GET, "/api/v1/channel-blacklists"),
        (reqwest::Method::POST, "/api/v1/channel-blacklists"),
        (reqwest::Method::GET, "/api/v1/channel-blacklists/1"),
        (reqwest::Method::PUT, "/api/v1/channel-blacklists/1"),
        (reqwest::Method::DELETE, "/api/v1/channel-blacklists/1"),
        (reqwest::Method::GET, "/api/v1/channels"),
        (reqwest::Method::POST, "/api/v1/channels"),
        (reqwest::Method::GET, "/api/v1/channels/1"),
        (reqwest::Method::PUT, "/api/v1/channels/1"),
        (reqwest::Method::DELETE, "/api/v1/channels/1"),
        (reqwest::Method::POST, "/api/v1/channels/1/secret"),
        (reqwest::Method::GET, "/api/v1/customers"),
        (reqwest::Method::POST, "/api/v1/customers"),
        (reqwest::Method::GET, "/api/v1/customers/1"),
        (reqwest::Method::PUT, "/api/v1/customers/1"),
    ];
    for (method, path) in paths {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&a.token)
            .header("X-Tenant", b.tenant.to_string())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "tenant_forbidden", "{method} {path}");
    }
}
