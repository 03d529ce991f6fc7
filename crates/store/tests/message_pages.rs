//! A conversation's messages, page by page: a page with messages comes with its total
//! from one statement, and an empty page still tells an empty conversation (or a page
//! past the end) from a conversation that is not the tenant's.

use chrono::{DateTime, Duration, TimeZone, Utc};
use switchboard_core::{NewMessage, PageRequest};

mod common;
use common::TestDb;

crate::backend_tests!(message_pages_carry_their_total_and_tell_missing_from_empty);

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid start time")
        + Duration::minutes(minutes)
}

async fn message_pages_carry_their_total_and_tell_missing_from_empty(db: TestDb) {
    let store = db.store.as_ref();
    let tenant = store.create_tenant("A", at(0)).await.expect("tenant").id;
    let other = store.create_tenant("B", at(0)).await.expect("tenant").id;
    let full = common::conversation_on_a_new_channel(store, tenant, "1001", at(1)).await;
    let empty = common::conversation_on_a_new_channel(store, tenant, "1002", at(1)).await;
    let others = common::conversation_on_a_new_channel(store, other, "1003", at(1)).await;
    let mut ids = Vec::new();
    for k in 0..5 {
        let id = store
            .add_message(
                tenant,
                full,
                NewMessage {
                    user_id: None,
                    user_name: None,
                    is_customer: k % 2 == 0,
                    message_type: "text".into(),
                    body: Some(format!("message {k}")),
                    external_id: None,
                    status: None,
                    sent_at: at(10 + k),
                },
            )
            .await
            .expect("message");
        ids.push(id);
    }
    // The other tenant's conversation has messages too: none of them may show.
    store
        .add_message(
            other,
            others,
            NewMessage {
                user_id: None,
                user_name: None,
                is_customer: true,
                message_type: "text".into(),
                body: Some("elsewhere".into()),
                external_id: None,
                status: None,
                sent_at: at(20),
            },
        )
        .await
        .expect("other tenant's message");

    let page = |conversation: i64, page: i64, per_page: i64| async move {
        store
            .list_messages(tenant, conversation, PageRequest { page, per_page })
            .await
            .expect("list messages")
    };
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    for (number, expected) in [
        (1, &newest_first[0..2]),
        (2, &newest_first[2..4]),
        (3, &newest_first[4..5]),
        (4, &newest_first[5..5]),
    ] {
        let found = page(full, number, 2)
            .await
            .expect("the conversation is there");
        let found_ids: Vec<i64> = found.items.iter().map(|m| m.id).collect();
        assert_eq!(found_ids, expected, "page {number}");
        assert_eq!(found.total, 5, "page {number}'s total");
        assert!(
            found.items.iter().all(|m| m.conversation_id == full),
            "page {number}: messages of the conversation only"
        );
    }
    let beyond = page(full, i64::MAX, 100)
        .await
        .expect("the conversation is there");
    assert!(beyond.items.is_empty());
    assert_eq!(
        beyond.total, 5,
        "a page past anything addressable still counts"
    );

    let nothing = page(empty, 1, 20)
        .await
        .expect("an empty conversation is there");
    assert!(nothing.items.is_empty());
    assert_eq!(nothing.total, 0);

    assert!(
        page(others, 1, 20).await.is_none(),
        "another tenant's conversation is not found"
    );
    assert!(
        page(i64::MAX, 1, 20).await.is_none(),
        "no such conversation"
    );
}
