//! The two seed endpoints, end to end over HTTP, on both backends.

mod common;

use common::{ids, Member, TestApp};
use serde_json::{json, Value};
use switchboard_core::ChannelType;

backend_tests!(
    create_answers_201_with_every_seed_key_and_type,
    create_again_answers_200_and_fills_only_missing_names,
    whatsapp_addresses_are_normalised_to_e164,
    create_validation_follows_laravel,
    list_orders_by_latest_activity_then_id,
    list_reflects_messages_in_last_message_fields,
    search_folds_case_and_turkish_i_and_matches_phone_digits,
    channel_type_filter_and_exact_totals,
    pagination_keeps_filters_and_handles_edges,
    pagination_url_window_uses_separators,
    list_validation_errors,
    tenant_isolation_on_list_show_and_create,
    concurrent_creates_of_one_address_yield_one_conversation,
    blacklist_entry_is_shown_while_it_blocks,
    show_one_conversation,
    a_new_conversation_reads_back_as_answered_on_every_channel_type,
);

/// Every key of the seed's ConversationResource, with its JSON type.
fn assert_seed_shape(c: &Value) {
    let keys: Vec<&str> = c
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
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
            "blacklist"
        ]
    );
    assert!(c["id"].is_i64());
    assert!(c["display_name"].is_string());
    assert!(c["address"].is_string());
    assert!(c["last_message_id"]
        .as_str()
        .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit())));
    assert!(c["unread_count"]
        .as_str()
        .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit())));
    assert!(c["agent_disabled"].is_boolean());
    let customer: Vec<&str> = c["customer"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        customer,
        [
            "id",
            "first_name",
            "last_name",
            "phone_number",
            "avatar_url"
        ]
    );
    let channel: Vec<&str> = c["channel"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(channel, ["id", "name", "type", "address"]);
}

async fn setup(app: &TestApp) -> (Member, i64) {
    let m = app.member("Clinic").await;
    let wa = app
        .channel(m.tenant, ChannelType::Whatsapp, "WhatsApp")
        .await;
    (m, wa)
}

async fn create_answers_201_with_every_seed_key_and_type(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let (status, body) = app
        .create_conversation(&m, json!({"channel_id": wa, "address": "+90 532 123 45 67", "first_name": "Ayşe", "last_name": "Yılmaz"}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["success"].is_string());
    let c = &body["data"];
    assert_seed_shape(c);
    assert_eq!(c["display_name"], "Ayşe Yılmaz");
    assert_eq!(c["address"], "+905321234567");
    assert_eq!(c["last_message_id"], "0");
    assert_eq!(c["unread_count"], "0");
    assert_eq!(c["last_message"], Value::Null);
    assert_eq!(c["last_message_is_customer"], Value::Null);
    assert_eq!(c["agent_disabled"], false);
    assert_eq!(c["blacklist"], Value::Null);
    assert_eq!(c["customer"]["phone_number"], "+905321234567");
    assert_eq!(c["channel"]["type"], "whatsapp");
    assert_eq!(c["channel"]["id"], wa);

    // No name: the display name is the address.
    let web = app.channel(m.tenant, ChannelType::Website, "Web").await;
    let (status, body) = app
        .create_conversation(&m, json!({"channel_id": web, "address": "visitor-42"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["data"]["display_name"], "visitor-42");
    assert_eq!(body["data"]["customer"]["phone_number"], Value::Null);
}

async fn create_again_answers_200_and_fills_only_missing_names(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let (s1, first) = app
        .create_conversation(
            &m,
            json!({"channel_id": wa, "address": "+905551112233", "first_name": "Mehmet"}),
        )
        .await;
    assert_eq!(s1, 201);
    let (s2, again) = app
        .create_conversation(&m, json!({"channel_id": wa, "address": "0090 555 111 22 33", "first_name": "Other", "last_name": "Öztürk"}))
        .await;
    assert_eq!(s2, 200, "{again}");
    assert_eq!(again["data"]["id"], first["data"]["id"]);
    assert_eq!(
        again["data"]["customer"]["first_name"], "Mehmet",
        "existing names are kept"
    );
    assert_eq!(
        again["data"]["customer"]["last_name"], "Öztürk",
        "missing names are filled in"
    );
    assert_eq!(again["data"]["display_name"], "Mehmet Öztürk");
    // The filled-in name is searchable.
    let page = app.list(&m, "search=ozturk").await;
    assert_eq!(
        page["meta"]["total"], 0,
        "ö is not o: only case and i-forms fold"
    );
    let page = app.list(&m, "search=%C3%B6zt%C3%BCrk").await;
    assert_eq!(ids(&page), [first["data"]["id"].as_i64().unwrap()]);
    let page = app.list(&m, "").await;
    assert_eq!(
        page["meta"]["total"], 1,
        "no second conversation was counted"
    );
}

async fn whatsapp_addresses_are_normalised_to_e164(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let mut seen = Vec::new();
    for spelling in [
        "+90 (532) 000-11-22",
        "00905320001122",
        "905320001122",
        "+90.532.000.11.22",
    ] {
        let (status, body) = app
            .create_conversation(&m, json!({"channel_id": wa, "address": spelling}))
            .await;
        assert!(status == 201 || status == 200, "{spelling}: {body}");
        assert_eq!(body["data"]["address"], "+905320001122");
        seen.push(body["data"]["id"].as_i64().unwrap());
    }
    seen.dedup();
    assert_eq!(seen.len(), 1);
    let tg = app
        .channel(m.tenant, ChannelType::Telegram, "Telegram")
        .await;
    let (_, a) = app
        .create_conversation(&m, json!({"channel_id": tg, "address": "@Some_User"}))
        .await;
    let (s, b) = app
        .create_conversation(&m, json!({"channel_id": tg, "address": "some_user"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(a["data"]["id"], b["data"]["id"]);
    assert_eq!(b["data"]["address"], "@some_user");
}

async fn create_validation_follows_laravel(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let other = app.member("Other").await;
    let foreign_channel = app
        .channel(other.tenant, ChannelType::Whatsapp, "Foreign")
        .await;
    let long = "x".repeat(256);
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            json!({}),
            vec![
                ("channel_id", "The channel id field is required."),
                ("address", "The address field is required."),
            ],
        ),
        (
            json!({"channel_id": "abc", "address": "+905321234567"}),
            vec![("channel_id", "The channel id field must be an integer.")],
        ),
        (
            json!({"channel_id": 0, "address": "+905321234567"}),
            vec![("channel_id", "The channel id field must be at least 1.")],
        ),
        (
            json!({"channel_id": 1.5, "address": "+905321234567"}),
            vec![("channel_id", "The channel id field must be an integer.")],
        ),
        (
            json!({"channel_id": foreign_channel, "address": "+905321234567"}),
            vec![("channel_id", "The selected channel id is invalid.")],
        ),
        (
            json!({"channel_id": 999999, "address": "+905321234567"}),
            vec![("channel_id", "The selected channel id is invalid.")],
        ),
        (
            json!({"channel_id": wa, "address": 5321234567_i64}),
            vec![("address", "The address field must be a string.")],
        ),
        (
            json!({"channel_id": wa, "address": long}),
            vec![(
                "address",
                "The address field must not be greater than 255 characters.",
            )],
        ),
        (
            json!({"channel_id": wa, "address": "   "}),
            vec![("address", "The address field is required.")],
        ),
        (
            json!({"channel_id": wa, "address": "not a phone"}),
            vec![(
                "address",
                "The address field must be a valid phone number in international format.",
            )],
        ),
        (
            json!({"channel_id": wa, "address": "+905321234567", "first_name": 12, "last_name": long}),
            vec![
                ("first_name", "The first name field must be a string."),
                (
                    "last_name",
                    "The last name field must not be greater than 255 characters.",
                ),
            ],
        ),
        (
            json!({"channel_id": wa, "address": "+905321234567", "first_name": "a\u{0}b"}),
            vec![(
                "first_name",
                "The first name field must not contain NUL characters.",
            )],
        ),
        (
            json!([1, 2]),
            vec![("body", "The request body must be a JSON object.")],
        ),
    ];
    for (body, expected) in cases {
        let (status, response) = app.create_conversation(&m, body.clone()).await;
        assert_eq!(status, 422, "{body} -> {response}");
        assert_eq!(response["error"], "validation_failed");
        let errors = response["errors"].as_object().expect("errors");
        let got: Vec<(String, String)> = errors
            .iter()
            .map(|(k, v)| (k.clone(), v[0].as_str().unwrap().to_string()))
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want, "{body}");
        let summary = response["message"].as_str().unwrap();
        assert!(summary.starts_with(&want[0].1), "{summary}");
        if want.len() == 2 {
            assert!(summary.ends_with("(and 1 more error)"), "{summary}");
        }
    }
    assert_eq!(
        app.list(&m, "").await["meta"]["total"],
        0,
        "nothing was created"
    );
}

async fn list_orders_by_latest_activity_then_id(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let mut created = Vec::new();
    for i in 0..3 {
        let (_, body) = app
            .create_conversation(
                &m,
                json!({"channel_id": wa, "address": format!("+9053200000{i:02}")}),
            )
            .await;
        created.push(body["data"]["id"].as_i64().unwrap());
        app.advance(60);
    }
    // Same creation second: ties break by id, newest first.
    let (_, tie) = app
        .create_conversation(&m, json!({"channel_id": wa, "address": "+905320000099"}))
        .await;
    let tie = tie["data"]["id"].as_i64().unwrap();
    assert_eq!(
        ids(&app.list(&m, "").await),
        [tie, created[2], created[1], created[0]]
    );
    // A message moves the oldest conversation to the top.
    app.advance(60);
    app.message(&m, created[0], true, "hello").await;
    assert_eq!(
        ids(&app.list(&m, "").await),
        [created[0], tie, created[2], created[1]]
    );
}

async fn list_reflects_messages_in_last_message_fields(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let (_, body) = app
        .create_conversation(&m, json!({"channel_id": wa, "address": "+905320000001"}))
        .await;
    let id = body["data"]["id"].as_i64().unwrap();
    app.advance(30);
    app.message(&m, id, true, "first").await;
    app.advance(30);
    let last = app.message(&m, id, true, "second").await;
    let page = app.list(&m, "").await;
    let c = &page["data"][0];
    assert_seed_shape(c);
    assert_eq!(c["last_message_id"], last.to_string());
    assert_eq!(c["last_message"], "second");
    assert_eq!(c["last_message_type"], "text");
    assert_eq!(c["last_message_is_customer"], true);
    assert_eq!(c["unread_count"], "2");
    assert_eq!(c["last_message_at"], "2026-03-01T09:01:00Z");
    app.advance(30);
    app.message(&m, id, false, "reply").await;
    let c = &app.list(&m, "").await["data"][0];
    assert_eq!(c["last_message_is_customer"], false);
    assert_eq!(c["unread_count"], "2", "agent messages are not unread");
}

async fn search_folds_case_and_turkish_i_and_matches_phone_digits(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let tg = app
        .channel(m.tenant, ChannelType::Telegram, "Telegram")
        .await;
    let mut id = std::collections::HashMap::new();
    for (key, channel, address, first, last) in [
        ("ismail", wa, "+905321234567", "İsmail", "Kaya"),
        ("yilmaz", wa, "+905339876543", "Ayşe", "YILMAZ"),
        ("isik", tg, "@isik_user", "Işık", "Demir"),
        ("john", tg, "123456789", "John", "Smith"),
    ] {
        let (status, body) = app
            .create_conversation(&m, json!({"channel_id": channel, "address": address, "first_name": first, "last_name": last}))
            .await;
        assert_eq!(status, 201, "{body}");
        id.insert(key, body["data"]["id"].as_i64().unwrap());
    }
    let find = |q: &'static str| {
        let app = &app;
        let m = &m;
        async move {
            let encoded: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
            let page = app.list(m, &format!("search={encoded}&per_page=100")).await;
            assert_eq!(
                page["meta"]["total"].as_i64().unwrap() as usize,
                page["data"].as_array().unwrap().len()
            );
            let mut found = ids(&page);
            found.sort();
            found
        }
    };
    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    assert_eq!(find("ismail").await, [id["ismail"]]);
    assert_eq!(find("İSMAİL").await, [id["ismail"]]);
    assert_eq!(find("yilmaz").await, [id["yilmaz"]]);
    assert_eq!(find("Yılmaz").await, [id["yilmaz"]]);
    assert_eq!(find("ışık").await, [id["isik"]]);
    assert_eq!(find("ISIK").await, [id["isik"]]);
    assert_eq!(find("ayşe yıl").await, [id["yilmaz"]], "full name");
    assert_eq!(
        find("532 123 45").await,
        [id["ismail"]],
        "phone with spaces"
    );
    assert_eq!(
        find("(533) 987-65").await,
        [id["yilmaz"]],
        "phone with punctuation"
    );
    assert_eq!(find("+90").await, sorted(vec![id["ismail"], id["yilmaz"]]));
    assert_eq!(
        find("456789").await,
        [id["john"]],
        "telegram chat id digits"
    );
    assert_eq!(find("@isik").await, [id["isik"]], "address");
    assert_eq!(
        find("th").await,
        [id["john"]],
        "short fragments work without the index"
    );
    assert_eq!(find("k").await, sorted(vec![id["ismail"], id["isik"]]));
    assert_eq!(find("nobody").await, Vec::<i64>::new());
    assert_eq!(
        find("100%").await,
        Vec::<i64>::new(),
        "LIKE metacharacters are literal"
    );
    assert_eq!(
        find("_").await,
        sorted(vec![id["isik"]]),
        "underscore is literal"
    );
    assert_eq!(find("   ").await.len(), 4, "a blank search is no search");
    // Search combines with the channel filter.
    let page = app
        .list(&m, "search=i&channel_type=telegram&per_page=100")
        .await;
    let mut got = ids(&page);
    got.sort();
    assert_eq!(
        got,
        sorted(vec![id["isik"], id["john"]]),
        "smith and işık both hold an i"
    );
}

async fn channel_type_filter_and_exact_totals(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let ig = app
        .channel(m.tenant, ChannelType::Instagram, "Instagram")
        .await;
    let web = app.channel(m.tenant, ChannelType::Website, "Web").await;
    for i in 0..5 {
        app.create_conversation(
            &m,
            json!({"channel_id": wa, "address": format!("+90532111{i:04}")}),
        )
        .await;
    }
    for i in 0..3 {
        app.create_conversation(
            &m,
            json!({"channel_id": ig, "address": format!("insta.user{i}")}),
        )
        .await;
    }
    app.create_conversation(&m, json!({"channel_id": web, "address": "v1"}))
        .await;
    // Repeats are not counted twice.
    app.create_conversation(&m, json!({"channel_id": web, "address": "v1"}))
        .await;
    assert_eq!(app.list(&m, "").await["meta"]["total"], 9);
    assert_eq!(
        app.list(&m, "channel_type=whatsapp").await["meta"]["total"],
        5
    );
    let ig_page = app.list(&m, "channel_type=instagram").await;
    assert_eq!(ig_page["meta"]["total"], 3);
    assert!(ig_page["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["channel"]["type"] == "instagram"));
    assert_eq!(
        app.list(&m, "channel_type=telegram").await["meta"]["total"],
        0
    );
    let actual = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM conversations WHERE tenant_id = {}",
            m.tenant
        ))
        .await;
    assert_eq!(actual, 9, "the counter agrees with the rows");
}

async fn pagination_keeps_filters_and_handles_edges(app: TestApp) {
    let (m, wa) = setup(&app).await;
    // Empty list.
    let empty = app.list(&m, "").await;
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["meta"]["total"], 0);
    assert_eq!(empty["meta"]["last_page"], 1);
    assert_eq!(empty["meta"]["from"], Value::Null);
    assert_eq!(empty["meta"]["to"], Value::Null);
    assert_eq!(empty["links"]["next"], Value::Null);
    assert_eq!(empty["links"]["prev"], Value::Null);
    let top: Vec<&str> = empty
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["data", "links", "meta"]);
    let meta_keys: Vec<&str> = empty["meta"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        meta_keys,
        [
            "current_page",
            "from",
            "last_page",
            "links",
            "path",
            "per_page",
            "to",
            "total"
        ]
    );
    assert_eq!(empty["meta"]["path"], app.url("/api/v1/conversations"));

    for i in 0..6 {
        app.create_conversation(
            &m,
            json!({"channel_id": wa, "address": format!("+90532222{i:04}"), "first_name": "Can"}),
        )
        .await;
    }
    // Exact multiple of per_page: two full pages, no third.
    let p2 = app
        .list(&m, "per_page=3&page=2&search=can&channel_type=whatsapp")
        .await;
    assert_eq!(p2["data"].as_array().unwrap().len(), 3);
    assert_eq!(
        (p2["meta"]["from"].as_i64(), p2["meta"]["to"].as_i64()),
        (Some(4), Some(6))
    );
    assert_eq!(p2["meta"]["last_page"], 2);
    assert_eq!(p2["links"]["next"], Value::Null);
    let base = app.url("/api/v1/conversations");
    assert_eq!(
        p2["links"]["prev"],
        format!("{base}?per_page=3&search=can&channel_type=whatsapp&page=1")
    );
    assert_eq!(
        p2["links"]["first"],
        format!("{base}?per_page=3&search=can&channel_type=whatsapp&page=1")
    );
    assert_eq!(
        p2["links"]["last"],
        format!("{base}?per_page=3&search=can&channel_type=whatsapp&page=2")
    );
    let links = p2["meta"]["links"].as_array().unwrap();
    assert_eq!(links.len(), 4);
    assert_eq!(
        links[0],
        json!({"url": format!("{base}?per_page=3&search=can&channel_type=whatsapp&page=1"), "label": "&laquo; Previous", "page": 1, "active": false})
    );
    assert_eq!(links[2]["active"], true);
    assert_eq!(links[2]["label"], "2");
    assert_eq!(
        links[3],
        json!({"url": null, "label": "Next &raquo;", "page": null, "active": false})
    );
    // Following next walks the same filtered list without repeats.
    let mut seen = Vec::new();
    let mut next = Some(format!("{base}?per_page=4"));
    while let Some(url) = next {
        let page: Value = app
            .client
            .get(&url)
            .bearer_auth(&m.token)
            .header("X-Tenant", m.tenant.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(ids(&page));
        next = page["links"]["next"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 6);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6);
    // Past the end: not clamped.
    let past = app.list(&m, "per_page=3&page=5").await;
    assert_eq!(past["data"], json!([]));
    assert_eq!(past["meta"]["current_page"], 5);
    assert_eq!(past["meta"]["from"], Value::Null);
    assert_eq!(past["links"]["next"], Value::Null);
    assert_eq!(past["links"]["prev"], format!("{base}?per_page=3&page=4"));
    // An empty page still knows the total, whether the page and its total are one
    // statement (the first 50,000 rows) or the total is asked first (deeper).
    assert_eq!(past["meta"]["total"], 6);
    for deep in [
        "per_page=100&page=501",
        "per_page=100&page=502",
        "page=100000",
    ] {
        let page = app.list(&m, deep).await;
        assert_eq!(page["data"], json!([]), "{deep}");
        assert_eq!(page["meta"]["total"], 6, "{deep}");
    }
    let none_of_the_type = app.list(&m, "channel_type=telegram").await;
    assert_eq!(none_of_the_type["data"], json!([]));
    assert_eq!(none_of_the_type["meta"]["total"], 0);
    // A page far beyond anything addressable is still just empty.
    let far = app.list(&m, "page=9223372036854775807").await;
    assert_eq!(far["data"], json!([]));
}

async fn pagination_url_window_uses_separators(app: TestApp) {
    let (m, wa) = setup(&app).await;
    for i in 0..20 {
        app.create_conversation(
            &m,
            json!({"channel_id": wa, "address": format!("+90532333{i:04}")}),
        )
        .await;
    }
    let labels = |page: &Value| -> Vec<String> {
        page["meta"]["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["label"].as_str().unwrap().to_string())
            .collect()
    };
    let middle = app.list(&m, "per_page=1&page=10").await;
    assert_eq!(
        labels(&middle),
        [
            "&laquo; Previous",
            "1",
            "2",
            "...",
            "7",
            "8",
            "9",
            "10",
            "11",
            "12",
            "13",
            "...",
            "19",
            "20",
            "Next &raquo;"
        ]
    );
    let gap = &middle["meta"]["links"][3];
    assert_eq!(
        gap,
        &json!({"url": null, "label": "...", "active": false}),
        "a separator has no page key"
    );
    let start = app.list(&m, "per_page=1&page=2").await;
    assert_eq!(
        labels(&start)[1..13],
        ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "...", "19"]
    );
    let end = app.list(&m, "per_page=1&page=19").await;
    assert_eq!(labels(&end)[1..5], ["1", "2", "...", "11"]);
    assert_eq!(end["meta"]["links"][4]["page"], 11);
}

async fn list_validation_errors(app: TestApp) {
    let (m, _) = setup(&app).await;
    let long = "a".repeat(256);
    for (query, field, message) in [
        (
            "per_page=0",
            "per_page",
            "The per page field must be at least 1.",
        ),
        (
            "per_page=101",
            "per_page",
            "The per page field must not be greater than 100.",
        ),
        (
            "per_page=ten",
            "per_page",
            "The per page field must be an integer.",
        ),
        (
            "per_page=1180591620717411303424",
            "per_page",
            "The per page field must be an integer.",
        ),
        ("page=0", "page", "The page field must be at least 1."),
        ("page=-3", "page", "The page field must be at least 1."),
        ("page=abc", "page", "The page field must be an integer."),
        (
            "channel_type=sms",
            "channel_type",
            "The selected channel type is invalid.",
        ),
        (
            "channel_type=WhatsApp",
            "channel_type",
            "The selected channel type is invalid.",
        ),
        ("search[]=a", "search", "The search field must be a string."),
        (
            &format!("search={long}"),
            "search",
            "The search field must not be greater than 255 characters.",
        ),
        (
            "search=a%00b",
            "search",
            "The search field must not contain NUL characters.",
        ),
    ] {
        let response = app
            .get(&m, &format!("/api/v1/conversations?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "validation_failed");
        assert_eq!(body["errors"][field][0], message, "{query}");
        assert_eq!(body["message"], message);
    }
    // Empty values mean "not given", as in Laravel.
    assert_eq!(
        app.list(&m, "per_page=&page=&search=&channel_type=").await["meta"]["per_page"],
        15
    );
}

async fn tenant_isolation_on_list_show_and_create(app: TestApp) {
    let (a, wa_a) = setup(&app).await;
    let (b, wa_b) = setup(&app).await;
    let (_, ca) = app
        .create_conversation(
            &a,
            json!({"channel_id": wa_a, "address": "+905320000001", "first_name": "Alice"}),
        )
        .await;
    let (_, cb) = app
        .create_conversation(
            &b,
            json!({"channel_id": wa_b, "address": "+905320000001", "first_name": "Bob"}),
        )
        .await;
    assert_ne!(
        ca["data"]["id"], cb["data"]["id"],
        "same address in two tenants: two conversations"
    );
    let list_a = app.list(&a, "per_page=100").await;
    assert_eq!(ids(&list_a), [ca["data"]["id"].as_i64().unwrap()]);
    assert!(!list_a.to_string().contains("Bob"));
    assert_eq!(app.list(&a, "search=bob").await["meta"]["total"], 0);
    assert_eq!(app.list(&b, "search=alice").await["meta"]["total"], 0);
    // Another tenant's conversation id is simply not found.
    let response = app
        .get(&b, &format!("/api/v1/conversations/{}", ca["data"]["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // Another tenant's channel is an invalid channel id.
    let (status, body) = app
        .create_conversation(&b, json!({"channel_id": wa_a, "address": "+905320000002"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["channel_id"][0],
        "The selected channel id is invalid."
    );
    // A's token with B's tenant id: 403, same as a tenant that does not exist.
    for tenant in [b.tenant.to_string(), "999999".to_string()] {
        let response = app
            .client
            .get(app.url("/api/v1/conversations"))
            .bearer_auth(&a.token)
            .header("X-Tenant", &tenant)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "tenant_forbidden");
    }
}

async fn concurrent_creates_of_one_address_yield_one_conversation(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let requests = (0..20).map(|i| {
        let app = &app;
        let m = &m;
        async move {
            app.create_conversation(m, json!({"channel_id": wa, "address": "+905329998877", "first_name": format!("N{i}")})).await
        }
    });
    let results = futures::future::join_all(requests).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let existing = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, existing), (1, 19), "{results:?}");
    let mut ids: Vec<i64> = results
        .iter()
        .map(|(_, b)| b["data"]["id"].as_i64().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.list(&m, "").await["meta"]["total"], 1);
    let rows = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM conversations WHERE tenant_id = {}",
            m.tenant
        ))
        .await;
    assert_eq!(rows, 1);
    let customers = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM customers WHERE tenant_id = {}",
            m.tenant
        ))
        .await;
    assert_eq!(customers, 1, "losing creates leave no customer behind");
}

async fn blacklist_entry_is_shown_while_it_blocks(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let (_, c) = app
        .create_conversation(
            &m,
            json!({"channel_id": wa, "address": "+905321110000", "first_name": "Spam"}),
        )
        .await;
    let customer = c["data"]["customer"]["id"].as_i64().unwrap();
    let now = "2026-03-01T09:00:00+00:00";
    let expires = "2026-03-01T11:05:00+00:00";
    app.db
        .execute(&format!(
            "INSERT INTO channel_blacklists (tenant_id, channel_id, customer_id, reason, note, metadata, blocked_at, expires_at, is_active, created_at, updated_at) \
             VALUES ({t}, {wa}, {customer}, 'llm_spam', 'bot', '{{\"score\": 0.9}}', '{now}', '{expires}', TRUE, '{now}', '{now}')",
            t = m.tenant
        ))
        .await;
    let page = app.list(&m, "").await;
    let b = &page["data"][0]["blacklist"];
    let keys: Vec<&str> = b
        .as_object()
        .expect("blacklist object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "tenant_id",
            "reason",
            "reason_label",
            "note",
            "blocked_at",
            "expires_at",
            "is_active",
            "is_permanent",
            "is_expired",
            "remaining_time",
            "metadata",
            "created_at",
            "updated_at",
            "deleted_at",
            "channel",
            "customer"
        ]
    );
    assert_eq!(b["reason"], "llm_spam");
    assert_eq!(b["reason_label"], "LLM spam");
    assert_eq!(b["is_active"], true);
    assert_eq!(b["is_permanent"], false);
    assert_eq!(b["is_expired"], false);
    assert_eq!(b["remaining_time"], "2 hours 5 minutes");
    assert_eq!(b["expires_at"], "2026-03-01T11:05:00Z");
    assert_eq!(b["metadata"], json!({"score": 0.9}));
    assert_eq!(b["tenant_id"], m.tenant);
    assert_eq!(b["customer"]["id"], customer);
    assert_eq!(b["channel"]["id"], wa);
    // Once expired, the conversation no longer shows it.
    app.advance(2 * 3600 + 5 * 60);
    assert_eq!(app.list(&m, "").await["data"][0]["blacklist"], Value::Null);
}

async fn show_one_conversation(app: TestApp) {
    let (m, wa) = setup(&app).await;
    let (_, c) = app
        .create_conversation(&m, json!({"channel_id": wa, "address": "+905321110001"}))
        .await;
    let id = c["data"]["id"].as_i64().unwrap();
    let response = app
        .get(&m, &format!("/api/v1/conversations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"], c["data"]);
    for bad in ["0", "-1", "abc", "99999999"] {
        let response = app
            .get(&m, &format!("/api/v1/conversations/{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    }
}

/// A new key's conversation is made in one round trip that builds the answer from what
/// it wrote (`plan::create_conversation_at_once`: one statement on PostgreSQL, one
/// script on SQLite). The answer is what every later read shows, and the search keys
/// and cached search totals include it at once.
async fn a_new_conversation_reads_back_as_answered_on_every_channel_type(app: TestApp) {
    let m = app.member("Clinic").await;
    for (i, channel_type) in ChannelType::ALL.into_iter().enumerate() {
        let channel = app
            .channel(m.tenant, channel_type, channel_type.as_str())
            .await;
        let whatsapp = channel_type == ChannelType::Whatsapp;
        let address = match channel_type {
            ChannelType::Whatsapp => "+90 532 700 00 01".to_string(),
            ChannelType::Telegram => format!("@sule{i}"),
            _ => format!("sule{i}"),
        };
        let (status, created) = app
            .create_conversation(
                &m,
                json!({"channel_id": channel, "address": address, "first_name": "Şule", "last_name": "Öztürk"}),
            )
            .await;
        assert_eq!(status, 201, "{channel_type:?}: {created}");
        let data = &created["data"];
        assert_seed_shape(data);
        assert_eq!(data["channel"]["id"], channel);
        assert_eq!(data["channel"]["type"], channel_type.as_str());
        assert_eq!(
            data["unread_count"], "0",
            "the seed answers counts as strings"
        );
        assert!(data["blacklist"].is_null(), "{data}");
        assert_eq!(data["customer"]["first_name"], "Şule");
        assert_eq!(
            data["customer"]["phone_number"].is_string(),
            whatsapp,
            "only a WhatsApp address is a phone number: {data}"
        );
        let id = data["id"].as_i64().expect("id");
        let shown: Value = app
            .get(&m, &format!("/api/v1/conversations/{id}"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(shown["data"], *data, "{channel_type:?}");
        // Counted at once: the total, and a search total kept from the previous round.
        let found = app.list(&m, "search=%C3%B6zt%C3%BCrk").await;
        assert_eq!(found["meta"]["total"], i + 1, "{channel_type:?}: {found}");
        assert_eq!(app.list(&m, "").await["meta"]["total"], i + 1);
        let again = app
            .create_conversation(&m, json!({"channel_id": channel, "address": address}))
            .await;
        assert_eq!(again.0, 200, "{again:?}");
        assert_eq!(again.1["data"]["id"], id);
    }
    let by_phone = app.list(&m, "search=5327000001").await;
    assert_eq!(by_phone["meta"]["total"], 1, "{by_phone}");
    assert_eq!(by_phone["data"][0]["channel"]["type"], "whatsapp");
}
