//! The data and the pages on which two ways of reading the conversation list must
//! agree: each backend's own list reader (`sqlite_direct.rs`, `postgres_direct.rs`)
//! against sqlx's (`list::SqlxReader`): every column, every kind of page, instants
//! and blacklist entries included.

use crate::list::{ConversationReader, ListSettings};
use crate::search_counts::SearchCounts;
use chrono::{DateTime, Utc};
use switchboard_core::search::SearchPattern;
use switchboard_core::*;

/// Options for the store under comparison: both ways of finding a search's page
/// (a walk of the list and the search index), on little data.
pub(crate) fn options() -> crate::StoreOptions {
    crate::StoreOptions {
        search_walk_max: 40,
        ..crate::StoreOptions::default()
    }
}

/// A tenant of 60 conversations on two channels with every kind of row the
/// comparison is about; returns it and an instant after all of them.
async fn seed(store: &impl Store) -> (TenantId, DateTime<Utc>) {
    let now = Utc::now();
    let tenant = store.create_tenant("Klinik", now).await.expect("tenant").id;
    let user = store
        .create_user(
            NewUser {
                email: "ayse@example.com".into(),
                name: "Ayşe Yılmaz".into(),
                password_hash: "x".into(),
            },
            now,
        )
        .await
        .expect("user");
    let mut channels = Vec::new();
    for (k, channel_type) in [ChannelType::Whatsapp, ChannelType::Instagram]
        .into_iter()
        .enumerate()
    {
        let channel = NewChannel {
            channel_type,
            name: format!("Kanal {k}"),
            address: format!("kanal{k}"),
            inbound_secret_hash: "0".repeat(64),
        };
        channels.push(
            store
                .create_channel(tenant, channel, now)
                .await
                .expect("channel"),
        );
    }
    let names = ["Öztürk", "Smith", "Çelik", "Johnson"];
    for n in 0..60i64 {
        let channel = &channels[(n % 2) as usize];
        let address = match channel.channel_type {
            ChannelType::Whatsapp => format!("+90532{:07}", 1_000_000 + n),
            _ => format!("user{n}"),
        };
        let new = NewConversation {
            channel_id: channel.id,
            address,
            first_name: (n % 5 != 0).then(|| format!("Ad{n}")),
            last_name: Some(names[(n % 4) as usize].to_string()),
        };
        let at = now + chrono::Duration::seconds(n);
        let conversation = store
            .create_conversation(tenant, new, at)
            .await
            .expect("create")
            .value;
        if n % 3 == 0 {
            let message = OutboundMessage {
                user_id: Some(user.id),
                user_name: user.name.clone(),
                message_type: "text".into(),
                body: Some(format!("Merhaba {n}, randevunuz yarın saat 14:30'da.")),
                quoted_message_id: None,
                file: None,
            };
            store
                .send_message(tenant, conversation.id, message, None, at)
                .await
                .expect("send");
        }
        if n % 7 == 0 {
            let switch = AgentSwitch {
                disabled: true,
                expires_at: Some(at + chrono::Duration::hours(2)),
                disabled_by_user_name: Some(user.name.clone()),
            };
            store
                .set_agent(tenant, conversation.id, switch, Some(user.id), at)
                .await
                .expect("agent");
        }
        if n % 11 == 0 {
            let entry = NewBlacklist {
                channel_id: channel.id,
                customer_id: conversation.customer.id,
                reason: BlacklistReason::AbusiveLanguage,
                note: Some("küfür".into()),
                metadata: serde_json::json!({"source": "test", "n": n}),
                expires_at: (n % 2 == 0).then(|| at + chrono::Duration::days(1)),
            };
            store
                .create_blacklist(tenant, entry, at)
                .await
                .expect("blacklist")
                .expect("a new entry");
        }
    }
    let later = now + chrono::Duration::minutes(5);
    (tenant, later)
}

/// The filters and pages compared: no filter, a channel type, names, phone digits
/// and nothing found; shallow, deep, large and past the end.
fn requests() -> Vec<(ConversationFilter, PageRequest)> {
    let filters = [
        ConversationFilter::default(),
        ConversationFilter {
            channel_type: Some(ChannelType::Instagram),
            search: None,
        },
        ConversationFilter {
            channel_type: None,
            search: SearchPattern::parse("öztürk"),
        },
        ConversationFilter {
            channel_type: Some(ChannelType::Whatsapp),
            search: SearchPattern::parse("smi"),
        },
        ConversationFilter {
            channel_type: None,
            search: SearchPattern::parse("532 100"),
        },
        ConversationFilter {
            channel_type: None,
            search: SearchPattern::parse("nobody"),
        },
    ];
    let pages = [(1, 15), (2, 7), (1, 100), (9, 10), (1_000, 15)];
    filters
        .iter()
        .flat_map(|filter| {
            pages.map(|(page, per_page)| (filter.clone(), PageRequest { page, per_page }))
        })
        .collect()
}

/// Seeds the store (`seed`) and lists every request (`requests`) through a reader
/// from `direct` and one from `sqlx`: the totals and every field of every
/// conversation must be the same.
pub(crate) async fn readers_agree<D, S>(
    store: &impl Store,
    counts: &SearchCounts,
    settings: ListSettings,
    direct: impl Fn() -> D,
    sqlx: impl Fn() -> S,
) where
    D: ConversationReader,
    S: ConversationReader,
{
    let (tenant, later) = seed(store).await;
    let mut compared = 0;
    for (filter, page) in &requests() {
        use crate::list::list_conversations as list;
        let (reader, other_reader) = (&mut direct(), &mut sqlx());
        let one = list(reader, counts, settings, tenant, filter, *page, later).await;
        let other = list(other_reader, counts, settings, tenant, filter, *page, later).await;
        let (one, other) = (one.expect("direct"), other.expect("sqlx"));
        assert_eq!(one.total, other.total, "{filter:?} {page:?}");
        assert_eq!(one.items, other.items, "{filter:?} {page:?}");
        compared += one.items.len();
    }
    assert_compared_every_kind(store, tenant, later, compared).await;
}

/// Checks that the seeded data has what the comparison is about, and that the pages
/// compared held enough rows (`compared`).
async fn assert_compared_every_kind(
    store: &impl Store,
    tenant: TenantId,
    later: DateTime<Utc>,
    compared: usize,
) {
    // The data has every kind of row the comparison is about.
    let all = store
        .list_conversations(
            tenant,
            &ConversationFilter::default(),
            PageRequest {
                page: 1,
                per_page: 100,
            },
            later,
        )
        .await
        .expect("all");
    assert_eq!(all.total, 60);
    assert!(all
        .items
        .iter()
        .any(|c| c.blacklist.as_ref().is_some_and(|b| b.expires_at.is_some())));
    assert!(all
        .items
        .iter()
        .any(|c| c.blacklist.as_ref().is_some_and(|b| b.expires_at.is_none())));
    assert!(all
        .items
        .iter()
        .any(|c| c.agent.disabled && c.agent.disabled_by_user_name.is_some()));
    assert!(all.items.iter().any(|c| c.last_message.is_some()));
    assert!(all.items.iter().any(|c| c.customer.first_name.is_none()));
    assert!(compared > 200, "pages had rows to compare: {compared}");
}
