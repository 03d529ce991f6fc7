//! CONTRACT.md section 3: messages, read marker, agent switch, blacklists, channels,
//! customers, inbound ingest and media, over HTTP on both backends.

mod common;

use common::{ids, Member, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard_core::{ChannelType, DeliveryStatus, TenantId};

backend_tests!(
    send_list_edit_and_delete_messages,
    idempotency_key_replays_and_stores_once,
    inbound_ingest_moves_unread_and_read_resets_it,
    deleting_an_unread_customer_message_lowers_unread_count,
    inbound_to_a_stored_conversation_fills_names_and_keeps_later_activity,
    agent_switch_expires_without_a_background_job,
    blacklist_lifecycle_and_blocked_ingest,
    channels_crud_roles_and_secret_rotation,
    cached_channel_secrets_follow_every_change,
    customers_crud_search_and_validation,
    media_round_trip_with_expiring_url,
    media_retry_with_idempotency_key_stores_one_message_and_one_file,
    a_deleted_messages_file_leaves_the_disk_once_no_message_holds_it,
    the_server_sweeps_unheld_files_on_its_own,
    an_operator_sweeps_from_the_command_line,
    delivery_status_follows_its_state_machine,
    other_tenants_ids_are_not_found_on_every_endpoint,
);

async fn send(
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
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(app: &TestApp, m: &Member, path: &str) -> (u16, Value) {
    send(app, m, reqwest::Method::GET, path, None).await
}

async fn post(app: &TestApp, m: &Member, path: &str, body: Value) -> (u16, Value) {
    send(app, m, reqwest::Method::POST, path, Some(body)).await
}

async fn put(app: &TestApp, m: &Member, path: &str, body: Value) -> (u16, Value) {
    send(app, m, reqwest::Method::PUT, path, Some(body)).await
}

async fn delete(app: &TestApp, m: &Member, path: &str) -> (u16, Value) {
    send(app, m, reqwest::Method::DELETE, path, None).await
}

/// A tenant with a WhatsApp channel (made through the API, so its secret is known)
/// and one conversation.
struct Setup {
    m: Member,
    channel: i64,
    secret: String,
    conversation: i64,
    customer: i64,
}

async fn setup(app: &TestApp) -> Setup {
    let m = app.member("Clinic").await;
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
    assert_eq!(status, 201);
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
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// An inbound delivery that must be stored (201, `"stored"`); its answer.
async fn inbound_stored(app: &TestApp, s: &Setup, body: Value) -> Value {
    let (status, body) = inbound(app, s.channel, &s.secret, body).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("stored")),
        "{body}"
    );
    body
}

async fn conversation(app: &TestApp, m: &Member, id: i64) -> Value {
    let (status, body) = get(app, m, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn send_list_edit_and_delete_messages(app: TestApp) {
    let s = setup(&app).await;
    let path = format!("/api/v1/conversations/{}/messages", s.conversation);
    let (status, body) = post(&app, &s.m, &path, json!({"message": "Merhaba!"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["status"], "queued");
    assert_eq!(body["data"]["conversation_id"], s.conversation.to_string());
    let first: i64 = body["data"]["message_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.advance(10);
    let (_, body) = post(
        &app,
        &s.m,
        &path,
        json!({"message": "Randevunuz yarın.", "quoted_message_id": first}),
    )
    .await;
    let second: i64 = body["data"]["message_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["last_message_id"], second.to_string());
    assert_eq!(c["last_message"], "Randevunuz yarın.");
    assert_eq!(c["last_message_is_customer"], false);
    assert_eq!(c["unread_count"], "0");

    let (status, page) = get(&app, &s.m, &path).await;
    assert_eq!(status, 200);
    assert_eq!(page["meta"]["total"], 2);
    let newest = &page["data"][0];
    let keys: Vec<&str> = newest
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "conversation_id",
        "user_id",
        "user_name",
        "is_customer",
        "message_type",
        "message",
        "quoted_text",
        "is_deleted",
        "is_edited",
        "edited_by_user_name",
        "deleted_by_user_name",
        "read_at",
        "metadata",
        "created_at",
        "file",
        "file_temporary_url",
        "status",
        "external_id",
    ] {
        assert!(keys.contains(&key), "{key} in message resource");
    }
    assert_eq!(newest["id"], second);
    assert_eq!(newest["quoted_text"], "Merhaba!");
    assert_eq!(newest["user_id"], s.m.user);
    assert!(newest["user_name"].as_str().unwrap().starts_with("User "));
    assert_eq!(newest["is_customer"], false);
    assert_eq!(newest["status"], "queued");

    // Edit: agent messages only.
    let (status, body) = put(
        &app,
        &s.m,
        &format!("{path}/{second}"),
        json!({"message": "Randevunuz cuma."}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["is_edited"], true);
    assert_eq!(body["data"]["message"], "Randevunuz cuma.");
    assert!(body["data"]["edited_by_user_name"].is_string());
    assert_eq!(
        conversation(&app, &s.m, s.conversation).await["last_message"],
        "Randevunuz cuma."
    );
    let (_, ingested) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": "+905321234567", "message": "Tamam"}),
    )
    .await;
    let customer_message = ingested["message_id"].as_i64().unwrap();
    let (status, body) = put(
        &app,
        &s.m,
        &format!("{path}/{customer_message}"),
        json!({"message": "x"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["message"][0],
        "Only agent messages can be edited."
    );

    // Delete: soft, text gone, quote of it gone too.
    let (status, body) = delete(&app, &s.m, &format!("{path}/{first}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["message"], "Message deleted successfully.");
    let (_, page) = get(&app, &s.m, &path).await;
    let deleted = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == first)
        .unwrap()
        .clone();
    assert_eq!(deleted["is_deleted"], true);
    assert_eq!(deleted["message"], Value::Null);
    assert!(deleted["deleted_by_user_name"].is_string());
    let quoting = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == second)
        .unwrap()
        .clone();
    assert_eq!(quoting["quoted_text"], Value::Null);
    let (status, _) = delete(&app, &s.m, &format!("{path}/{first}")).await;
    assert_eq!(status, 422, "a deleted message cannot be deleted again");
    let (status, _) = delete(&app, &s.m, &format!("{path}/{customer_message}")).await;
    assert_eq!(status, 200, "customer messages can be deleted");
    assert_eq!(
        conversation(&app, &s.m, s.conversation).await["last_message"],
        Value::Null,
        "the last message was deleted"
    );

    // Validation.
    let other = app
        .create_conversation(
            &s.m,
            json!({"channel_id": s.channel, "address": "+905329999999"}),
        )
        .await
        .1;
    let other_path = format!("/api/v1/conversations/{}/messages", other["data"]["id"]);
    for (body, field, message) in [
        (json!({}), "message", "The message field is required."),
        (
            json!({"message": "x".repeat(5001)}),
            "message",
            "The message field must not be greater than 5000 characters.",
        ),
        (
            json!({"message": 5}),
            "message",
            "The message field must be a string.",
        ),
        (
            json!({"message": "hi", "quoted_message_id": second}),
            "quoted_message_id",
            "The selected quoted message id is invalid.",
        ),
        (
            json!({"message": "hi", "quoted_message_id": "x"}),
            "quoted_message_id",
            "The quoted message id field must be an integer.",
        ),
    ] {
        let (status, response) = post(&app, &s.m, &other_path, body.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(response["errors"][field][0], message, "{body}");
    }
    let (status, _) = get(&app, &s.m, "/api/v1/conversations/999999/messages").await;
    assert_eq!(status, 404);
}

async fn idempotency_key_replays_and_stores_once(app: TestApp) {
    let s = setup(&app).await;
    let path = format!("/api/v1/conversations/{}/messages", s.conversation);
    let send_with = |key: &'static str, text: &'static str| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&s.m.token)
            .header("X-Tenant", s.m.tenant.to_string())
            .header("Idempotency-Key", key)
            .json(&json!({"message": text}))
            .send()
    };
    let first = send_with("order-42", "Kargonuz yolda").await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send_with("order-42", "Kargonuz yolda").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the first response, replayed");
    let other = send_with("order-42", "Something else").await.unwrap();
    assert_eq!(other.status(), 409);
    // Concurrent duplicates: one message.
    let results = futures::future::join_all((0..10).map(|_| send_with("burst", "Aynı anda"))).await;
    let ids: std::collections::BTreeSet<String> =
        futures::future::join_all(results.into_iter().map(|r| async {
            let r = r.expect("request");
            assert_eq!(r.status(), 201);
            let body: Value = r.json().await.expect("json");
            body["data"]["message_id"].as_str().unwrap().to_string()
        }))
        .await
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let stored = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = {}",
            s.conversation
        ))
        .await;
    assert_eq!(stored, 2, "one per key");
    let outbox = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM message_outbox WHERE tenant_id = {}",
            s.m.tenant
        ))
        .await;
    assert_eq!(outbox, 2, "each stored message is queued once");
}

async fn inbound_ingest_moves_unread_and_read_resets_it(app: TestApp) {
    let s = setup(&app).await;
    for (i, text) in ["Merhaba", "Randevu alabilir miyim?"].iter().enumerate() {
        app.advance(5);
        let (status, body) = inbound(&app, s.channel, &s.secret, json!({"address": "+90 532 123 45 67", "message": text, "external_id": format!("wamid.{i}")})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "stored");
        assert_eq!(body["conversation_id"], s.conversation);
    }
    // A retried delivery stores nothing twice.
    let (status, body) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": "+905321234567", "message": "Merhaba", "external_id": "wamid.0"}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["unread_count"], "2");
    assert_eq!(c["last_message"], "Randevu alabilir miyim?");
    assert_eq!(c["last_message_is_customer"], true);
    // A new customer opens a new conversation, which moves to the top.
    app.advance(5);
    let (status, body) = inbound(&app, s.channel, &s.secret, json!({"address": "+447700900123", "message": "Hello", "first_name": "John", "last_name": "Smith"})).await;
    assert_eq!(status, 201);
    let newcomer = body["conversation_id"].as_i64().unwrap();
    let page = app.list(&s.m, "").await;
    assert_eq!(page["data"][0]["id"], newcomer);
    assert_eq!(page["data"][0]["display_name"], "John Smith");
    assert_eq!(page["data"][0]["unread_count"], "1");
    // Read.
    let (status, body) = post(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/read", s.conversation),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["unread_count"], "0");
    let (_, messages) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    assert!(messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["read_at"].is_string()));
    // Authentication of ingest.
    let (status, _) = inbound(
        &app,
        s.channel,
        "sbc_wrong",
        json!({"address": "+905321234567", "message": "x"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = inbound(
        &app,
        999_999,
        &s.secret,
        json!({"address": "+905321234567", "message": "x"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": "not a phone", "message": "x"}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["errors"]["address"].is_array());
    let (status, body) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": "+905321234567"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["message"][0],
        "The message field is required."
    );
}

/// `unread_count` counts the customer's unread messages; one deleted unread is one
/// fewer to read, while deleting a read message or one of ours changes nothing.
async fn deleting_an_unread_customer_message_lowers_unread_count(app: TestApp) {
    let s = setup(&app).await;
    let mut customer_messages = Vec::new();
    for (i, text) in ["Merhaba", "Orada mısınız?", "Randevu?"].iter().enumerate() {
        app.advance(5);
        let body = inbound_stored(
            &app,
            &s,
            json!({"address": "+905321234567", "message": text, "external_id": format!("wamid.d{i}")}),
        )
        .await;
        customer_messages.push(body["message_id"].as_i64().expect("message id"));
    }
    let messages = format!("/api/v1/conversations/{}/messages", s.conversation);
    let (status, ours) = post(&app, &s.m, &messages, json!({"message": "Buyrun"})).await;
    assert_eq!(status, 201, "{ours}");
    let ours: i64 = ours["data"]["message_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("our message id");
    let unread = |c: Value| c["unread_count"].as_str().map(str::to_string);
    assert_eq!(
        unread(conversation(&app, &s.m, s.conversation).await).as_deref(),
        Some("3")
    );

    let (status, body) = delete(&app, &s.m, &format!("{messages}/{}", customer_messages[0])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        unread(conversation(&app, &s.m, s.conversation).await).as_deref(),
        Some("2")
    );
    // Ours was never unread; deleting it twice answers an error the second time and
    // leaves the count alone both times.
    let (status, body) = delete(&app, &s.m, &format!("{messages}/{ours}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = delete(&app, &s.m, &format!("{messages}/{}", customer_messages[0])).await;
    assert_eq!(status, 422);
    assert_eq!(
        unread(conversation(&app, &s.m, s.conversation).await).as_deref(),
        Some("2")
    );
    // Once read, deleting a customer message leaves "0".
    let (status, _) = post(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/read", s.conversation),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = delete(&app, &s.m, &format!("{messages}/{}", customer_messages[1])).await;
    assert_eq!(status, 200, "{body}");
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(unread(c.clone()).as_deref(), Some("0"));
    // The list shows the same count as the conversation.
    let page = app.list(&s.m, "").await;
    let listed = page["data"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == s.conversation))
        .expect("listed");
    assert_eq!(listed["unread_count"], c["unread_count"]);
}

/// A delivery to a conversation that is already stored: on PostgreSQL one statement
/// when there is nothing else to decide, the long way when the customer lacks a name
/// the delivery brings (or is blocked, or the copy is stored). Both must leave the
/// same conversation behind.
async fn inbound_to_a_stored_conversation_fills_names_and_keeps_later_activity(app: TestApp) {
    let s = setup(&app).await;
    // The customer has a first name only: the delivery's last name fills the gap, its
    // first name does not replace the stored one.
    app.advance(5);
    let body = inbound_stored(&app, &s, json!({"address": "+905321234567", "message": "Merhaba", "first_name": "Başka", "last_name": "Yılmaz", "external_id": "in-1"})).await;
    assert_eq!(body["conversation_id"], s.conversation);
    let first_message = body["message_id"].as_i64().expect("message id");
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["display_name"], "Ayşe Yılmaz");
    assert_eq!(c["customer"]["id"], s.customer);
    assert_eq!(c["unread_count"], "1");
    let found = app.list(&s.m, "search=Y%C4%B1lmaz").await;
    assert_eq!(ids(&found), vec![s.conversation], "{found}");
    // Both names stored now: the next delivery stores its message and nothing else.
    app.advance(5);
    let body = inbound_stored(&app, &s, json!({"address": "+905321234567", "message": "Yarın uygun musunuz?", "first_name": "Başka", "last_name": "Biri", "external_id": "in-2"})).await;
    assert_eq!(body["conversation_id"], s.conversation);
    let second_message = body["message_id"].as_i64().expect("message id");
    assert!(second_message > first_message);
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["display_name"], "Ayşe Yılmaz");
    assert_eq!(c["unread_count"], "2");
    assert_eq!(c["last_message"], "Yarın uygun musunuz?");
    assert_eq!(c["last_message_is_customer"], true);
    // A newer conversation goes on top.
    app.advance(5);
    let (status, body) = app
        .create_conversation(
            &s.m,
            json!({"channel_id": s.channel, "address": "+905329876543", "first_name": "Mehmet"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let newer = body["data"]["id"].as_i64().expect("id");
    assert_eq!(ids(&app.list(&s.m, "").await), vec![newer, s.conversation]);
    // A delivery sent long ago is the conversation's last message, but does not move
    // its activity back or up: the newer conversation stays on top.
    app.advance(5);
    inbound_stored(&app, &s, json!({"address": "+905321234567", "message": "Geç gelen mesaj", "external_id": "in-3", "sent_at": "2020-01-01T09:00:00Z"})).await;
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["last_message"], "Geç gelen mesaj");
    assert_eq!(c["unread_count"], "3");
    assert_eq!(ids(&app.list(&s.m, "").await), vec![newer, s.conversation]);
    // A current one moves it to the top.
    app.advance(5);
    inbound_stored(
        &app,
        &s,
        json!({"address": "+905321234567", "message": "Hâlâ bekliyorum", "external_id": "in-4"}),
    )
    .await;
    assert_eq!(ids(&app.list(&s.m, "").await), vec![s.conversation, newer]);
    // Replays of each answer with the message stored first, and store nothing.
    for (external_id, message_id) in [("in-1", first_message), ("in-2", second_message)] {
        let (status, body) = inbound(
            &app,
            s.channel,
            &s.secret,
            json!({"address": "+905321234567", "message": "again", "external_id": external_id}),
        )
        .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("duplicate")),
            "{body}"
        );
        assert_eq!(body["message_id"], message_id);
    }
    let c = conversation(&app, &s.m, s.conversation).await;
    assert_eq!(c["unread_count"], "4");
    let (status, messages) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    assert_eq!(status, 200, "{messages}");
    assert_eq!(
        messages["data"].as_array().expect("data").len(),
        4,
        "{messages}"
    );
}

async fn agent_switch_expires_without_a_background_job(app: TestApp) {
    let s = setup(&app).await;
    let agent = format!("/api/v1/conversations/{}/agent", s.conversation);
    let (status, body) = get(&app, &s.m, &agent).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"agent_disabled": false, "agent_expires_at": null, "agent_disabled_by_user_name": null, "remaining_minutes": null})
    );
    let (status, body) = post(
        &app,
        &s.m,
        &format!("{agent}/disable"),
        json!({"duration_minutes": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["agent_disabled"], true);
    assert_eq!(body["data"]["remaining_minutes"], "1");
    assert_eq!(body["data"]["agent_expires_at"], "2026-03-01T09:01:00Z");
    let name = body["data"]["agent_disabled_by_user_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(name.starts_with("User "));
    let listed = &app.list(&s.m, "").await["data"][0];
    assert_eq!(listed["agent_disabled"], true);
    assert_eq!(listed["agent_disabled_by_user_name"], name);
    // The clock jumps past the expiry: every read shows the agent enabled.
    app.advance(61);
    assert_eq!(
        get(&app, &s.m, &agent).await.1["data"]["agent_disabled"],
        false
    );
    assert_eq!(
        conversation(&app, &s.m, s.conversation).await["agent_disabled"],
        false
    );
    let listed = &app.list(&s.m, "").await["data"][0];
    assert_eq!(listed["agent_disabled"], false);
    assert_eq!(listed["agent_expires_at"], Value::Null);
    assert_eq!(listed["agent_disabled_by_user_name"], Value::Null);
    // Indefinite, then enabled by hand.
    let (_, body) = post(
        &app,
        &s.m,
        &format!("{agent}/disable"),
        json!({"duration_minutes": null}),
    )
    .await;
    assert_eq!(body["data"]["agent_expires_at"], Value::Null);
    app.advance(20 * 24 * 3600);
    assert_eq!(
        get(&app, &s.m, &agent).await.1["data"]["agent_disabled"],
        true
    );
    let (_, body) = post(&app, &s.m, &format!("{agent}/enable"), json!({})).await;
    assert_eq!(body["data"]["agent_disabled"], false);
    for (value, message) in [
        (json!(0), "The duration minutes field must be at least 1."),
        (
            json!(525_601),
            "The duration minutes field must not be greater than 525600.",
        ),
        (
            json!("soon"),
            "The duration minutes field must be an integer.",
        ),
    ] {
        let (status, body) = post(
            &app,
            &s.m,
            &format!("{agent}/disable"),
            json!({"duration_minutes": value}),
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(body["errors"]["duration_minutes"][0], message);
    }
}

async fn blacklist_lifecycle_and_blocked_ingest(app: TestApp) {
    let s = setup(&app).await;
    let create = json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "abusive_language", "ttl_seconds": 7500, "note": "küfür", "metadata": {"source": "agent"}});
    let (status, body) = post(&app, &s.m, "/api/v1/channel-blacklists", create.clone()).await;
    assert_eq!(status, 201, "{body}");
    let entry = body["data"].clone();
    let id = entry["id"].as_i64().unwrap();
    assert_eq!(entry["reason_label"], "Abusive language");
    assert_eq!(entry["is_active"], true);
    assert_eq!(entry["is_permanent"], false);
    assert_eq!(entry["remaining_time"], "2 hours 5 minutes");
    assert_eq!(entry["customer"]["first_name"], "Ayşe");
    // At most one active entry.
    let (status, body) = post(&app, &s.m, "/api/v1/channel-blacklists", create.clone()).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["customer_id"][0],
        "The customer is already blocked on this channel."
    );
    // The conversation shows it; ingest is refused and counted.
    assert_eq!(
        conversation(&app, &s.m, s.conversation).await["blacklist"]["id"],
        id
    );
    let before = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = {}",
            s.conversation
        ))
        .await;
    let (status, body) = inbound(
        &app,
        s.channel,
        &s.secret,
        json!({"address": "+905321234567", "message": "spam"}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (202, Some("blocked")));
    let after = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = {}",
            s.conversation
        ))
        .await;
    assert_eq!(before, after, "nothing stored");
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT blocked_messages FROM channel_blacklists WHERE id = {id}"
            ))
            .await,
        1
    );
    // Update: note, metadata merged, permanent.
    let (status, body) = put(
        &app,
        &s.m,
        &format!("/api/v1/channel-blacklists/{id}"),
        json!({"note": "updated", "expires_at": null, "metadata": {"ticket": 7}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["is_permanent"], true);
    assert_eq!(body["data"]["remaining_time"], Value::Null);
    assert_eq!(
        body["data"]["metadata"],
        json!({"source": "agent", "ticket": 7})
    );
    // Filters.
    let (_, page) = get(
        &app,
        &s.m,
        &format!(
            "/api/v1/channel-blacklists?customer_id={}&active=1",
            s.customer
        ),
    )
    .await;
    assert_eq!(page["meta"]["total"], 1);
    let (_, page) = get(&app, &s.m, "/api/v1/channel-blacklists?active=false").await;
    assert_eq!(page["meta"]["total"], 0);
    // Unblock.
    let (status, body) = delete(&app, &s.m, &format!("/api/v1/channel-blacklists/{id}")).await;
    assert_eq!(status, 200);
    assert!(body["data"]["deleted_at"].is_string());
    assert_eq!(
        conversation(&app, &s.m, s.conversation).await["blacklist"],
        Value::Null
    );
    let (status, _) = get(&app, &s.m, &format!("/api/v1/channel-blacklists/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        inbound(
            &app,
            s.channel,
            &s.secret,
            json!({"address": "+905321234567", "message": "sorry"})
        )
        .await
        .0,
        201
    );
    // Expiry frees the slot for a new entry, with no job having run.
    let (status, body) = post(&app, &s.m, "/api/v1/channel-blacklists", json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "rate_limit", "ttl_seconds": 60})).await;
    assert_eq!(status, 201);
    let short = body["data"]["id"].as_i64().unwrap();
    app.advance(60);
    let (_, body) = get(&app, &s.m, &format!("/api/v1/channel-blacklists/{short}")).await;
    assert_eq!(body["data"]["is_expired"], true);
    assert_eq!(body["data"]["is_active"], false);
    assert_eq!(
        conversation(&app, &s.m, s.conversation).await["blacklist"],
        Value::Null
    );
    let (status, _) = post(
        &app,
        &s.m,
        "/api/v1/channel-blacklists",
        json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual"}),
    )
    .await;
    assert_eq!(status, 201);
    // Validation.
    let other = app.member("Other").await;
    let foreign_channel = app.channel(other.tenant, ChannelType::Whatsapp, "X").await;
    for (body, field, message) in [
        (json!({}), "channel_id", "The channel id field is required."),
        (
            json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "rude"}),
            "reason",
            "The selected reason is invalid.",
        ),
        (
            json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual", "ttl_seconds": 0}),
            "ttl_seconds",
            "The ttl seconds field must be at least 1.",
        ),
        (
            json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual", "note": "x".repeat(1001)}),
            "note",
            "The note field must not be greater than 1000 characters.",
        ),
        (
            json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual", "metadata": "x"}),
            "metadata",
            "The metadata field must be an array.",
        ),
        (
            json!({"channel_id": foreign_channel, "customer_id": s.customer, "reason": "manual"}),
            "channel_id",
            "The selected channel id is invalid.",
        ),
        (
            json!({"channel_id": s.channel, "customer_id": 999999, "reason": "manual"}),
            "customer_id",
            "The selected customer id is invalid.",
        ),
    ] {
        let (status, response) = post(&app, &s.m, "/api/v1/channel-blacklists", body.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(response["errors"][field][0], message, "{body}");
    }
}

async fn channels_crud_roles_and_secret_rotation(app: TestApp) {
    let s = setup(&app).await;
    let (status, page) = get(&app, &s.m, "/api/v1/channels").await;
    assert_eq!(status, 200);
    assert_eq!(page["meta"]["total"], 1);
    assert_eq!(page["data"][0]["type"], "whatsapp");
    assert!(
        page["data"][0].get("inbound_secret").is_none(),
        "the secret is shown only once"
    );
    let (status, body) = put(
        &app,
        &s.m,
        &format!("/api/v1/channels/{}", s.channel),
        json!({"name": "Resepsiyon", "settings": {"greeting": "Merhaba"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["name"], "Resepsiyon");
    assert_eq!(body["data"]["settings"]["greeting"], "Merhaba");
    let (status, body) = put(
        &app,
        &s.m,
        &format!("/api/v1/channels/{}", s.channel),
        json!({"type": "telegram"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["type"][0],
        "The type field cannot be changed."
    );
    let (status, body) = post(
        &app,
        &s.m,
        "/api/v1/channels",
        json!({"type": "sms", "name": ""}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"]["type"][0], "The selected type is invalid.");
    assert_eq!(body["errors"]["name"][0], "The name field is required.");
    // Rotation: the old secret stops working at once.
    let (status, body) = post(
        &app,
        &s.m,
        &format!("/api/v1/channels/{}/secret", s.channel),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let fresh = body["data"]["inbound_secret"].as_str().unwrap().to_string();
    assert_ne!(fresh, s.secret);
    assert_eq!(
        inbound(
            &app,
            s.channel,
            &s.secret,
            json!({"address": "+905321234567", "message": "x"})
        )
        .await
        .0,
        401
    );
    let bearer = app
        .client
        .post(app.url(&format!("/api/v1/channels/{}/inbound", s.channel)))
        .bearer_auth(&fresh)
        .json(&json!({"address": "+905321234567", "message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 201, "Authorization: Bearer works too");
    // Roles: an agent reads channels but cannot manage them.
    let agent = app
        .join(s.m.tenant, "agent@clinic.test", &["read", "write"])
        .await;
    app.store
        .put_membership(
            TenantId(s.m.tenant),
            switchboard_core::UserId(agent.user),
            switchboard_core::Role::Agent,
            app.now(),
        )
        .await
        .unwrap();
    assert_eq!(get(&app, &agent, "/api/v1/channels").await.0, 200);
    let (status, body) = post(
        &app,
        &agent,
        "/api/v1/channels",
        json!({"type": "telegram", "name": "Bot", "address": "@bot"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_role"))
    );
    assert_eq!(
        delete(&app, &agent, &format!("/api/v1/channels/{}", s.channel))
            .await
            .0,
        403
    );
    assert_eq!(
        post(
            &app,
            &agent,
            "/api/v1/channel-blacklists",
            json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual"})
        )
        .await
        .0,
        403
    );
    assert_eq!(get(&app, &agent, "/api/v1/channel-blacklists").await.0, 200);
    // Delete: gone from the list, refuses ingest, conversations remain.
    let (status, _) = delete(&app, &s.m, &format!("/api/v1/channels/{}", s.channel)).await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&app, &s.m, &format!("/api/v1/channels/{}", s.channel))
            .await
            .0,
        404
    );
    assert_eq!(
        inbound(
            &app,
            s.channel,
            &fresh,
            json!({"address": "+905321234567", "message": "x"})
        )
        .await
        .0,
        401
    );
    assert_eq!(
        get(
            &app,
            &s.m,
            &format!("/api/v1/conversations/{}", s.conversation)
        )
        .await
        .0,
        200
    );
}

/// The ingest's gate caches each channel with its secret's hash (one query fewer per
/// delivery). A change made through this server takes effect at once; one made
/// elsewhere (another server, an operator's SQL: here by hand in the database) once
/// the revocation watcher sees the serial the channels' triggers move. Nothing refused
/// is stored.
async fn cached_channel_secrets_follow_every_change(app: TestApp) {
    let s = setup(&app).await;
    let delivery = |n: u32| json!({"address": "+905321234567", "message": "Merhaba", "external_id": format!("wamid.cache.{n}")});
    let status = |secret: String, n: u32| {
        let app = &app;
        async move { inbound(app, s.channel, &secret, delivery(n)).await.0 }
    };
    // The first delivery reads the channel, the second finds it cached.
    assert_eq!(status(s.secret.clone(), 1).await, 201);
    assert_eq!(status(s.secret.clone(), 2).await, 201);
    assert_eq!(status("sbc_not_the_secret".into(), 3).await, 401);

    let rotate = format!("/api/v1/channels/{}/secret", s.channel);
    let (code, body) = post(&app, &s.m, &rotate, json!({})).await;
    assert_eq!(code, 200, "{body}");
    let rotated = body["data"]["inbound_secret"].as_str().unwrap().to_string();
    assert_eq!(
        status(s.secret.clone(), 4).await,
        401,
        "rotated here: at once"
    );
    assert_eq!(status(rotated.clone(), 5).await, 201);

    let by_hand = "sbc_set_by_hand_in_the_database";
    let hash = hex::encode(Sha256::digest(by_hand.as_bytes()));
    app.change_made_elsewhere(app.db.execute(&format!(
        "UPDATE channels SET inbound_secret_hash = '{hash}' WHERE id = {}",
        s.channel
    )))
    .await;
    assert_eq!(status(rotated, 6).await, 401, "rotated elsewhere");
    assert_eq!(status(by_hand.into(), 7).await, 201);

    app.change_made_elsewhere(app.db.execute(&format!(
        "UPDATE channels SET deleted_at = updated_at WHERE id = {}",
        s.channel
    )))
    .await;
    assert_eq!(status(by_hand.into(), 8).await, 401, "deleted elsewhere");

    // A second channel, cached, then deleted through this server.
    let (code, body) = post(
        &app,
        &s.m,
        "/api/v1/channels",
        json!({"type": "telegram", "name": "Bot", "address": "@clinic_bot"}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let bot = body["data"]["id"].as_i64().unwrap();
    let bot_secret = body["data"]["inbound_secret"].as_str().unwrap().to_string();
    let to_bot = |n: u32| json!({"address": "@ayse_yilmaz", "message": "Selam", "external_id": format!("tg.cache.{n}")});
    assert_eq!(inbound(&app, bot, &bot_secret, to_bot(1)).await.0, 201);
    let (code, _) = delete(&app, &s.m, &format!("/api/v1/channels/{bot}")).await;
    assert_eq!(code, 200);
    assert_eq!(
        inbound(&app, bot, &bot_secret, to_bot(2)).await.0,
        401,
        "deleted here: at once"
    );

    let stored = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM messages WHERE tenant_id = {} \
             AND (external_id LIKE 'wamid.cache.%' OR external_id LIKE 'tg.cache.%')",
            s.m.tenant
        ))
        .await;
    assert_eq!(stored, 5, "deliveries 1, 2, 5, 7 and the bot's first");
}

async fn customers_crud_search_and_validation(app: TestApp) {
    let s = setup(&app).await;
    let (status, body) = post(&app, &s.m, "/api/v1/customers", json!({"first_name": "Işıl", "last_name": "Öztürk", "phone_number": "+90 533 765 43 21", "email": "isil@example.com", "default_channel_id": s.channel})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_i64().unwrap();
    assert_eq!(body["data"]["phone_number"], "+905337654321");
    let (_, page) = get(&app, &s.m, "/api/v1/customers?search=ISIL").await;
    assert_eq!(page["meta"]["total"], 1);
    let (_, page) = get(&app, &s.m, "/api/v1/customers?search=765%2043").await;
    assert_eq!(page["data"][0]["id"], id);
    let (_, page) = get(&app, &s.m, "/api/v1/customers?search=ay%C5%9Fe").await;
    assert_eq!(
        page["data"][0]["id"], s.customer,
        "customers made by a conversation are searchable"
    );
    let (_, page) = get(
        &app,
        &s.m,
        "/api/v1/customers?sort_by=first_name&sort_order=asc",
    )
    .await;
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["first_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ayşe", "Işıl"]);
    // Renaming a customer re-indexes its conversations.
    let (status, body) = put(
        &app,
        &s.m,
        &format!("/api/v1/customers/{}", s.customer),
        json!({"first_name": "Ayşegül", "last_name": "Kaya"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["phone_number"], "+905321234567",
        "fields not sent are kept"
    );
    assert_eq!(app.list(&s.m, "search=kaya").await["meta"]["total"], 1);
    assert_eq!(
        conversation(&app, &s.m, s.conversation).await["display_name"],
        "Ayşegül Kaya"
    );
    for (body, field, message) in [
        (
            json!({"email": "not-an-email"}),
            "email",
            "The email field must be a valid email address.",
        ),
        (
            json!({"avatar_url": "javascript:alert(1)"}),
            "avatar_url",
            "The avatar url field must be a valid URL.",
        ),
        (
            json!({"phone_number": "12"}),
            "phone_number",
            "The phone number field must be a valid phone number in international format.",
        ),
        (
            json!({"phone_number": "+90 532 123 45 67 890"}),
            "phone_number",
            "The phone number field must not be greater than 20 characters.",
        ),
        (
            json!({"default_channel_id": 999999}),
            "default_channel_id",
            "The selected default channel id is invalid.",
        ),
    ] {
        let (status, response) = post(&app, &s.m, "/api/v1/customers", body.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(response["errors"][field][0], message, "{body}");
    }
    let (status, body) = get(&app, &s.m, "/api/v1/customers?sort_by=password").await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["sort_by"][0],
        "The selected sort by is invalid."
    );
}

const PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A retried upload with the same `Idempotency-Key` replays the first answer and
/// leaves one message and one stored file behind, not a copy per retry.
async fn media_retry_with_idempotency_key_stores_one_message_and_one_file(app: TestApp) {
    let s = setup(&app).await;
    let url = app.url(&format!(
        "/api/v1/conversations/{}/messages/media",
        s.conversation
    ));
    let upload = || {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("scan.png"),
            )
            .text("message", "Röntgen");
        app.client
            .post(&url)
            .bearer_auth(&s.m.token)
            .header("X-Tenant", s.m.tenant.to_string())
            .header("Idempotency-Key", "upload-1")
            .multipart(form)
            .send()
    };
    let mut ids = Vec::new();
    for attempt in 0..3 {
        let response = upload().await.unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(
            response
                .headers()
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap().to_string()),
            (attempt > 0).then(|| "true".to_string())
        );
        let body: Value = response.json().await.unwrap();
        ids.push(body["data"]["message_id"].as_str().unwrap().to_string());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let (_, page) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    assert_eq!(page["meta"]["total"], 1);
    let files = files_on_disk(&app, s.m.tenant);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(".png"), "{files:?}");
    // The conversation shows the media message as its last one.
    let (_, conversation) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}", s.conversation),
    )
    .await;
    assert_eq!(conversation["data"]["last_message_type"], "image");
    assert_eq!(conversation["data"]["last_message_id"], ids[0].as_str());
}

async fn media_round_trip_with_expiring_url(app: TestApp) {
    let s = setup(&app).await;
    let url = app.url(&format!(
        "/api/v1/conversations/{}/messages/media",
        s.conversation
    ));
    let upload = |bytes: Vec<u8>, name: &'static str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            )
            .text("message", "Röntgen sonucu");
        app.client
            .post(&url)
            .bearer_auth(&s.m.token)
            .header("X-Tenant", s.m.tenant.to_string())
            .multipart(form)
            .send()
    };
    // Named .txt, but the bytes are a PNG: the bytes decide.
    let response = upload(PNG.to_vec(), "scan.txt").await.unwrap();
    assert_eq!(response.status(), 201);
    let (_, page) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    let m = &page["data"][0];
    assert_eq!(m["message_type"], "image");
    assert_eq!(m["message"], "Röntgen sonucu");
    assert_eq!(m["file"], "scan.txt");
    assert_eq!(m["file_mime_type"], "image/png");
    let link = m["file_temporary_url"]
        .as_str()
        .expect("signed url")
        .to_string();
    let fetched = app.client.get(&link).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers().get("content-type").unwrap(), "image/png");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), PNG.as_slice());
    let tampered = link.replace("signature=", "signature=0");
    let refused = app.client.get(&tampered).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_signature", "{body}");
    let message_id = m["id"].as_i64().expect("message id");
    let other_message = link.replace(
        &format!("message={message_id}"),
        &format!("message={}", message_id + 1),
    );
    assert_ne!(other_message, link);
    assert_eq!(
        app.client
            .get(&other_message)
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "the signature binds the message"
    );
    // The same bytes again: one file on disk, held by two messages.
    assert_eq!(
        upload(PNG.to_vec(), "again.png").await.unwrap().status(),
        201
    );
    let (_, page) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    let second_link = page["data"][0]["file_temporary_url"]
        .as_str()
        .expect("signed url")
        .to_string();
    assert_eq!(page["data"][1]["id"].as_i64(), Some(message_id));
    // Deleting the first message takes its file away at once, not when its link
    // expires; the second message's link still serves the same bytes.
    delete_message(&app, &s, message_id).await;
    let gone = app.client.get(&link).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
    let kept = app.client.get(&second_link).send().await.unwrap();
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.bytes().await.unwrap().as_ref(), PNG.as_slice());
    // A link names its tenant by the key: another tenant's file cannot be reached
    // by changing the key's tenant (the signature binds the key).
    let other_tenant = second_link.replacen(
        &format!("/files/{}/", s.m.tenant),
        &format!("/files/{}/", s.m.tenant + 1),
        1,
    );
    assert_ne!(other_tenant, second_link);
    assert_eq!(
        app.client.get(&other_tenant).send().await.unwrap().status(),
        403
    );
    let link = second_link;
    app.advance(app.config.file_url_ttl_secs);
    assert_eq!(
        app.client.get(&link).send().await.unwrap().status(),
        403,
        "expired"
    );
    // A script named .png is not an image.
    let response = upload(b"#!/bin/sh\nrm -rf /\n".to_vec(), "photo.png")
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"]["file"][0]
        .as_str()
        .unwrap()
        .starts_with("The file must be"));
    let no_file = app
        .client
        .post(&url)
        .bearer_auth(&s.m.token)
        .header("X-Tenant", s.m.tenant.to_string())
        .multipart(reqwest::multipart::Form::new().text("message", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_file.status(), 422);
    let json_body = post(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages/media", s.conversation),
        json!({}),
    )
    .await;
    assert_eq!(json_body.0, 415);
}

async fn delivery_status_follows_its_state_machine(app: TestApp) {
    let s = setup(&app).await;
    let (_, body) = post(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
        json!({"message": "x"}),
    )
    .await;
    let id: i64 = body["data"]["message_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tenant = TenantId(s.m.tenant);
    let now = app.now();
    for next in [
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
    ] {
        assert_eq!(
            app.store
                .set_delivery_status(tenant, id, next, None, now)
                .await
                .unwrap(),
            Ok(())
        );
    }
    assert_eq!(
        app.store
            .set_delivery_status(tenant, id, DeliveryStatus::Failed, Some("late".into()), now)
            .await
            .unwrap(),
        Err(DeliveryStatus::Read)
    );
    let (_, page) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    assert_eq!(page["data"][0]["status"], "read");
    let other = app.member("Other").await;
    assert!(
        app.store
            .set_delivery_status(TenantId(other.tenant), id, DeliveryStatus::Sent, None, now)
            .await
            .is_err(),
        "scoped by tenant"
    );
}

async fn other_tenants_ids_are_not_found_on_every_endpoint(app: TestApp) {
    let s = setup(&app).await;
    let (_, body) = post(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
        json!({"message": "private"}),
    )
    .await;
    let message = body["data"]["message_id"].as_str().unwrap().to_string();
    let (_, body) = post(
        &app,
        &s.m,
        "/api/v1/channel-blacklists",
        json!({"channel_id": s.channel, "customer_id": s.customer, "reason": "manual"}),
    )
    .await;
    let blacklist = body["data"]["id"].as_i64().unwrap();
    let intruder = app.member("Intruder").await;
    let c = s.conversation;
    let cases: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{c}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{c}/read"),
            Some(json!({})),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{c}/messages"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{c}/messages"),
            Some(json!({"message": "x"})),
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/conversations/{c}/messages/{message}"),
            Some(json!({"message": "x"})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/conversations/{c}/messages/{message}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{c}/agent"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{c}/agent/disable"),
            Some(json!({})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{c}/agent/enable"),
            Some(json!({})),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            Some(json!({"note": "x"})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/channel-blacklists/{blacklist}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/channels/{}", s.channel),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/channels/{}", s.channel),
            Some(json!({"name": "x"})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/channels/{}", s.channel),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/channels/{}/secret", s.channel),
            Some(json!({})),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/customers/{}", s.customer),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/customers/{}", s.customer),
            Some(json!({"first_name": "x"})),
        ),
    ];
    for (method, path, body) in cases {
        let (status, response) = send(&app, &intruder, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {response}");
        assert!(!response.to_string().contains("private"), "{method} {path}");
    }
    // Lists of the intruder's tenant show none of it.
    for path in [
        "/api/v1/channels",
        "/api/v1/customers",
        "/api/v1/channel-blacklists",
        "/api/v1/conversations",
    ] {
        let (_, page) = get(&app, &intruder, path).await;
        assert_eq!(page["meta"]["total"], 0, "{path}");
    }
    // And nothing changed for the owner.
    let (_, page) = get(&app, &s.m, &format!("/api/v1/conversations/{c}/messages")).await;
    assert_eq!(page["data"][0]["message"], "private");
    assert_eq!(
        get(&app, &s.m, &format!("/api/v1/channels/{}", s.channel))
            .await
            .0,
        200
    );
}

/// Sends `bytes` as a media message; its id.
async fn upload_file(app: &TestApp, s: &Setup, bytes: &[u8], name: &'static str) -> i64 {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name),
    );
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/conversations/{}/messages/media",
            s.conversation
        )))
        .bearer_auth(&s.m.token)
        .header("X-Tenant", s.m.tenant.to_string())
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    body["data"]["message_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("message id")
}

async fn delete_message(app: &TestApp, s: &Setup, message: i64) {
    let path = format!(
        "/api/v1/conversations/{}/messages/{message}",
        s.conversation
    );
    let (status, body) = delete(app, &s.m, &path).await;
    assert_eq!(status, 200, "{body}");
}

/// The tenant's files on disk, by name.
fn files_on_disk(app: &TestApp, tenant: i64) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(app.config.files_dir.join(tenant.to_string()))
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sorted<const N: usize>(names: [&String; N]) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().cloned().collect();
    names.sort();
    names
}

fn file_name(bytes: &[u8], extension: &str) -> String {
    format!("{}.{extension}", hex::encode(Sha256::digest(bytes)))
}

/// One sweep with the server's own settings; (removed, kept).
async fn sweep(app: &TestApp) -> (usize, usize) {
    let report = switchboard::files::sweep_once(&app.state.media, &app.config)
        .await
        .expect("sweep");
    assert_eq!(report.failed, 0, "{:?}", report.first_failure);
    (report.removed, report.held)
}

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";

async fn a_deleted_messages_file_leaves_the_disk_once_no_message_holds_it(app: TestApp) {
    let s = setup(&app).await;
    let neighbour = setup(&app).await;
    let (png, pdf) = (file_name(&PNG, "png"), file_name(PDF, "pdf"));
    let first = upload_file(&app, &s, &PNG, "scan.png").await;
    let second = upload_file(&app, &s, &PNG, "scan-again.png").await;
    let report = upload_file(&app, &s, PDF, "report.pdf").await;
    // Another tenant with the same bytes has a file of its own.
    upload_file(&app, &neighbour, &PNG, "theirs.png").await;
    assert_eq!(files_on_disk(&app, s.m.tenant), sorted([&pdf, &png]));

    delete_message(&app, &s, first).await;
    // Within the hour after an upload a file is left alone, held or not.
    assert_eq!(sweep(&app).await, (0, 0));
    app.advance(sweep_grace_secs(&app) + 1);
    // The second message still holds the picture: every file stays.
    assert_eq!(sweep(&app).await, (0, 3));
    assert_eq!(files_on_disk(&app, s.m.tenant), sorted([&pdf, &png]));
    assert_eq!(sweep(&app).await, (0, 0), "held files are looked at once");

    // The last message holding it deleted: its bytes go, in this tenant only.
    delete_message(&app, &s, second).await;
    assert_eq!(sweep(&app).await, (1, 0));
    assert_eq!(files_on_disk(&app, s.m.tenant), vec![pdf.clone()]);
    assert_eq!(files_on_disk(&app, neighbour.m.tenant), vec![png.clone()]);
    let (_, page) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    let report_link = page["data"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"].as_i64() == Some(report))
        .and_then(|m| m["file_temporary_url"].as_str())
        .expect("the report's link")
        .to_string();
    let fetched = app.client.get(&report_link).send().await.expect("download");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.expect("bytes").as_ref(), PDF);

    // Sent again, the picture is stored anew and served.
    let third = upload_file(&app, &s, &PNG, "once-more.png").await;
    assert_eq!(files_on_disk(&app, s.m.tenant), sorted([&pdf, &png]));
    app.advance(sweep_grace_secs(&app) + 1);
    assert_eq!(sweep(&app).await, (0, 1));
    let (_, page) = get(
        &app,
        &s.m,
        &format!("/api/v1/conversations/{}/messages", s.conversation),
    )
    .await;
    assert_eq!(page["data"][0]["id"].as_i64(), Some(third));
    let link = page["data"][0]["file_temporary_url"]
        .as_str()
        .expect("link")
        .to_string();
    let fetched = app.client.get(&link).send().await.expect("download");
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        fetched.bytes().await.expect("bytes").as_ref(),
        PNG.as_slice()
    );
}

fn sweep_grace_secs(app: &TestApp) -> i64 {
    switchboard::files::sweep_grace(&app.config).num_seconds()
}

async fn the_server_sweeps_unheld_files_on_its_own(app: TestApp) {
    let backend = app.db.backend;
    drop(app);
    let app = TestApp::spawn_with(backend, |c| {
        c.file_sweep_interval = Some(std::time::Duration::from_millis(100))
    })
    .await;
    let s = setup(&app).await;
    let message = upload_file(&app, &s, &PNG, "scan.png").await;
    delete_message(&app, &s, message).await;
    app.advance(sweep_grace_secs(&app) + 1);
    let mut waited = 0;
    while !files_on_disk(&app, s.m.tenant).is_empty() {
        assert!(waited < 100, "the server's sweeper did not remove the file");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
}

async fn an_operator_sweeps_from_the_command_line(app: TestApp) {
    let s = setup(&app).await;
    upload_file(&app, &s, PDF, "report.pdf").await;
    let gone = upload_file(&app, &s, &PNG, "scan.png").await;
    delete_message(&app, &s, gone).await;
    // The command runs on the real clock, months after this server's: both uploads
    // are past their grace period.
    let sweep = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["files", "sweep"])
            .env("SWITCHBOARD_DATABASE_URL", &app.db.url)
            .env("SWITCHBOARD_FILES_DIR", &app.config.files_dir)
            .env_remove("SWITCHBOARD_CONFIG")
            .output()
            .expect("run switchboard files sweep");
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice::<Value>(&output.stdout).expect("one JSON object")
    };
    assert_eq!(sweep(), json!({"removed": 1, "kept": 1}));
    assert_eq!(files_on_disk(&app, s.m.tenant), vec![file_name(PDF, "pdf")]);
    assert_eq!(sweep(), json!({"removed": 0, "kept": 0}));
}
