//! Every read of a conversation returns each of its columns in its own field.
//!
//! Conversation rows are decoded by position (`rows::ConversationRow` for sqlx,
//! `sqlite_direct::conversation_row` for SQLite's direct reader), so a column read
//! into the wrong field would only show in the values. This test gives every column of
//! two conversations a value no other column of the same type has (ids, counts,
//! instants, texts; the flags differ between the two conversations), then reads them
//! back through each path a conversation is read by and compares whole records, built
//! from what was written, not from what a read returned.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::HashSet;
use switchboard_core::search::SearchPattern;
use switchboard_core::{
    AgentSwitch, BlacklistEntry, BlacklistPatch, BlacklistReason, ChannelSummary, ChannelType,
    Conversation, ConversationFilter, Customer, CustomerFields, LastMessage, NewBlacklist,
    NewChannel, NewConversation, NewMessage, NewUser, PageRequest, Store, TenantId,
};

mod common;
use common::TestDb;

crate::backend_tests!(every_read_of_a_conversation_returns_each_column_in_its_field);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid start time")
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

async fn every_read_of_a_conversation_returns_each_column_in_its_field(db: TestDb) {
    let store = db.store.as_ref();

    // Another tenant's rows come first, so that no two id columns of one conversation
    // happen to hold the same number.
    let other = store
        .create_tenant("Other", at(0))
        .await
        .expect("tenant")
        .id;
    let other_channel = channel(store, other, ChannelType::Telegram, "Other", "other_bot").await;
    for (i, channel_type) in [
        ChannelType::Whatsapp,
        ChannelType::Instagram,
        ChannelType::Website,
    ]
    .into_iter()
    .enumerate()
    {
        channel(
            store,
            other,
            channel_type,
            &format!("Other {i}"),
            &format!("other-{i}"),
        )
        .await;
    }
    for i in 0..7 {
        let created = store
            .create_conversation(
                other,
                NewConversation {
                    channel_id: other_channel.id,
                    address: format!("{}", 1000 + i),
                    first_name: None,
                    last_name: None,
                },
                at(1),
            )
            .await
            .expect("other tenant's conversation");
        for j in 0..3 {
            add_message(
                store,
                other,
                created.value.id,
                true,
                "text",
                &format!("m{j}"),
                at(2),
            )
            .await;
        }
        if i < 5 {
            store
                .create_blacklist(
                    other,
                    NewBlacklist {
                        channel_id: other_channel.id,
                        customer_id: created.value.customer.id,
                        reason: BlacklistReason::Manual,
                        note: None,
                        metadata: serde_json::json!({}),
                        expires_at: None,
                    },
                    at(3),
                )
                .await
                .expect("store")
                .expect("other tenant's blacklist entry");
        }
    }

    let tenant = store
        .create_tenant("Klinik Şifa", at(10))
        .await
        .expect("tenant")
        .id;
    let user = store
        .create_user(
            NewUser {
                email: "ayse@example.com".into(),
                name: "Ayşe Demir".into(),
                password_hash: "not used here".into(),
            },
            at(10),
        )
        .await
        .expect("user");
    let whatsapp = channel(
        store,
        tenant,
        ChannelType::Whatsapp,
        "Şifa WhatsApp",
        "+90 212 555 00 00",
    )
    .await;
    let instagram = channel(
        store,
        tenant,
        ChannelType::Instagram,
        "Şifa Instagram",
        "sifa.klinik",
    )
    .await;

    for name in ["Filler 1", "Filler 2", "Filler 3"] {
        store
            .create_customer(
                tenant,
                CustomerFields {
                    first_name: Some(Some(name.into())),
                    ..CustomerFields::default()
                },
                at(20),
            )
            .await
            .expect("a customer without a conversation");
    }

    // A: customer messages then an agent's reply, the agent switched off until a set
    // time, a blacklist entry with every field set and updated later.
    let a = store
        .create_conversation(
            tenant,
            NewConversation {
                channel_id: whatsapp.id,
                address: "+90 532 123 45 67".into(),
                first_name: Some("Şule".into()),
                last_name: Some("Yıldız".into()),
            },
            at(60),
        )
        .await
        .expect("conversation A");
    assert!(a.created, "conversation A is new");
    let (a_id, a_customer, a_address) = stored_keys(&db, tenant, whatsapp.id).await;
    store
        .update_customer(
            tenant,
            a_customer,
            CustomerFields {
                phone_number: Some(Some("+905321234567".into())),
                email: Some(Some("sule@example.com".into())),
                avatar_url: Some(Some("https://cdn.example.com/sule.png".into())),
                ..CustomerFields::default()
            },
            at(70),
        )
        .await
        .expect("store")
        .expect("customer A");
    for (minute, body) in [
        (120, "Merhaba"),
        (121, "Randevu alabilir miyim?"),
        (122, "Yarın olur mu?"),
    ] {
        add_message(store, tenant, a_id, true, "text", body, at(minute)).await;
    }
    let a_last = add_message(
        store,
        tenant,
        a_id,
        false,
        "text",
        "Yarın 10:00 uygun.",
        at(150),
    )
    .await;
    let a_agent = AgentSwitch {
        disabled: true,
        expires_at: Some(at(5 * 24 * 60)),
        disabled_by_user_name: Some("Ayşe Demir".into()),
    };
    assert!(store
        .set_agent(tenant, a_id, a_agent.clone(), Some(user.id), at(180))
        .await
        .expect("set the agent switch"));
    let a_blacklist = store
        .create_blacklist(
            tenant,
            NewBlacklist {
                channel_id: whatsapp.id,
                customer_id: a_customer,
                reason: BlacklistReason::LlmSpam,
                note: Some("reklam".into()),
                metadata: serde_json::json!({"score": 0.97, "source": "llm"}),
                expires_at: Some(at(30 * 24 * 60)),
            },
            at(240),
        )
        .await
        .expect("store")
        .expect("blacklist entry A");
    store
        .update_blacklist(
            tenant,
            a_blacklist.id,
            BlacklistPatch {
                note: Some(Some("tekrarlayan reklam".into())),
                ..BlacklistPatch::default()
            },
            at(300),
        )
        .await
        .expect("store")
        .expect("entry A exists")
        .expect("entry A updated");
    // The store sets blocked_at to the creation time; a time of its own shows a swap of
    // the two columns.
    db.set_blacklist_blocked_at(a_blacklist.id, at(230)).await;

    // B: the opposite flags (agent on, last message from the customer), an image last,
    // a blacklist entry with the optional fields empty.
    let b = store
        .create_conversation(
            tenant,
            NewConversation {
                channel_id: instagram.id,
                address: "ahmet.kaya".into(),
                first_name: Some("Ahmet".into()),
                last_name: Some("Kaya".into()),
            },
            at(90),
        )
        .await
        .expect("conversation B");
    assert!(b.created, "conversation B is new");
    let (b_id, b_customer, b_address) = stored_keys(&db, tenant, instagram.id).await;
    add_message(store, tenant, b_id, false, "text", "Hoş geldiniz", at(95)).await;
    add_message(store, tenant, b_id, true, "text", "Fiyat nedir?", at(96)).await;
    let b_last = add_message(store, tenant, b_id, true, "image", "Fotoğraf", at(97)).await;
    let b_blacklist = store
        .create_blacklist(
            tenant,
            NewBlacklist {
                channel_id: instagram.id,
                customer_id: b_customer,
                reason: BlacklistReason::AbusiveLanguage,
                note: None,
                metadata: serde_json::json!({}),
                expires_at: None,
            },
            at(200),
        )
        .await
        .expect("store")
        .expect("blacklist entry B");

    let a_channel = summary(&whatsapp);
    let a_customer_record = Customer {
        id: a_customer,
        first_name: Some("Şule".into()),
        last_name: Some("Yıldız".into()),
        phone_number: Some("+905321234567".into()),
        email: Some("sule@example.com".into()),
        avatar_url: Some("https://cdn.example.com/sule.png".into()),
    };
    let expected_a = Conversation {
        id: a_id,
        tenant_id: tenant,
        address: a_address.clone(),
        customer: a_customer_record.clone(),
        channel: a_channel.clone(),
        last_message: Some(LastMessage {
            id: a_last,
            preview: Some("Yarın 10:00 uygun.".into()),
            at: at(150),
            message_type: "text".into(),
            is_customer: false,
        }),
        unread_count: 3,
        agent: a_agent,
        blacklist: Some(BlacklistEntry {
            id: a_blacklist.id,
            tenant_id: tenant,
            reason: BlacklistReason::LlmSpam,
            note: Some("tekrarlayan reklam".into()),
            metadata: serde_json::json!({"score": 0.97, "source": "llm"}),
            blocked_at: at(230),
            expires_at: Some(at(30 * 24 * 60)),
            is_active: true,
            created_at: at(240),
            updated_at: at(300),
            deleted_at: None,
            channel: a_channel,
            customer: a_customer_record,
        }),
        created_at: at(60),
    };
    let b_channel = summary(&instagram);
    let b_customer_record = Customer {
        id: b_customer,
        first_name: Some("Ahmet".into()),
        last_name: Some("Kaya".into()),
        phone_number: None,
        email: None,
        avatar_url: None,
    };
    let expected_b = Conversation {
        id: b_id,
        tenant_id: tenant,
        address: b_address.clone(),
        customer: b_customer_record.clone(),
        channel: b_channel.clone(),
        last_message: Some(LastMessage {
            id: b_last,
            preview: Some("Fotoğraf".into()),
            at: at(97),
            message_type: "image".into(),
            is_customer: true,
        }),
        unread_count: 2,
        agent: AgentSwitch::default(),
        blacklist: Some(BlacklistEntry {
            id: b_blacklist.id,
            tenant_id: tenant,
            reason: BlacklistReason::AbusiveLanguage,
            note: None,
            metadata: serde_json::json!({}),
            blocked_at: at(200),
            expires_at: None,
            is_active: true,
            created_at: at(200),
            updated_at: at(200),
            deleted_at: None,
            channel: b_channel,
            customer: b_customer_record,
        }),
        created_at: at(90),
    };

    // The test is only as strong as its values: in A every column holds a value no other
    // column of its type holds, and every flag differs between A and B.
    let numbers = [
        ("id", a_id),
        ("tenant_id", tenant.0),
        ("channel_id", whatsapp.id),
        ("customer_id", a_customer),
        ("last_message_id", a_last),
        ("unread_count", 3),
        ("blacklist_id", a_blacklist.id),
    ];
    assert_distinct("A's integer columns", &numbers);
    let instants = [
        ("created_at", at(60)),
        ("last_message_at", at(150)),
        ("agent_expires_at", at(5 * 24 * 60)),
        ("blacklist_blocked_at", at(230)),
        ("blacklist_expires_at", at(30 * 24 * 60)),
        ("blacklist_created_at", at(240)),
        ("blacklist_updated_at", at(300)),
    ];
    assert_distinct("A's instant columns", &instants);
    let texts = [
        ("address", a_address.clone()),
        ("channel_name", whatsapp.name.clone()),
        ("channel_type", "whatsapp".to_string()),
        ("channel_address", whatsapp.address.clone()),
        ("first_name", "Şule".into()),
        ("last_name", "Yıldız".into()),
        ("phone_number", "+905321234567".into()),
        ("email", "sule@example.com".into()),
        ("avatar_url", "https://cdn.example.com/sule.png".into()),
        ("last_message_preview", "Yarın 10:00 uygun.".into()),
        ("last_message_type", "text".into()),
        ("agent_disabled_by_user_name", "Ayşe Demir".into()),
        ("blacklist_reason", "llm_spam".into()),
        ("blacklist_note", "tekrarlayan reklam".into()),
        (
            "blacklist_metadata",
            serde_json::json!({"score": 0.97, "source": "llm"}).to_string(),
        ),
    ];
    assert_distinct("A's text columns", &texts);
    let flags = |c: &Conversation| {
        (
            c.agent.disabled,
            c.last_message.as_ref().map(|m| m.is_customer),
        )
    };
    assert_eq!(flags(&expected_a), (true, Some(false)), "A's flags");
    assert_eq!(flags(&expected_b), (false, Some(true)), "B's flags");
    assert_ne!(expected_b.unread_count, expected_a.unread_count);

    let now = at(360);
    let read = |id| async move {
        store
            .get_conversation(tenant, id, now)
            .await
            .expect("get conversation")
            .expect("the conversation exists")
    };
    assert_eq!(read(a_id).await, expected_a, "get A");
    assert_eq!(read(b_id).await, expected_b, "get B");

    let list = |filter: ConversationFilter, page: i64, per_page: i64| async move {
        store
            .list_conversations(tenant, &filter, PageRequest { page, per_page }, now)
            .await
            .expect("list conversations")
    };
    // Most recent activity first: A's last message is the later one.
    let all = list(ConversationFilter::default(), 1, 20).await;
    assert_eq!(all.total, 2, "both conversations counted");
    assert_eq!(
        all.items,
        vec![expected_a.clone(), expected_b.clone()],
        "list"
    );
    let second = list(ConversationFilter::default(), 2, 1).await;
    assert_eq!(second.items, vec![expected_b.clone()], "list page 2 of 1");
    let by_type = |channel_type| ConversationFilter {
        channel_type: Some(channel_type),
        search: None,
    };
    assert_eq!(
        list(by_type(ChannelType::Whatsapp), 1, 20).await.items,
        vec![expected_a.clone()],
        "channel_type whatsapp"
    );
    assert_eq!(
        list(by_type(ChannelType::Instagram), 1, 20).await.items,
        vec![expected_b.clone()],
        "channel_type instagram"
    );
    for (query, expected) in [
        ("şule", &expected_a),
        ("532 123", &expected_a),
        ("kaya", &expected_b),
    ] {
        let filter = ConversationFilter {
            channel_type: None,
            search: Some(SearchPattern::parse(query).expect("a search pattern")),
        };
        let found = list(filter, 1, 20).await;
        assert_eq!(found.items, vec![expected.clone()], "search {query:?}");
        assert_eq!(found.total, 1, "search {query:?} counted");
    }

    // Creating an existing conversation returns it, through the create's own decoder.
    let again = store
        .create_conversation(
            tenant,
            NewConversation {
                channel_id: whatsapp.id,
                address: "+90 532 123 45 67".into(),
                first_name: None,
                last_name: None,
            },
            now,
        )
        .await
        .expect("create A again");
    assert!(!again.created, "A existed");
    assert_eq!(again.value, expected_a, "create A again");

    assert_eq!(
        list_total(store, other).await,
        7,
        "the other tenant sees its own conversations only"
    );
}

async fn channel(
    store: &dyn Store,
    tenant: TenantId,
    channel_type: ChannelType,
    name: &str,
    address: &str,
) -> switchboard_core::Channel {
    store
        .create_channel(
            tenant,
            NewChannel {
                channel_type,
                name: name.into(),
                address: address.into(),
                inbound_secret_hash: format!("{:064x}", tenant.0 * 10 + channel_type as i64),
            },
            at(0),
        )
        .await
        .expect("create channel")
}

fn summary(channel: &switchboard_core::Channel) -> ChannelSummary {
    ChannelSummary {
        id: channel.id,
        name: channel.name.clone(),
        channel_type: channel.channel_type,
        address: channel.address.clone(),
    }
}

async fn add_message(
    store: &dyn Store,
    tenant: TenantId,
    conversation_id: i64,
    is_customer: bool,
    message_type: &str,
    body: &str,
    sent_at: DateTime<Utc>,
) -> i64 {
    store
        .add_message(
            tenant,
            conversation_id,
            NewMessage {
                user_id: None,
                user_name: None,
                is_customer,
                message_type: message_type.into(),
                body: Some(body.into()),
                external_id: None,
                status: None,
                sent_at,
            },
        )
        .await
        .expect("add message")
}

/// The only conversation of the channel: its id, customer and stored address, read
/// from the table itself rather than through the decoder under test.
async fn stored_keys(db: &TestDb, tenant: TenantId, channel_id: i64) -> (i64, i64, String) {
    let rows = db
        .conversation_keys(
            "SELECT id, customer_id, address FROM conversations WHERE tenant_id = $1 AND channel_id = $2",
            tenant.0,
            channel_id,
        )
        .await;
    assert_eq!(rows.len(), 1, "one conversation on channel {channel_id}");
    rows.into_iter().next().expect("one row")
}

async fn list_total(store: &dyn Store, tenant: TenantId) -> i64 {
    store
        .list_conversations(
            tenant,
            &ConversationFilter::default(),
            PageRequest {
                page: 1,
                per_page: 20,
            },
            at(360),
        )
        .await
        .expect("list")
        .total
}

fn assert_distinct<T: std::hash::Hash + Eq + std::fmt::Debug>(what: &str, values: &[(&str, T)]) {
    let mut seen = HashSet::new();
    for (name, value) in values {
        assert!(
            seen.insert(value),
            "{what}: {name} = {value:?} is not unique: {values:?}"
        );
    }
}
