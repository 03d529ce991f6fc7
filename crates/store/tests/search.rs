//! Store-level tests of conversation search, conversation totals and index use, on
//! each backend (the harness is in `common`).
//!
//! Random data come from a fixed seed, so a failure reproduces; set
//! `SWITCHBOARD_TEST_SEED` to try another one.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::Connection;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use switchboard_core::address;
use switchboard_core::search::{conversation_key, digit_suffixes, fold, SearchPattern};
use switchboard_core::{
    ChannelType, Conversation, ConversationFilter, Created, CustomerFields, NewChannel,
    NewConversation, PageRequest, Store, TenantId,
};
use switchboard_store::{Database, StoreOptions};

const DEFAULT_SEED: u64 = 0x5eed_2026_0301;
const PER_PAGE: i64 = 100;

mod common;
use common::{Backend, TestDb};

impl TestDb {
    /// Rows in `conversations` for the tenant (and channel type), counted directly.
    async fn count_rows(&self, tenant: TenantId, channel_type: Option<ChannelType>) -> i64 {
        self.count_rows_with_key(tenant, channel_type, None).await
    }

    /// Rows in `conversations` for the tenant (and channel type) whose search key holds
    /// `needle` (plain ASCII: `instr` and `strpos` compare bytes), counted directly.
    async fn count_rows_with_key(
        &self,
        tenant: TenantId,
        channel_type: Option<ChannelType>,
        needle: Option<&str>,
    ) -> i64 {
        let mut sql = "SELECT COUNT(*) FROM conversations WHERE tenant_id = $1".to_string();
        if channel_type.is_some() {
            sql.push_str(" AND channel_type = $2");
        }
        if let Some(needle) = needle {
            assert!(
                needle.bytes().all(|b| b.is_ascii_lowercase() || b == b' '),
                "a plain needle"
            );
            let function = match self.backend {
                Backend::Sqlite => "instr",
                Backend::Postgres => "strpos",
            };
            sql.push_str(&format!(" AND {function}(search_key, '{needle}') > 0"));
        }
        crate::on_raw_connection!(self, "count conversation rows", |conn| {
            let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(tenant.0);
            if let Some(t) = channel_type {
                query = query.bind(t.as_str());
            }
            query.fetch_one(conn)
        })
    }
}

backend_tests!(
    search_matches_reference_semantics,
    totals_count_each_conversation_once,
    search_is_served_by_an_index,
    search_totals_follow_every_change_of_the_tenants_keys,
    search_totals_stay_exact_under_concurrent_new_conversations,
    digit_searches_use_their_index_and_older_rows_are_derived,
    list_pages_skip_over_the_narrow_indexes_and_walks_read_the_wide_ones,
);

// ---------------------------------------------------------------------------
// Data.

fn seed() -> u64 {
    std::env::var("SWITCHBOARD_TEST_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid start time")
}

const FIRST_NAMES: &[&str] = &[
    "İsmail",
    "Işıl",
    "Ilgın",
    "İpek",
    "Irmak",
    "Şule",
    "Şükrü",
    "Ömer",
    "Özge",
    "Ümit",
    "Üzeyir",
    "Çağla",
    "Çiğdem",
    "Gökhan",
    "Ayşe",
    "Ağah",
    "Mehmet",
    "Ahmet",
    "Ali",
    "Büşra",
    "Doğan",
    "Eylül",
    "Oğuz",
    "Yiğit",
    "John",
    "Emily",
    "Isaac",
    "Iris",
    "Ian",
    "Olivia",
    "Chloe",
    "Mary Ann",
    // Decomposed spellings: Ş as S + COMBINING CEDILLA, İ as i + COMBINING DOT ABOVE.
    "S\u{327}ule",
    "i\u{307}smail",
];

const LAST_NAMES: &[&str] = &[
    "Yılmaz",
    "Öztürk",
    "Çelik",
    "Şahin",
    "Doğan",
    "Kılıç",
    "Aydın",
    "Özdemir",
    "Arslan",
    "Güneş",
    "Işık",
    "İnce",
    "Ilıcalı",
    "Koç",
    "Ağaoğlu",
    "Çiftçi",
    "Gündoğdu",
    "Smith",
    "Johnson",
    "Irving",
    "Illingworth",
    "O'Brien",
    "Van Dijk",
    "Williams",
];

const USERNAMES: &[&str] = &[
    "ahmet", "ismail", "isil", "sule", "omer", "ayse", "john", "emily", "irmak", "ian", "gokhan",
];

/// `s` in one of several casings, Turkish-aware or not.
fn random_case(rng: &mut StdRng, s: &str) -> String {
    match rng.gen_range(0..6) {
        0 => s.to_string(),
        1 => s.to_uppercase(),
        2 => s.to_lowercase(),
        3 => s
            .chars()
            .map(|c| match c {
                'i' => "İ".to_string(),
                'ı' => "I".to_string(),
                c => c.to_uppercase().collect(),
            })
            .collect(),
        4 => s
            .chars()
            .map(|c| match c {
                'I' => "ı".to_string(),
                'İ' => "i".to_string(),
                c => c.to_lowercase().collect(),
            })
            .collect(),
        _ => {
            let mut out = String::new();
            for c in s.chars() {
                if rng.gen_bool(0.5) {
                    out.extend(c.to_uppercase());
                } else {
                    out.extend(c.to_lowercase());
                }
            }
            out
        }
    }
}

/// A name as a customer might type it: random casing, sometimes stray whitespace.
fn random_name(rng: &mut StdRng, pool: &[&str]) -> String {
    let base = *pool.choose(rng).expect("name pool is not empty");
    let name = random_case(rng, base);
    match rng.gen_range(0..12) {
        0 => format!("  {name} "),
        1 => name.replace(' ', " \t "),
        _ => name,
    }
}

/// A chars-based substring of `s` of `min..=max` chars (shorter if `s` is).
fn random_substring(rng: &mut StdRng, s: &str, min: usize, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let len = rng
        .gen_range(min.max(1)..=max.max(min.max(1)))
        .min(chars.len());
    let start = rng.gen_range(0..=chars.len() - len);
    chars[start..start + len].iter().collect()
}

/// A fresh, normalised address for a channel type; `n` keeps it unique.
fn random_address(rng: &mut StdRng, channel_type: ChannelType, n: usize) -> String {
    let address = match channel_type {
        ChannelType::Whatsapp => match rng.gen_range(0..10) {
            0 => format!("+447{:09}", rng.gen_range(0..1_000_000_000u64)),
            1 => format!(
                "+1{}{:09}",
                rng.gen_range(2..10),
                rng.gen_range(0..1_000_000_000u64)
            ),
            _ => format!("+905{:09}", rng.gen_range(0..1_000_000_000u64)),
        },
        ChannelType::Telegram => match rng.gen_range(0..3) {
            0 => format!("{}", rng.gen_range(10_000_000..10_000_000_000u64)),
            1 => format!("-100{:010}", rng.gen_range(0..10_000_000_000u64)),
            _ => format!(
                "@{}_{n}",
                USERNAMES.choose(rng).expect("username pool is not empty")
            ),
        },
        ChannelType::Instagram => match rng.gen_range(0..3) {
            0 => format!("1784140{:07}", rng.gen_range(0..10_000_000u64)),
            _ => format!(
                "{}.{}_{n}",
                USERNAMES.choose(rng).expect("username pool is not empty"),
                ["yilmaz", "celik", "smith", "dogan"]
                    .choose(rng)
                    .expect("suffix pool is not empty")
            ),
        },
        // Visitor ids are free text: the place for LIKE and FTS5 metacharacters.
        ChannelType::Website => match rng.gen_range(0..8) {
            0 => format!("Ziyaretçi_%{n}"),
            1 => format!("promo-50%-{n}"),
            2 => format!("back\\slash-{n}"),
            3 => format!("say\"hi\"-{n}"),
            4 => format!("İZMİR_ziyaret {n}"),
            5 => format!("under_score__{n}"),
            _ => format!("visitor-{:06x}-{n}", rng.gen_range(0..0x100_0000u32)),
        },
    };
    assert_eq!(
        address::normalize(channel_type, &address).as_deref(),
        Ok(address.as_str()),
        "generated {channel_type} address must already be normalised"
    );
    address
}

/// What the test believes one stored conversation is.
#[derive(Debug, Clone)]
struct Model {
    id: i64,
    tenant: TenantId,
    channel_id: i64,
    channel_type: ChannelType,
    address: String,
    first: Option<String>,
    last: Option<String>,
    activity: DateTime<Utc>,
}

impl Model {
    fn phone(&self) -> Option<&str> {
        (self.channel_type == ChannelType::Whatsapp).then_some(self.address.as_str())
    }

    fn key(&self) -> String {
        conversation_key(
            self.first.as_deref(),
            self.last.as_deref(),
            &self.address,
            self.phone(),
        )
    }
}

/// Checks a conversation the store returned against the model of it.
fn assert_conversation_is(c: &Conversation, m: &Model, context: &str) {
    assert_eq!(c.id, m.id, "{context}: id");
    assert_eq!(c.tenant_id, m.tenant, "{context}: tenant of {}", m.id);
    assert_eq!(c.address, m.address, "{context}: address of {}", m.id);
    assert_eq!(c.channel.id, m.channel_id, "{context}: channel of {}", m.id);
    assert_eq!(
        c.channel.channel_type, m.channel_type,
        "{context}: channel type of {}",
        m.id
    );
    assert_eq!(
        c.customer.first_name, m.first,
        "{context}: first name of {}",
        m.id
    );
    assert_eq!(
        c.customer.last_name, m.last,
        "{context}: last name of {}",
        m.id
    );
    assert_eq!(
        c.customer.phone_number.as_deref(),
        m.phone(),
        "{context}: phone number of {}",
        m.id
    );
}

async fn create_tenant_with_channels(
    store: &dyn Store,
    name: &str,
    types: &[ChannelType],
    now: DateTime<Utc>,
) -> (TenantId, Vec<(ChannelType, i64)>) {
    let tenant = store
        .create_tenant(name, now)
        .await
        .expect("create tenant")
        .id;
    let mut channels = Vec::new();
    for (i, &channel_type) in types.iter().enumerate() {
        let channel = store
            .create_channel(
                tenant,
                NewChannel {
                    channel_type,
                    name: format!("{name} {channel_type} {i}"),
                    address: format!("{name}-{channel_type}-{i}"),
                    inbound_secret_hash: format!("{:064x}", tenant.0 * 100 + i as i64),
                },
                now,
            )
            .await
            .expect("create channel");
        assert_eq!(channel.tenant_id, tenant, "channel tenant");
        assert_eq!(channel.channel_type, channel_type, "channel type");
        channels.push((channel_type, channel.id));
    }
    (tenant, channels)
}

/// Two tenants with one channel of each type and `per_tenant` conversations each.
/// Tenant B copies a good share of tenant A's customers (same names, same
/// addresses), so any leak across tenants shows in search results.
struct World {
    tenant_a: TenantId,
    tenant_b: TenantId,
    conversations: Vec<Model>,
}

struct Spec {
    channel_type: ChannelType,
    address: String,
    first: Option<String>,
    last: Option<String>,
}

fn random_spec(rng: &mut StdRng, n: usize, used: &mut HashSet<(ChannelType, String)>) -> Spec {
    let channel_type = match rng.gen_range(0..20) {
        0..=8 => ChannelType::Whatsapp,
        9..=12 => ChannelType::Telegram,
        13..=16 => ChannelType::Website,
        _ => ChannelType::Instagram,
    };
    let address = loop {
        let a = random_address(rng, channel_type, n);
        if used.insert((channel_type, a.clone())) {
            break a;
        }
    };
    let first = (!rng.gen_bool(0.08)).then(|| random_name(rng, FIRST_NAMES));
    let last = (!rng.gen_bool(0.08)).then(|| random_name(rng, LAST_NAMES));
    Spec {
        channel_type,
        address,
        first,
        last,
    }
}

async fn seed_world(store: &dyn Store, rng: &mut StdRng, per_tenant: usize) -> World {
    let now = start_time();
    let (tenant_a, channels_a) =
        create_tenant_with_channels(store, "Tenant A", &ChannelType::ALL, now).await;
    let (tenant_b, channels_b) =
        create_tenant_with_channels(store, "Tenant B", &ChannelType::ALL, now).await;
    let channel_of = |channels: &[(ChannelType, i64)], t: ChannelType| {
        channels
            .iter()
            .find(|(ct, _)| *ct == t)
            .map(|(_, id)| *id)
            .expect("a channel of every type")
    };

    let mut used_a = HashSet::new();
    let mut used_b = HashSet::new();
    let specs_a: Vec<Spec> = (0..per_tenant)
        .map(|n| random_spec(rng, n, &mut used_a))
        .collect();
    let specs_b: Vec<Spec> = (0..per_tenant)
        .map(|n| {
            let copy = &specs_a[rng.gen_range(0..specs_a.len())];
            if rng.gen_bool(0.4) && used_b.insert((copy.channel_type, copy.address.clone())) {
                Spec {
                    channel_type: copy.channel_type,
                    address: copy.address.clone(),
                    first: copy.first.clone(),
                    last: copy.last.clone(),
                }
            } else {
                random_spec(rng, per_tenant + n, &mut used_b)
            }
        })
        .collect();

    let mut conversations = Vec::new();
    // Conversations first opened without (some) names, named by a later create.
    let mut late_names: Vec<(usize, Option<String>, Option<String>)> = Vec::new();
    let mut step = 0i64;
    for i in 0..per_tenant {
        for (tenant, channels, spec) in [
            (tenant_a, &channels_a, &specs_a[i]),
            (tenant_b, &channels_b, &specs_b[i]),
        ] {
            // Three conversations share each second: ties are broken by id.
            let created_at = now + Duration::seconds(step / 3);
            step += 1;
            let channel_id = channel_of(channels, spec.channel_type);
            let (first, last) = match rng.gen_range(0..20) {
                0 | 1 => (None, None),
                2 => (spec.first.clone(), None),
                _ => (spec.first.clone(), spec.last.clone()),
            };
            let created = store
                .create_conversation(
                    tenant,
                    NewConversation {
                        channel_id,
                        address: spec.address.clone(),
                        first_name: first.clone(),
                        last_name: last.clone(),
                    },
                    created_at,
                )
                .await
                .expect("create conversation");
            assert!(
                created.created,
                "first create of {:?} on {} must create",
                spec.address, spec.channel_type
            );
            let model = Model {
                id: created.value.id,
                tenant,
                channel_id,
                channel_type: spec.channel_type,
                address: spec.address.clone(),
                first: first.clone(),
                last: last.clone(),
                activity: created_at,
            };
            assert_conversation_is(&created.value, &model, "created conversation");
            if first != spec.first || last != spec.last {
                late_names.push((conversations.len(), spec.first.clone(), spec.last.clone()));
            } else if first.is_some() && last.is_some() && i % 15 == 7 {
                // Other names for a named customer: they must not replace its own.
                late_names.push((
                    conversations.len(),
                    Some(random_name(rng, FIRST_NAMES)),
                    Some(random_name(rng, LAST_NAMES)),
                ));
            }
            conversations.push(model);
        }
    }

    // A later create with names fills in only the names the customer lacks, and
    // re-keys the search; it creates nothing.
    let later = now + Duration::hours(1);
    for (index, first, last) in late_names {
        let m = &mut conversations[index];
        let again = store
            .create_conversation(
                m.tenant,
                NewConversation {
                    channel_id: m.channel_id,
                    address: m.address.clone(),
                    first_name: first.clone(),
                    last_name: last.clone(),
                },
                later,
            )
            .await
            .expect("create conversation again with names");
        assert!(!again.created, "a repeated create must not create");
        m.first = m.first.clone().or(first);
        m.last = m.last.clone().or(last);
        assert_conversation_is(&again.value, m, "re-created conversation");
    }

    World {
        tenant_a,
        tenant_b,
        conversations,
    }
}

/// Every page of the list: the items in order and the total every page reported.
async fn list_all(
    store: &dyn Store,
    tenant: TenantId,
    filter: &ConversationFilter,
    context: &str,
) -> (Vec<Conversation>, i64) {
    let now = start_time() + Duration::days(1);
    let mut items = Vec::new();
    let mut total = None;
    for page in 1.. {
        assert!(page <= 50, "{context}: paging does not end");
        let got = store
            .list_conversations(
                tenant,
                filter,
                PageRequest {
                    page,
                    per_page: PER_PAGE,
                },
                now,
            )
            .await
            .expect("list conversations");
        match total {
            None => total = Some(got.total),
            Some(t) => assert_eq!(t, got.total, "{context}: total changed on page {page}"),
        }
        assert!(
            got.items.len() as i64 <= PER_PAGE,
            "{context}: page {page} holds {} items",
            got.items.len()
        );
        let full = got.items.len() as i64 == PER_PAGE;
        items.extend(got.items);
        if !full {
            break;
        }
    }
    (items, total.expect("at least one page was fetched"))
}

// ---------------------------------------------------------------------------
// 1. Search matches the reference semantics, tenant by tenant.

/// Queries of every kind the list endpoint can receive.
fn make_queries(rng: &mut StdRng, world: &World, count: usize) -> Vec<String> {
    let named: Vec<&Model> = world
        .conversations
        .iter()
        .filter(|m| m.first.is_some() || m.last.is_some())
        .collect();
    let phones: Vec<&Model> = world
        .conversations
        .iter()
        .filter(|m| m.channel_type == ChannelType::Whatsapp)
        .collect();
    let others: Vec<&Model> = world
        .conversations
        .iter()
        .filter(|m| m.channel_type != ChannelType::Whatsapp)
        .collect();
    let mut queries: Vec<String> = [
        // Metacharacters of LIKE, of FTS5 strings, and the escape character.
        "%",
        "_",
        "\\",
        "\"",
        "%%",
        "__",
        "\"\"",
        "\\\\",
        "%_",
        "50%",
        "50%-",
        "_%",
        "%\"",
        "a_b",
        "a%b",
        "\"hi\"",
        "y\"-",
        "k\\s",
        "ziyaretçi_%",
        "i_ziy",
        "e__",
        "score__",
        "\"%_\\",
        // Matching nothing.
        "qxzqxz",
        "zzzz",
        "ñandú",
        "999999999999999",
        "yılmazöztürk",
        // Turkish i in all spellings.
        "İSMAİL",
        "ismail",
        "ISMAIL",
        "ısmaıl",
        "işil",
        "IŞIL",
        "ılgın",
        "yilmaz",
        "YILMAZ",
        "Yılmaz",
        "şule",
        "ŞULE",
        "çiftçi",
        "ÇİFTÇİ",
        "ağaoğlu",
        "öztürk",
        "ÜMİT",
        "van dijk",
        "van  \t dijk",
        "o'brien",
        // Phone-like and blank queries (the latter are no search at all).
        "+90",
        "(5",
        "90 5",
        "+44 7",
        "   ",
        "\t \n",
        "+ ()",
        "-",
        // Six digits or more go to the digits index: a run that no key holds, and
        // runs that end at a key part's edge.
        "000000",
        "1234567890",
        "90 5",
        "5 5 5 5 5 5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    while queries.len() < count {
        let query = match rng.gen_range(0..10) {
            // Part of a customer's name, in any casing.
            0..=2 => {
                let m = named.choose(rng).expect("named conversations exist");
                let name = [m.first.as_deref(), m.last.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let part = random_substring(rng, &name, 1, 9);
                random_case(rng, &part)
            }
            // Digits of a phone number, spelled with separators.
            3 | 4 => {
                let m = phones.choose(rng).expect("WhatsApp conversations exist");
                let digits: String = m.address.chars().filter(char::is_ascii_digit).collect();
                let fragment = random_substring(rng, &digits, 1, 12);
                let mut spelled = String::new();
                if digits.starts_with(&fragment) && rng.gen_bool(0.5) {
                    spelled.push('+');
                }
                for c in fragment.chars() {
                    if rng.gen_bool(0.3) {
                        spelled.push_str([" ", "-", "(", ")", "  "].choose(rng).expect("seps"));
                    }
                    spelled.push(c);
                }
                spelled
            }
            // Six digits or more of a Telegram or Instagram id, or of a phone number:
            // the digits index.
            5 if rng.gen_bool(0.6) => {
                let m = if rng.gen_bool(0.5) {
                    others.choose(rng).expect("other conversations exist")
                } else {
                    phones.choose(rng).expect("WhatsApp conversations exist")
                };
                let digits: String = m.address.chars().filter(char::is_ascii_digit).collect();
                if digits.len() >= 6 {
                    random_substring(rng, &digits, 6, 14)
                } else {
                    digits
                }
            }
            // One or two characters.
            5 | 6 => {
                let alphabet: Vec<char> = "aeiıİIşŞğöÖüÜçÇnmrkyz0123456789 %_\\\"@.-"
                    .chars()
                    .collect();
                let len = rng.gen_range(1..=2);
                (0..len)
                    .map(|_| *alphabet.choose(rng).expect("alphabet"))
                    .collect()
            }
            // Part of a Telegram, Instagram or website address.
            7 | 8 => {
                let m = others.choose(rng).expect("other conversations exist");
                let part = random_substring(rng, &m.address, 2, 10);
                random_case(rng, &part)
            }
            // A whole name, or a name run into the address: never across key parts.
            _ => {
                let m = named.choose(rng).expect("named conversations exist");
                match rng.gen_range(0..3) {
                    0 => format!(
                        "{} {}",
                        m.first.as_deref().unwrap_or(""),
                        m.last.as_deref().unwrap_or("")
                    ),
                    1 => format!(
                        "{} {}",
                        m.last.as_deref().unwrap_or(""),
                        m.first.as_deref().unwrap_or("")
                    ),
                    _ => format!("{} {}", m.last.as_deref().unwrap_or(""), m.address),
                }
            }
        };
        queries.push(query);
    }
    queries
}

async fn search_matches_reference_semantics(db: TestDb) {
    let seed = seed();
    eprintln!("search_matches_reference_semantics: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let store = db.store.as_ref();
    let world = seed_world(store, &mut rng, 300).await;
    let queries = make_queries(&mut rng, &world, 160);
    // The same store with other search walk limits (`plan::walk_window`): the index
    // alone, and a walk bounded short of a tenant's list, which fills common pages
    // and leaves the others to fall back from it to the index. Every way to a page
    // must give the same page. And the index alone once more, naming the tenant to
    // PostgreSQL's search indexes only as a filter, as for a large tenant
    // (`plan::TENANT_IN_SEARCH_INDEX_MAX`).
    let mut other_ways = Vec::new();
    for (search_walk_max, tenant_in_search_index_max) in [
        (0, StoreOptions::default().tenant_in_search_index_max),
        (250, StoreOptions::default().tenant_in_search_index_max),
        (0, 0),
    ] {
        let options = StoreOptions {
            max_connections: 2,
            search_walk_max,
            tenant_in_search_index_max,
            ..StoreOptions::default()
        };
        let opened = Database::connect(&db.url, &options)
            .await
            .expect("open the test database again");
        let way = format!(
            "search_walk_max {search_walk_max}, tenant_in_search_index_max {tenant_in_search_index_max}"
        );
        other_ways.push((way, opened.into_store()));
    }

    let mut indexable_hits = 0;
    let mut digits_hits = 0;
    let mut short_hits = 0;
    let mut empty_results = 0;
    let mut multi_page = 0;
    let mut with_channel = 0;
    let mut no_search = 0;
    for (i, query) in queries.iter().enumerate() {
        let channel_type = (i % 4 == 1).then(|| {
            *ChannelType::ALL
                .choose(&mut rng)
                .expect("channel types exist")
        });
        let pattern = SearchPattern::parse(query);
        let filter = ConversationFilter {
            channel_type,
            search: pattern.clone(),
        };
        // Tenant A always; tenant B now and then, which must see only its own rows.
        let tenants = if i % 5 == 0 {
            vec![world.tenant_a, world.tenant_b]
        } else {
            vec![world.tenant_a]
        };
        for tenant in tenants {
            let context = format!(
                "seed {seed}, query #{i} {query:?} (needle {:?}), channel {channel_type:?}, tenant {tenant}",
                pattern.as_ref().map(|p| p.needle.as_str())
            );
            let mut expected: Vec<&Model> = world
                .conversations
                .iter()
                .filter(|m| m.tenant == tenant)
                .filter(|m| channel_type.is_none() || channel_type == Some(m.channel_type))
                .filter(|m| match &pattern {
                    None => true,
                    Some(p) => p.matches_key(&m.key()),
                })
                .collect();
            expected.sort_by(|x, y| y.activity.cmp(&x.activity).then(y.id.cmp(&x.id)));
            let expected_ids: Vec<i64> = expected.iter().map(|m| m.id).collect();

            let (items, total) = list_all(store, tenant, &filter, &context).await;
            for (way, other) in &other_ways {
                let (other_items, other_total) =
                    list_all(other.as_ref(), tenant, &filter, &context).await;
                assert_eq!(
                    (format!("{other_items:?}"), other_total),
                    (format!("{items:?}"), total),
                    "{context}: with {way} the pages differ"
                );
            }
            for c in &items {
                assert_eq!(
                    c.tenant_id, tenant,
                    "{context}: conversation {} of another tenant returned",
                    c.id
                );
                if let Some(t) = channel_type {
                    assert_eq!(
                        c.channel.channel_type, t,
                        "{context}: conversation {} of another channel type returned",
                        c.id
                    );
                }
            }
            let got_ids: Vec<i64> = items.iter().map(|c| c.id).collect();
            let got_set: BTreeSet<i64> = got_ids.iter().copied().collect();
            assert_eq!(
                got_set.len(),
                got_ids.len(),
                "{context}: a conversation appears twice across pages"
            );
            let expected_set: BTreeSet<i64> = expected_ids.iter().copied().collect();
            if got_set != expected_set {
                let key_of = |id: &i64| {
                    world
                        .conversations
                        .iter()
                        .find(|m| m.id == *id)
                        .map(|m| format!("{id}: {:?} (tenant {})", m.key(), m.tenant))
                        .unwrap_or_else(|| format!("{id}: not created by this test"))
                };
                let missing: Vec<String> = expected_set.difference(&got_set).map(key_of).collect();
                let extra: Vec<String> = got_set.difference(&expected_set).map(key_of).collect();
                panic!(
                    "{context}: search result differs from the reference\n  missing: {missing:#?}\n  unexpected: {extra:#?}"
                );
            }
            assert_eq!(
                total,
                expected_ids.len() as i64,
                "{context}: total must be the number of matches"
            );
            assert_eq!(
                got_ids, expected_ids,
                "{context}: list order must be activity, then id, descending"
            );
            for (c, m) in items.iter().zip(&expected) {
                assert_conversation_is(c, m, &context);
            }

            if tenant == world.tenant_a {
                let indexable = pattern.as_ref().is_some_and(SearchPattern::is_indexable);
                if !expected_ids.is_empty()
                    && pattern.as_ref().is_some_and(|p| p.digits().is_some())
                {
                    digits_hits += 1;
                }
                match (&pattern, expected_ids.is_empty()) {
                    (None, _) => no_search += 1,
                    (Some(_), true) => empty_results += 1,
                    (Some(_), false) if indexable => indexable_hits += 1,
                    (Some(_), false) => short_hits += 1,
                }
                if expected_ids.len() as i64 > PER_PAGE {
                    multi_page += 1;
                }
                if channel_type.is_some() {
                    with_channel += 1;
                }
            }
        }
    }
    eprintln!(
        "queries: {} indexable with hits ({digits_hits} through the digits index), \
         {short_hits} short with hits, {empty_results} without hits, {no_search} blank, \
         {multi_page} over several pages, {with_channel} with a channel filter",
        indexable_hits
    );
    assert!(
        digits_hits >= 10,
        "too few digit queries with hits: {digits_hits}"
    );
    assert_digits_derived(&db).await;
    // The generated queries must cover every path, or this test proves little.
    assert!(
        indexable_hits >= 40,
        "too few indexable queries with hits: {indexable_hits}"
    );
    assert!(
        short_hits >= 15,
        "too few short queries with hits: {short_hits}"
    );
    assert!(
        empty_results >= 10,
        "too few queries without hits: {empty_results}"
    );
    assert!(no_search >= 2, "too few blank queries: {no_search}");
    assert!(
        multi_page >= 5,
        "too few results over several pages: {multi_page}"
    );
    assert!(
        with_channel >= 30,
        "too few queries with a channel filter: {with_channel}"
    );
}

/// Every stored conversation's digit suffixes are `digit_suffixes` of its search key:
/// on SQLite the `search_digits` column, as every way of writing it must leave it; on
/// PostgreSQL the index's own SQL function of the key (the column stays empty).
async fn assert_digits_derived(db: &TestDb) {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT search_key, search_digits FROM conversations",
        Backend::Postgres => {
            "SELECT search_key, search_digit_suffixes(search_key) FROM conversations \
             WHERE search_digits IS NULL"
        }
    };
    let tokens = |s: &str| s.split(' ').map(str::to_string).collect::<BTreeSet<_>>();
    let rows: Vec<(String, Option<String>)> = match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query_as(sql)
                .fetch_all(&mut conn)
                .await
                .expect("read keys")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query_as(sql)
                .fetch_all(&mut conn)
                .await
                .expect("read keys")
        }
    };
    assert!(!rows.is_empty(), "conversations were stored");
    for (key, digits) in rows {
        let digits = digits.unwrap_or_else(|| panic!("no digits for {key:?}"));
        // The same suffixes; PostgreSQL's string_agg does not keep their order.
        assert_eq!(
            tokens(&digits),
            tokens(&digit_suffixes(&key)),
            "the digits of {key:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Totals count every conversation exactly once.

/// The model's conversation counts of a tenant, by channel type.
type Counts = HashMap<(TenantId, ChannelType), i64>;

async fn assert_totals(db: &TestDb, tenant: TenantId, counts: &Counts, context: &str) {
    let store = db.store.as_ref();
    let expected_all: i64 = ChannelType::ALL
        .iter()
        .map(|t| counts.get(&(tenant, *t)).copied().unwrap_or(0))
        .sum();
    let rows_all = db.count_rows(tenant, None).await;
    assert_eq!(
        rows_all, expected_all,
        "{context}: tenant {tenant} holds a different number of conversation rows"
    );
    let (items, total) = list_all(store, tenant, &ConversationFilter::default(), context).await;
    assert_eq!(total, rows_all, "{context}: total of tenant {tenant}");
    assert_eq!(
        items.len() as i64,
        rows_all,
        "{context}: listed conversations of tenant {tenant}"
    );
    let distinct: HashSet<i64> = items.iter().map(|c| c.id).collect();
    assert_eq!(distinct.len(), items.len(), "{context}: listed twice");
    assert!(
        items.iter().all(|c| c.tenant_id == tenant),
        "{context}: another tenant's conversation listed"
    );
    for channel_type in ChannelType::ALL {
        let expected = counts.get(&(tenant, channel_type)).copied().unwrap_or(0);
        let rows = db.count_rows(tenant, Some(channel_type)).await;
        assert_eq!(
            rows, expected,
            "{context}: {channel_type} rows of tenant {tenant}"
        );
        let filter = ConversationFilter {
            channel_type: Some(channel_type),
            search: None,
        };
        let page = store
            .list_conversations(
                tenant,
                &filter,
                PageRequest {
                    page: 1,
                    per_page: 1,
                },
                start_time(),
            )
            .await
            .expect("list conversations of one channel type");
        assert_eq!(
            page.total, rows,
            "{context}: {channel_type} total of tenant {tenant}"
        );
        // A page past the end is empty but still reports the total.
        let beyond = store
            .list_conversations(
                tenant,
                &filter,
                PageRequest {
                    page: rows + 2,
                    per_page: 1,
                },
                start_time(),
            )
            .await
            .expect("list a page past the end");
        assert!(beyond.items.is_empty(), "{context}: page past the end");
        assert_eq!(beyond.total, rows, "{context}: total past the end");
    }
}

/// Runs the creates concurrently, all released at once.
async fn create_concurrently(
    store: &Arc<dyn Store>,
    creates: Vec<(TenantId, i64, String)>,
    now: DateTime<Utc>,
) -> Vec<Created<Conversation>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(creates.len()));
    let tasks: Vec<_> = creates
        .into_iter()
        .map(|(tenant, channel_id, address)| {
            let store = Arc::clone(store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .create_conversation(
                        tenant,
                        NewConversation {
                            channel_id,
                            address,
                            first_name: Some("Eşzamanlı".to_string()),
                            last_name: None,
                        },
                        now,
                    )
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(
            task.await
                .expect("create task must not panic")
                .expect("concurrent create_conversation must succeed"),
        );
    }
    results
}

/// The model of created conversations: id by (tenant, channel, address).
struct Registry {
    ids: HashMap<(TenantId, i64, String), i64>,
    counts: Counts,
}

impl Registry {
    /// Records a create's outcome and checks it against what the model expects.
    fn record(
        &mut self,
        tenant: TenantId,
        channel: (ChannelType, i64),
        address: &str,
        result: &Created<Conversation>,
        context: &str,
    ) {
        let key = (tenant, channel.1, address.to_string());
        match self.ids.get(&key) {
            Some(&id) => {
                assert!(
                    !result.created,
                    "{context}: repeated create of {address:?} on channel {} reported created",
                    channel.1
                );
                assert_eq!(
                    result.value.id, id,
                    "{context}: repeated create of {address:?}"
                );
            }
            None => {
                assert!(
                    result.created,
                    "{context}: first create of {address:?} on channel {} reported not created",
                    channel.1
                );
                self.ids.insert(key, result.value.id);
                *self.counts.entry((tenant, channel.0)).or_default() += 1;
            }
        }
        assert_eq!(result.value.tenant_id, tenant, "{context}: tenant");
        assert_eq!(result.value.address, address, "{context}: address");
        assert_eq!(result.value.channel.id, channel.1, "{context}: channel");
    }
}

async fn totals_count_each_conversation_once(db: TestDb) {
    let seed = seed();
    eprintln!("totals_count_each_conversation_once: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7074_6c73);
    let store = Arc::clone(&db.store);
    let now = start_time();
    // Two WhatsApp channels in tenant A: one address on both is two conversations.
    let (tenant_a, channels_a) = create_tenant_with_channels(
        store.as_ref(),
        "Totals A",
        &[
            ChannelType::Whatsapp,
            ChannelType::Whatsapp,
            ChannelType::Telegram,
            ChannelType::Instagram,
            ChannelType::Website,
        ],
        now,
    )
    .await;
    let (tenant_b, channels_b) = create_tenant_with_channels(
        store.as_ref(),
        "Totals B",
        &[ChannelType::Whatsapp, ChannelType::Telegram],
        now,
    )
    .await;
    let mut registry = Registry {
        ids: HashMap::new(),
        counts: HashMap::new(),
    };
    assert_totals(&db, tenant_a, &registry.counts, "empty tenant").await;

    // Small address pools, shared by both tenants, so that creates repeat often.
    let mut pools: HashMap<ChannelType, Vec<String>> = HashMap::new();
    for (channel_type, size) in [
        (ChannelType::Whatsapp, 40),
        (ChannelType::Telegram, 25),
        (ChannelType::Instagram, 20),
        (ChannelType::Website, 20),
    ] {
        let mut pool: Vec<String> = Vec::new();
        while pool.len() < size {
            let a = random_address(&mut rng, channel_type, pool.len());
            if !pool.contains(&a) {
                pool.push(a);
            }
        }
        pools.insert(channel_type, pool);
    }

    let mut repeats = 0;
    for i in 0..360 {
        let (tenant, channels) = if i % 4 == 3 {
            (tenant_b, &channels_b)
        } else {
            (tenant_a, &channels_a)
        };
        let channel = *channels.choose(&mut rng).expect("channels exist");
        let address = pools[&channel.0]
            .choose(&mut rng)
            .expect("address pool is not empty")
            .clone();
        let result = store
            .create_conversation(
                tenant,
                NewConversation {
                    channel_id: channel.1,
                    address: address.clone(),
                    first_name: rng
                        .gen_bool(0.5)
                        .then(|| random_name(&mut rng, FIRST_NAMES)),
                    last_name: rng.gen_bool(0.5).then(|| random_name(&mut rng, LAST_NAMES)),
                },
                now + Duration::seconds(i),
            )
            .await
            .expect("create conversation");
        if !result.created {
            repeats += 1;
        }
        registry.record(tenant, channel, &address, &result, &format!("create #{i}"));
        if i == 120 {
            assert_totals(&db, tenant_a, &registry.counts, "after 120 creates").await;
        }
    }
    assert!(repeats >= 100, "too few repeated creates: {repeats}");
    let wa_both = pools[&ChannelType::Whatsapp]
        .iter()
        .filter(|a| {
            registry
                .ids
                .contains_key(&(tenant_a, channels_a[0].1, a.to_string()))
                && registry
                    .ids
                    .contains_key(&(tenant_a, channels_a[1].1, a.to_string()))
        })
        .count();
    assert!(
        wa_both > 0,
        "no address was opened on both WhatsApp channels"
    );
    assert_totals(&db, tenant_a, &registry.counts, "after sequential creates").await;
    assert_totals(&db, tenant_b, &registry.counts, "after sequential creates").await;

    let later = now + Duration::hours(1);
    let fresh = |rng: &mut StdRng, channel_type: ChannelType, n: usize| loop {
        let a = random_address(rng, channel_type, 1000 + n);
        if !pools[&channel_type].contains(&a) {
            break a;
        }
    };

    // 20 tasks open one new address: one conversation.
    let (wa, tg) = (channels_a[0], channels_a[2]);
    let address = fresh(&mut rng, ChannelType::Whatsapp, 0);
    let results = create_concurrently(
        &store,
        (0..20).map(|_| (tenant_a, wa.1, address.clone())).collect(),
        later,
    )
    .await;
    let created = results.iter().filter(|r| r.created).count();
    assert_eq!(
        created, 1,
        "20 concurrent creates of one address must create exactly one"
    );
    for r in &results {
        assert_eq!(
            r.value.id, results[0].value.id,
            "concurrent creates disagree on the id"
        );
    }
    // Record the created one first, then the rest as repeats.
    let mut ordered: Vec<&Created<Conversation>> = results.iter().collect();
    ordered.sort_by_key(|r| !r.created);
    for r in ordered {
        registry.record(tenant_a, wa, &address, r, "concurrent create");
    }
    assert_totals(
        &db,
        tenant_a,
        &registry.counts,
        "after 20 concurrent creates",
    )
    .await;

    // Two contested addresses in two tenants at once, and one per task on top.
    let tg_address = fresh(&mut rng, ChannelType::Telegram, 1);
    let b_wa = channels_b[0];
    let b_address = address.clone(); // the same number, in the other tenant
    let mut creates: Vec<(TenantId, (ChannelType, i64), String)> = Vec::new();
    for i in 0..20 {
        creates.push((tenant_a, tg, tg_address.clone()));
        creates.push((tenant_b, b_wa, b_address.clone()));
        let ig = channels_a[3];
        creates.push((
            tenant_a,
            ig,
            fresh(&mut rng, ChannelType::Instagram, 10 + i),
        ));
    }
    creates.shuffle(&mut rng);
    let results = create_concurrently(
        &store,
        creates
            .iter()
            .map(|(t, c, a)| (*t, c.1, a.clone()))
            .collect(),
        later,
    )
    .await;
    let created_where = |tenant: TenantId, channel_id: i64, address: &str| {
        creates
            .iter()
            .zip(&results)
            .filter(|((t, c, a), r)| *t == tenant && c.1 == channel_id && a == address && r.created)
            .count()
    };
    assert_eq!(
        created_where(tenant_a, tg.1, &tg_address),
        1,
        "20 concurrent Telegram creates must create exactly one"
    );
    assert_eq!(
        created_where(tenant_b, b_wa.1, &b_address),
        1,
        "20 concurrent creates in tenant B must create exactly one"
    );
    // Record the created ones first, then the rest as repeats.
    let mut order: Vec<usize> = (0..creates.len()).collect();
    order.sort_by_key(|&i| !results[i].created);
    for i in order {
        let (tenant, channel, address) = &creates[i];
        registry.record(
            *tenant,
            *channel,
            address,
            &results[i],
            "mixed concurrent create",
        );
    }
    assert_totals(
        &db,
        tenant_a,
        &registry.counts,
        "after mixed concurrent creates",
    )
    .await;
    assert_totals(
        &db,
        tenant_b,
        &registry.counts,
        "after mixed concurrent creates",
    )
    .await;
    assert_eq!(
        registry
            .counts
            .get(&(tenant_a, ChannelType::Whatsapp))
            .copied()
            .unwrap_or(0)
            + registry
                .counts
                .get(&(tenant_a, ChannelType::Telegram))
                .copied()
                .unwrap_or(0)
            + registry
                .counts
                .get(&(tenant_a, ChannelType::Instagram))
                .copied()
                .unwrap_or(0)
            + registry
                .counts
                .get(&(tenant_a, ChannelType::Website))
                .copied()
                .unwrap_or(0),
        registry
            .ids
            .keys()
            .filter(|(t, _, _)| *t == tenant_a)
            .count() as i64,
        "the model's counts must agree with its conversations"
    );
}

// ---------------------------------------------------------------------------
// 3. Search is served by an index, not by a scan of the tenant's rows.

async fn search_is_served_by_an_index(db: TestDb) {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x696e_6478);
    let store = db.store.as_ref();
    let world = seed_world(store, &mut rng, 120).await;
    let tenant = world.tenant_a;
    // A needle that is sure to match: the start of a tenant A customer's last name.
    let model = world
        .conversations
        .iter()
        .find(|m| {
            m.tenant == tenant
                && m.last
                    .as_ref()
                    .is_some_and(|l| fold(l).chars().count() >= 4)
        })
        .expect("a tenant A customer with a last name");
    let needle: String = fold(model.last.as_deref().unwrap_or_default())
        .chars()
        .take(4)
        .collect();
    let pattern = SearchPattern::parse(&needle).expect("a non-blank needle");
    assert!(
        pattern.is_indexable(),
        "{needle:?} must be long enough for the index"
    );
    let short = SearchPattern::parse("ş").expect("a non-blank short needle");
    assert!(
        !short.is_indexable(),
        "one character is too short for the index"
    );

    match db.backend {
        Backend::Sqlite => {
            sqlite_plans(&db, tenant, &pattern, &short).await;
            sqlite_search_reads_the_index(&db, tenant, model.id, &needle).await;
        }
        Backend::Postgres => postgres_plans(&db, tenant, &pattern).await,
    }
}

/// Ids of every conversation the store lists for `tenant` and `pattern`, and the total.
async fn search_ids(
    store: &dyn Store,
    tenant: TenantId,
    pattern: &SearchPattern,
) -> (BTreeSet<i64>, i64) {
    let filter = ConversationFilter {
        channel_type: None,
        search: Some(pattern.clone()),
    };
    let context = format!("search {:?}", pattern.needle);
    let (items, total) = list_all(store, tenant, &filter, &context).await;
    (items.iter().map(|c| c.id).collect(), total)
}

/// Proves from the outside that the store answers 3+ character searches from the
/// FTS5 index and shorter ones from the rows: a conversation taken out of the index
/// disappears from the first kind of search only, and comes back with the index.
async fn sqlite_search_reads_the_index(db: &TestDb, tenant: TenantId, id: i64, needle: &str) {
    // A store that finds every search's matches through the index (no walk of the
    // list), and, since the index is changed behind the store's back here (which moves
    // no search epoch), a new one, without remembered totals, for each look.
    let index_only = || async {
        let options = StoreOptions {
            max_connections: 1,
            search_walk_max: 0,
            ..StoreOptions::default()
        };
        Database::connect(&db.url, &options)
            .await
            .expect("open the test database again")
            .into_store()
    };
    let store = index_only().await;
    let store = store.as_ref();
    let long = SearchPattern::parse(needle).expect("a non-blank needle");
    let short: String = needle.chars().take(2).collect();
    let short = SearchPattern::parse(&short).expect("a non-blank short needle");
    assert!(
        long.is_indexable() && !short.is_indexable(),
        "{needle:?}: one pattern of each kind"
    );

    let (long_before, long_total) = search_ids(store, tenant, &long).await;
    let (short_before, short_total) = search_ids(store, tenant, &short).await;
    assert!(
        long_before.contains(&id),
        "{:?} must find conversation {id}",
        long.needle
    );
    assert!(
        short_before.contains(&id),
        "{:?} must find conversation {id}",
        short.needle
    );

    let mut conn = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("open a raw SQLite connection");
    let key: String = sqlx::query_scalar("SELECT search_key FROM conversations WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .expect("read the stored search key");
    sqlx::query(
        "INSERT INTO conversation_search (conversation_search, rowid, search_key) VALUES ('delete', $1, $2)",
    )
    .bind(id)
    .bind(&key)
    .execute(&mut conn)
    .await
    .expect("take the conversation out of the FTS5 index");

    let store = index_only().await;
    let store = store.as_ref();
    let (long_after, long_total_after) = search_ids(store, tenant, &long).await;
    let mut expected = long_before.clone();
    expected.remove(&id);
    assert_eq!(
        long_after, expected,
        "{:?}: an indexable search must come from the FTS5 index, so a conversation missing \
         from the index must be missing from the result",
        long.needle
    );
    assert_eq!(
        long_total_after,
        long_total - 1,
        "{:?}: total from the index",
        long.needle
    );
    let (short_after, short_total_after) = search_ids(store, tenant, &short).await;
    assert_eq!(
        (short_after, short_total_after),
        (short_before, short_total),
        "{:?}: a short search reads the rows, not the index",
        short.needle
    );

    sqlx::query("INSERT INTO conversation_search (conversation_search) VALUES ('rebuild')")
        .execute(&mut conn)
        .await
        .expect("rebuild the FTS5 index");
    let store = index_only().await;
    let store = store.as_ref();
    let (long_rebuilt, long_total_rebuilt) = search_ids(store, tenant, &long).await;
    assert_eq!(
        (long_rebuilt, long_total_rebuilt),
        (long_before, long_total),
        "{:?}: the rebuilt index finds the conversation again",
        long.needle
    );
    let _ = conn.close().await;
}

/// The `filtered_ids` SQL of the SQLite store, as `shared.rs` and `sqlite.rs` build it.
fn sqlite_filtered_ids(pattern: &SearchPattern, with_channel: bool) -> String {
    let mut sql = String::from("SELECT c.id FROM ");
    if pattern.is_indexable() {
        sql.push_str(
            "conversation_search CROSS JOIN conversations c ON c.id = conversation_search.rowid",
        );
    } else {
        sql.push_str("conversations c");
    }
    sql.push_str(" WHERE c.tenant_id = $1");
    let next = if with_channel {
        sql.push_str(" AND c.channel_type = $2");
        3
    } else {
        2
    };
    if pattern.is_indexable() {
        sql.push_str(&format!(" AND conversation_search MATCH ${next}"));
    } else {
        sql.push_str(&format!(" AND c.search_key LIKE ${next} ESCAPE '\\'"));
    }
    sql
}

/// The count and the page query the SQLite store runs for a search, with their
/// arguments (tenant, channel type, pattern, then limit and offset for the page).
fn sqlite_search_queries(
    tenant: TenantId,
    pattern: &SearchPattern,
    channel: Option<ChannelType>,
    per_page: i64,
) -> Vec<(String, String, Vec<SqlArg>)> {
    let ids = sqlite_filtered_ids(pattern, channel.is_some());
    let mut args = vec![SqlArg::Int(tenant.0)];
    if let Some(t) = channel {
        args.push(SqlArg::Text(t.as_str().to_string()));
    }
    args.push(SqlArg::Text(if pattern.is_indexable() {
        pattern.fts_phrase()
    } else {
        pattern.like_pattern()
    }));
    let count = format!("SELECT COUNT(*) FROM ({ids}) matches");
    let n = args.len();
    let page = format!(
        "{ids} ORDER BY c.activity_at DESC, c.id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut page_args = args.clone();
    page_args.push(SqlArg::Int(per_page));
    page_args.push(SqlArg::Int(0));
    vec![
        ("count".to_string(), count, args),
        ("page".to_string(), page, page_args),
    ]
}

#[derive(Debug, Clone)]
enum SqlArg {
    Int(i64),
    Text(String),
}

async fn sqlite_plan(conn: &mut sqlx::SqliteConnection, sql: &str, args: &[SqlArg]) -> Vec<String> {
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
    for arg in args {
        query = match arg {
            SqlArg::Int(v) => query.bind(*v),
            SqlArg::Text(v) => query.bind(v.clone()),
        };
    }
    query
        .fetch_all(&mut *conn)
        .await
        .expect("EXPLAIN QUERY PLAN")
        .into_iter()
        .map(|(_, _, _, detail)| detail)
        .collect()
}

/// Whether a plan line reads every row of `conversations` (as `c` or by name).
fn scans_conversations(detail: &str) -> bool {
    let mut words = detail.split_whitespace();
    words.next() == Some("SCAN") && matches!(words.next(), Some("c" | "conversations"))
}

async fn sqlite_plans(
    db: &TestDb,
    tenant: TenantId,
    pattern: &SearchPattern,
    short: &SearchPattern,
) {
    let mut conn = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("open a raw SQLite connection");
    for channel in [None, Some(ChannelType::Whatsapp)] {
        let filter = ConversationFilter {
            channel_type: channel,
            search: Some(pattern.clone()),
        };
        let expected = db
            .store
            .list_conversations(
                tenant,
                &filter,
                PageRequest {
                    page: 1,
                    per_page: 15,
                },
                start_time(),
            )
            .await
            .expect("list conversations");
        assert!(
            !expected.items.is_empty() || channel.is_some(),
            "the needle {:?} must match something",
            pattern.needle
        );
        for (what, sql, args) in sqlite_search_queries(tenant, pattern, channel, 15) {
            let context = format!(
                "{what} query for {:?}, channel {channel:?}: {sql}",
                pattern.needle
            );
            // The reproduced SQL is the store's: it gives the store's answer.
            let mut query = sqlx::query_scalar::<_, i64>(&sql);
            for arg in &args {
                query = match arg {
                    SqlArg::Int(v) => query.bind(*v),
                    SqlArg::Text(v) => query.bind(v.clone()),
                };
            }
            let got = query
                .fetch_all(&mut conn)
                .await
                .expect("run the reproduced SQL");
            if what == "count" {
                assert_eq!(
                    got,
                    vec![expected.total],
                    "{context}: count differs from the store's total"
                );
            } else {
                let ids: Vec<i64> = expected.items.iter().map(|c| c.id).collect();
                assert_eq!(got, ids, "{context}: page differs from the store's");
            }

            let plan = sqlite_plan(&mut conn, &sql, &args).await;
            assert!(
                plan.iter().any(|d| d.contains("conversation_search") && d.contains("VIRTUAL TABLE INDEX")),
                "{context}: the FTS5 index must drive the search; plan: {plan:#?}"
            );
            assert!(
                !plan.iter().any(|d| scans_conversations(d)),
                "{context}: the search must not scan conversations; plan: {plan:#?}"
            );
        }
    }

    // Too short for trigrams: the tenant's rows are walked in list order through
    // the activity index, never the whole table.
    for channel in [None, Some(ChannelType::Whatsapp)] {
        let page = sqlite_search_queries(tenant, short, channel, 15)
            .into_iter()
            .find(|(what, _, _)| what == "page")
            .expect("a page query");
        let plan = sqlite_plan(&mut conn, &page.1, &page.2).await;
        let index = if channel.is_some() {
            "conversations_type_activity"
        } else {
            "conversations_activity"
        };
        assert!(
            plan.iter().any(|d| d.contains(index)),
            "short search, channel {channel:?}: must use {index}; plan: {plan:#?}"
        );
        assert!(
            !plan.iter().any(|d| scans_conversations(d)),
            "short search, channel {channel:?}: must not scan the table; plan: {plan:#?}"
        );
    }
    let _ = conn.close().await;
}

async fn postgres_plans(db: &TestDb, tenant: TenantId, pattern: &SearchPattern) {
    let search = "SELECT c.id FROM conversations c WHERE c.tenant_id = $1 AND c.search_key LIKE $2 ESCAPE '\\'";
    let like = pattern.like_pattern();
    // The statement is the store's: it gives the store's answer. (On a connection of
    // its own, closed at once, so that its index scans are counted before the count
    // below is first read.)
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("open a raw PostgreSQL connection");
    let mut got: Vec<i64> = sqlx::query_scalar(search)
        .bind(tenant.0)
        .bind(&like)
        .fetch_all(&mut conn)
        .await
        .expect("run the search statement");
    got.sort_unstable();
    conn.close().await.expect("close the raw connection");
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("open a raw PostgreSQL connection");
    let listed = db
        .store
        .list_conversations(
            tenant,
            &ConversationFilter {
                channel_type: None,
                search: Some(pattern.clone()),
            },
            PageRequest {
                page: 1,
                per_page: 100,
            },
            start_time(),
        )
        .await
        .expect("list conversations");
    let mut listed_ids: Vec<i64> = listed.items.iter().map(|c| c.id).collect();
    listed_ids.sort_unstable();
    assert!(
        !got.is_empty(),
        "the needle {:?} must match something",
        pattern.needle
    );
    assert_eq!(
        got, listed_ids,
        "the statement must find what the store lists"
    );

    // On a table of a few hundred rows, with fresh rows still in the GIN pending
    // list, a btree on tenant_id is estimated cheaper than the trigram index. Give
    // both tenants a thousand more (non-matching) conversations, as a live database
    // would have, and let VACUUM flush the pending list and gather statistics.
    sqlx::query(
        "WITH cu AS ( \
             INSERT INTO customers (tenant_id, created_at, updated_at) \
             SELECT t.id, now(), now() FROM tenants t CROSS JOIN generate_series(1, 1000) \
             RETURNING id, tenant_id) \
         INSERT INTO conversations (tenant_id, channel_id, channel_type, customer_id, address, \
             search_key, activity_at, created_at, updated_at) \
         SELECT cu.tenant_id, ch.id, ch.type, cu.id, 'filler-' || cu.id, \
             'filler ' || md5(cu.id::text) || chr(31) || 'filler-' || cu.id, \
             TIMESTAMPTZ '2020-01-01 00:00:00+00', now(), now() \
         FROM cu JOIN channels ch ON ch.tenant_id = cu.tenant_id AND ch.type = 'website'",
    )
    .execute(&mut conn)
    .await
    .expect("insert filler conversations");
    sqlx::raw_sql("VACUUM ANALYZE conversations")
        .execute(&mut conn)
        .await
        .expect("VACUUM ANALYZE conversations");
    // And forbid sequential scans, so the plan shows what the indexes can serve.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .expect("SET enable_seqscan = off");

    let plan = pg_plan(
        &mut conn,
        &format!("EXPLAIN (FORMAT TEXT) {search}"),
        Some((tenant, &like)),
    )
    .await;
    assert!(
        plan.contains("conversations_search"),
        "the pg_trgm GIN index must serve the search; plan:\n{plan}"
    );
    assert!(
        plan.contains("tenant_id") && plan.contains("search_key ~~"),
        "the index condition must hold both the tenant and the pattern; plan:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan"),
        "no sequential scan; plan:\n{plan}"
    );

    sqlx::query("SET enable_sort = off")
        .execute(&mut conn)
        .await
        .expect("SET enable_sort = off");
    let page = format!(
        "EXPLAIN SELECT c.id FROM conversations c WHERE c.tenant_id = {} \
         ORDER BY c.activity_at DESC, c.id DESC LIMIT 15",
        tenant.0
    );
    let plan = pg_plan(&mut conn, &page, None).await;
    assert!(
        plan.contains("conversations_list_page"),
        "the unfiltered page must come from conversations_list_page; plan:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan"),
        "no sequential scan; plan:\n{plan}"
    );
    assert!(
        !plan.contains("Sort"),
        "the index gives the order; plan:\n{plan}"
    );

    let typed = format!(
        "EXPLAIN SELECT c.id FROM conversations c WHERE c.tenant_id = {} AND c.channel_type = 'whatsapp' \
         ORDER BY c.activity_at DESC, c.id DESC LIMIT 15",
        tenant.0
    );
    let plan = pg_plan(&mut conn, &typed, None).await;
    assert!(
        plan.contains("conversations_type_list_page"),
        "the page of one channel type must come from conversations_type_list_page; plan:\n{plan}"
    );

    // The store's own statements, with default planner settings, use the index too:
    // its scan counter moves when a store lists a search. The store runs on its own
    // connection, closed afterwards so that the server publishes its statistics.
    let scans_before = pg_search_index_scans(&mut conn).await;
    let probe = Database::connect(
        &db.url,
        &StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        },
    )
    .await
    .expect("connect a second store")
    .into_store();
    let (ids, total) = search_ids(probe.as_ref(), tenant, pattern).await;
    let expected: BTreeSet<i64> = listed_ids.iter().copied().collect();
    assert_eq!(ids, expected, "the search finds the same after VACUUM");
    assert_eq!(total, expected.len() as i64, "search total");
    drop(probe);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut scans_after = pg_search_index_scans(&mut conn).await;
    while scans_after <= scans_before && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        scans_after = pg_search_index_scans(&mut conn).await;
    }
    assert!(
        scans_after > scans_before,
        "the store's search must scan conversations_search (idx_scan stayed at {scans_before})"
    );
    let _ = conn.close().await;
}

/// Scans of `conversations_search` so far, as the statistics system reports them.
async fn pg_search_index_scans(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *conn)
        .await
        .expect("clear the statistics snapshot");
    sqlx::query_scalar::<_, i64>(
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'conversations_search'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("read the index scan counter")
}

async fn pg_plan(
    conn: &mut sqlx::PgConnection,
    explain: &str,
    args: Option<(TenantId, &str)>,
) -> String {
    let mut query = sqlx::query_scalar::<_, String>(explain);
    if let Some((tenant, like)) = args {
        query = query.bind(tenant.0).bind(like.to_string());
    }
    query
        .fetch_all(&mut *conn)
        .await
        .expect("EXPLAIN")
        .join("\n")
}

// ---------------------------------------------------------------------------
// 4. Search totals are remembered per tenant epoch, and stay exact.

/// A search's total is counted once and then served from memory while the tenant's
/// search epoch stands still; every change that can alter it moves the epoch: a new
/// conversation, a customer renamed through the store, and a search key changed
/// behind the store's back (as another process or an operator would).
async fn search_totals_follow_every_change_of_the_tenants_keys(db: TestDb) {
    let store = db.store.as_ref();
    let now = start_time();
    let (tenant, channels) =
        create_tenant_with_channels(store, "Epochs", &[ChannelType::Website], now).await;
    let (other, other_channels) =
        create_tenant_with_channels(store, "Elsewhere", &[ChannelType::Website], now).await;
    let channel = channels[0].1;
    let total = |filter: ConversationFilter| async move {
        store
            .list_conversations(
                tenant,
                &filter,
                PageRequest {
                    page: 1,
                    per_page: 15,
                },
                now,
            )
            .await
            .expect("list")
            .total
    };
    let search = |q: &str| ConversationFilter {
        channel_type: None,
        search: SearchPattern::parse(q),
    };
    let open = |address: String, first: Option<&str>| {
        let first = first.map(str::to_string);
        async move {
            store
                .create_conversation(
                    tenant,
                    NewConversation {
                        channel_id: channel,
                        address,
                        first_name: first,
                        last_name: None,
                    },
                    now,
                )
                .await
                .expect("create conversation")
                .value
        }
    };
    for n in 0..3 {
        open(format!("visitor-{n}"), Some("Zeynep")).await;
    }
    let plain = open("visitor-9".to_string(), Some("Ali")).await;
    assert_eq!(total(search("zeynep")).await, 3);
    assert_eq!(total(search("zeynep")).await, 3, "a repeat, from memory");
    // A new matching conversation, and one in another tenant (which must not count).
    open("visitor-3".to_string(), Some("Zeynep")).await;
    store
        .create_conversation(
            other,
            NewConversation {
                channel_id: other_channels[0].1,
                address: "visitor-1".into(),
                first_name: Some("Zeynep".into()),
                last_name: None,
            },
            now,
        )
        .await
        .expect("create conversation elsewhere");
    assert_eq!(total(search("zeynep")).await, 4, "after a new conversation");
    // Renaming a customer through the store.
    store
        .update_customer(
            tenant,
            plain.customer.id,
            CustomerFields {
                first_name: Some(Some("Zeynep".into())),
                ..CustomerFields::default()
            },
            now,
        )
        .await
        .expect("rename")
        .expect("the customer exists");
    assert_eq!(total(search("zeynep")).await, 5, "after a rename");
    assert_digits_derived(&db).await;
    // A search key changed in the database directly.
    let sql = format!(
        "UPDATE conversations SET search_key = 'someone else' WHERE tenant_id = {} AND id = {}",
        tenant.0, plain.id
    );
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query(&sql).execute(&mut conn).await.expect("update");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(&sql).execute(&mut conn).await.expect("update");
        }
    }
    assert_eq!(
        total(search("zeynep")).await,
        4,
        "after a change made elsewhere"
    );
    assert_eq!(total(search("someone")).await, 1);
}

/// New conversations (by create and by inbound delivery) move the remembered search
/// totals instead of dropping them (`SearchCounts::record`). Whatever the interleaving
/// of writers and searches, a total must equal a direct count of the rows: checked
/// after every write while one writer runs, and after a burst of concurrent writers
/// with searches among them, where PostgreSQL's side-by-side commits are the case that
/// must not double-count or miss a conversation.
async fn search_totals_stay_exact_under_concurrent_new_conversations(db: TestDb) {
    let db = Arc::new(db);
    let store = db.store.clone();
    let now = start_time();
    let (tenant, channels) = create_tenant_with_channels(
        store.as_ref(),
        "Stream",
        &[ChannelType::Website, ChannelType::Telegram],
        now,
    )
    .await;
    let (other, other_channels) =
        create_tenant_with_channels(store.as_ref(), "Bystander", &[ChannelType::Website], now)
            .await;
    let mut website = None;
    for (channel_type, id) in &channels {
        if *channel_type == ChannelType::Website {
            website = store.get_channel(tenant, *id).await.expect("get channel");
        }
    }
    let website = website.expect("the website channel");
    let searches: Vec<(Option<ChannelType>, &str)> = vec![
        (None, "zeynep"),
        (Some(ChannelType::Telegram), "zeynep"),
        (Some(ChannelType::Website), "zeynep"),
        (None, "ali"),
        (None, "kaya"),
        (None, "nobody here"),
    ];
    let names = ["Zeynep", "Ali", "Zeynep Kaya", "Mehmet", "Alican"];
    let filter = |channel_type: Option<ChannelType>, needle: &str| ConversationFilter {
        channel_type,
        search: SearchPattern::parse(needle),
    };
    let list_total = move |store: Arc<dyn Store>, f: ConversationFilter| async move {
        store
            .list_conversations(
                tenant,
                &f,
                PageRequest {
                    page: 1,
                    per_page: 10,
                },
                now,
            )
            .await
            .expect("list")
            .total
    };
    let check_all = |context: String| {
        let store = store.clone();
        let searches = searches.clone();
        let db = db.clone();
        async move {
            for (channel_type, needle) in &searches {
                let total = list_total(store.clone(), filter(*channel_type, needle)).await;
                let rows = db
                    .count_rows_with_key(tenant, *channel_type, Some(needle))
                    .await;
                assert_eq!(
                    total, rows,
                    "{context}: total of {needle:?} in {channel_type:?}"
                );
            }
        }
    };
    // One writer: every total is exact after every write, the remembered ones included.
    check_all("before any write".into()).await;
    let mut rng = StdRng::seed_from_u64(seed());
    for n in 0..24 {
        let name = names[rng.gen_range(0..names.len())];
        let (first, last) = match name.split_once(' ') {
            Some((first, last)) => (first.to_string(), Some(last.to_string())),
            None => (name.to_string(), None),
        };
        if n % 3 == 2 {
            let outcome = store
                .ingest(
                    &website,
                    switchboard_core::InboundMessage {
                        address: format!("inbound-{n}"),
                        body: Some("Merhaba".into()),
                        message_type: "text".into(),
                        external_id: Some(format!("delivery-{n}")),
                        first_name: Some(first),
                        last_name: last,
                        sent_at: now,
                    },
                    now,
                )
                .await
                .expect("ingest");
            assert!(
                matches!(outcome, switchboard_core::IngestOutcome::Stored { .. }),
                "stored: {outcome:?}"
            );
        } else {
            let channel = channels[n % 2].1;
            let created = store
                .create_conversation(
                    tenant,
                    NewConversation {
                        channel_id: channel,
                        address: format!("visitor-{n}"),
                        first_name: Some(first),
                        last_name: last,
                    },
                    now,
                )
                .await
                .expect("create");
            assert!(created.created, "a new conversation");
        }
        // A write in another tenant moves nothing of this one.
        store
            .create_conversation(
                other,
                NewConversation {
                    channel_id: other_channels[0].1,
                    address: format!("visitor-{n}"),
                    first_name: Some("Zeynep Ali Kaya".into()),
                    last_name: None,
                },
                now,
            )
            .await
            .expect("create elsewhere");
        check_all(format!("after write {n}")).await;
    }
    // Writers side by side, searches among them. The searches run in their own tasks
    // so that the writers' commits overlap (on PostgreSQL, the case where the order of
    // two additions is unknown).
    let writing = Arc::new(std::sync::atomic::AtomicUsize::new(8));
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = store.clone();
        let channels = channels.clone();
        let writing = writing.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..30 {
                let name = names[(writer + n) % names.len()];
                store
                    .create_conversation(
                        tenant,
                        NewConversation {
                            channel_id: channels[(writer + n) % 2].1,
                            address: format!("burst-{writer}-{n}"),
                            first_name: Some(name.to_string()),
                            last_name: None,
                        },
                        now,
                    )
                    .await
                    .expect("concurrent create");
            }
            writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            0
        }));
    }
    let mut searched = 0;
    for reader in 0..2 {
        let store = store.clone();
        let searches = searches.clone();
        let db = db.clone();
        let writing = writing.clone();
        tasks.push(tokio::spawn(async move {
            let (mut n, mut asked) = (reader, 0);
            while writing.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                // The writers go on meanwhile, so the total is not known exactly, but
                // it is a count of a state between the two direct counts: a
                // conversation counted twice or missed shows outside them (the counts
                // only grow).
                let (channel_type, needle) = searches[n % searches.len()];
                let before = db
                    .count_rows_with_key(tenant, channel_type, Some(needle))
                    .await;
                let total = list_total(store.clone(), filter(channel_type, needle)).await;
                let after = db
                    .count_rows_with_key(tenant, channel_type, Some(needle))
                    .await;
                assert!(
                    (before..=after).contains(&total),
                    "reader {reader}, search {n}: total of {needle:?} in {channel_type:?} is \
                     {total}, outside {before}..={after}"
                );
                n += 2;
                asked += 1;
            }
            asked
        }));
    }
    for task in tasks {
        searched += task.await.expect("writer or reader task");
    }
    assert!(
        searched >= 2,
        "the readers searched while the writers wrote"
    );
    check_all("after the concurrent writers".into()).await;
    check_all("asked again".into()).await;
}

/// The plan of a statement the store builds, as its backend's `EXPLAIN` prints it. On
/// PostgreSQL the generic plan the server's read sessions run
/// (`POSTGRES_READ_SETTINGS`; `EXPLAIN` of a statement with bound parameters would
/// show a custom plan for those values instead), with table scans and `settings` off
/// (`enable_...` names): the plan shows what the indexes serve, not what a tiny test
/// table makes cheapest.
async fn explain(
    db: &TestDb,
    statement: &switchboard_store::plan::SqlBuilder,
    off: &[&str],
) -> String {
    use switchboard_store::plan::{Arg, POSTGRES_READ_SETTINGS};
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            let explain = format!("EXPLAIN QUERY PLAN {}", statement.sql);
            let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
            for arg in &statement.args {
                query = match arg {
                    Arg::Int(v) => query.bind(*v),
                    Arg::Text(v) => query.bind(v.clone()),
                    Arg::Time(v) => query.bind(*v),
                };
            }
            let rows = query
                .fetch_all(&mut conn)
                .await
                .expect("EXPLAIN QUERY PLAN");
            rows.into_iter()
                .map(|(_, _, _, detail)| detail)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            let settings = POSTGRES_READ_SETTINGS
                .iter()
                .copied()
                .chain(
                    ["enable_seqscan"]
                        .iter()
                        .chain(off)
                        .map(|name| (*name, "off")),
                )
                .map(|(name, value)| format!("SET {name} = {value};"))
                .collect::<String>();
            sqlx::raw_sql(&settings)
                .execute(&mut conn)
                .await
                .expect("set");
            let literals: Vec<String> = statement
                .args
                .iter()
                .map(|arg| match arg {
                    Arg::Int(v) => v.to_string(),
                    Arg::Text(v) => format!("'{}'", v.replace('\'', "''")),
                    Arg::Time(v) => format!("'{}'", v.to_rfc3339()),
                })
                .collect();
            sqlx::raw_sql(&format!("PREPARE plan_check AS {}", statement.sql))
                .execute(&mut conn)
                .await
                .expect("PREPARE");
            let explain = format!("EXPLAIN EXECUTE plan_check({})", literals.join(", "));
            sqlx::query_scalar::<_, String>(&explain)
                .fetch_all(&mut conn)
                .await
                .expect("EXPLAIN EXECUTE")
                .join("\n")
        }
    }
}

// ---------------------------------------------------------------------------
// The list-page indexes (migration 0009).

/// A list page without a search reads the list order alone (`conversations_list_page`,
/// `conversations_type_list_page`), whose entries are half as wide as those of the
/// indexes that carry the search key: skipping to page 1,000 reads half the pages. A
/// search walk needs the key, and reads the wide ones.
async fn list_pages_skip_over_the_narrow_indexes_and_walks_read_the_wide_ones(db: TestDb) {
    use switchboard_store::plan::{self, Dialect};
    let now = start_time();
    let types = [ChannelType::Whatsapp, ChannelType::Website];
    let (tenant, channels) =
        create_tenant_with_channels(db.store.as_ref(), "Pages", &types, now).await;
    // Enough rows for the wide indexes to be clearly the larger ones.
    let mut creates = tokio::task::JoinSet::new();
    for n in 0..1_200 {
        let store = db.store.clone();
        let channel = channels[n % channels.len()].1;
        creates.spawn(async move {
            store
                .create_conversation(
                    tenant,
                    NewConversation {
                        channel_id: channel,
                        address: format!("+90 532 {n:07}"),
                        first_name: Some(format!("Ayşe {n}")),
                        last_name: Some("Yılmaz".to_string()),
                    },
                    now + Duration::seconds(n as i64),
                )
                .await
                .expect("create conversation")
        });
    }
    while let Some(created) = creates.join_next().await {
        created.expect("the create task");
    }
    let dialect = match db.backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::raw_sql("VACUUM ANALYZE conversations")
                .execute(&mut conn)
                .await
                .expect("VACUUM ANALYZE");
            Dialect::Postgres
        }
    };
    let page = PageRequest {
        page: 31,
        per_page: 15,
    };
    for (channel_type, narrow, wide) in [
        (None, "conversations_list_page", "conversations_activity"),
        (
            Some(ChannelType::Whatsapp),
            "conversations_type_list_page",
            "conversations_type_activity",
        ),
    ] {
        let list = ConversationFilter {
            channel_type,
            search: None,
        };
        let statement = plan::conversation_page_with_total(dialect, tenant, &list, page, 450, now);
        let plan_text = explain(&db, &statement, &["enable_bitmapscan"]).await;
        assert!(
            plan_text.contains(narrow) && !plan_text.contains(wide),
            "channel {channel_type:?}: a list page skips over {narrow}; plan:\n{plan_text}"
        );
        // The page the store answers is the one that order gives.
        let listed = db
            .store
            .list_conversations(tenant, &list, page, now)
            .await
            .expect("list");
        let expected_total = if channel_type.is_some() { 600 } else { 1_200 };
        assert_eq!(listed.total, expected_total, "channel {channel_type:?}");
        let on_page: HashSet<i64> = listed.items.iter().map(|c| c.id).collect();
        let deeper = db
            .store
            .list_conversations(
                tenant,
                &list,
                PageRequest {
                    page: 30,
                    per_page: 15,
                },
                now,
            )
            .await
            .expect("list");
        assert_eq!(listed.items.len(), 15, "channel {channel_type:?}");
        assert!(
            deeper.items.iter().all(|c| !on_page.contains(&c.id)),
            "channel {channel_type:?}: pages 30 and 31 do not overlap"
        );

        let search = ConversationFilter {
            channel_type,
            search: SearchPattern::parse("yılmaz"),
        };
        let walk = plan::conversation_page_window(tenant, &search, page, 0, 1_000, now, dialect);
        let plan_text = explain(&db, &walk, &["enable_bitmapscan"]).await;
        assert!(
            plan_text.contains(&match db.backend {
                Backend::Sqlite => format!("USING COVERING INDEX {wide} "),
                Backend::Postgres => format!("Index Only Scan using {wide} "),
            }),
            "channel {channel_type:?}: a search walk reads the key from {wide} alone; plan:\n{plan_text}"
        );
    }
}

// ---------------------------------------------------------------------------
// The digits index (migration 0008).

/// A search of six digits or more reads the digits index, which holds only what
/// `search_digits` holds: rows stored before the migration (`search_digits` NULL) are
/// derived when the store migrates, before it serves.
async fn digit_searches_use_their_index_and_older_rows_are_derived(db: TestDb) {
    use switchboard_store::plan::{self, Dialect};
    let now = start_time();
    let (tenant, channels) =
        create_tenant_with_channels(db.store.as_ref(), "Digits", &[ChannelType::Whatsapp], now)
            .await;
    for n in 0..5 {
        db.store
            .create_conversation(
                tenant,
                NewConversation {
                    channel_id: channels[0].1,
                    address: format!("+90532{:07}", 1_234_560 + n),
                    first_name: None,
                    last_name: None,
                },
                now,
            )
            .await
            .expect("create conversation");
    }
    let filter = ConversationFilter {
        channel_type: None,
        search: SearchPattern::parse("532 123 456"),
    };
    assert!(
        filter.search.as_ref().and_then(|p| p.digits()).is_some(),
        "nine digits go to the digits index"
    );
    let page = PageRequest {
        page: 1,
        per_page: 15,
    };
    let total = |store: Arc<dyn Store>| {
        let filter = filter.clone();
        async move {
            store
                .list_conversations(tenant, &filter, page, now)
                .await
                .expect("list")
                .total
        }
    };
    assert_eq!(total(db.store.clone()).await, 5);

    // The statement of a search page reads the digits index. (On PostgreSQL, whose
    // planner would read a handful of rows whole, the store's condition alone with
    // table scans off: it must be one the index serves.)
    let statement = match db.backend {
        Backend::Sqlite => {
            plan::conversation_page(Dialect::Sqlite, tenant, &filter, page, 0, now, true)
        }
        Backend::Postgres => {
            let mut matches = plan::filtered_ids(Dialect::Postgres, tenant, &filter);
            let (_, condition) = matches
                .sql
                .split_once(" AND ")
                .expect("the tenant, then the search");
            matches.sql = format!("SELECT c.id FROM conversations c WHERE $1 > 0 AND {condition}");
            matches
        }
    };
    let plan_text = explain(&db, &statement, &[]).await;
    let index = match db.backend {
        Backend::Sqlite => "conversation_digits VIRTUAL TABLE",
        Backend::Postgres => "conversations_search_digits",
    };
    assert!(
        plan_text.contains(index),
        "{index} in the plan:\n{plan_text}"
    );

    if db.backend == Backend::Postgres {
        // The index derives the suffixes from the key itself: check its SQL function
        // against the Rust one on the keys that are hard for it.
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        for key in [
            "ayşe\u{1f}+905321234567\u{1f}905321234567",
            "visitor-000068-5dfc00006865\u{1f}000068500006865",
            "١٢٣٤٥٦٧ 12345 123456",
            "",
        ] {
            let sql_suffixes: String = sqlx::query_scalar("SELECT search_digit_suffixes($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await
                .expect("search_digit_suffixes");
            let mut sql_suffixes: Vec<&str> = sql_suffixes.split(' ').collect();
            let rust_suffixes = digit_suffixes(key);
            let mut rust_suffixes: Vec<&str> = rust_suffixes.split(' ').collect();
            sql_suffixes.sort_unstable();
            rust_suffixes.sort_unstable();
            assert_eq!(sql_suffixes, rust_suffixes, "{key:?}");
        }
        assert_digits_derived(&db).await;
        return;
    }
    // SQLite rows as a database migrated before 0008 holds them.
    let forget = format!(
        "UPDATE conversations SET search_digits = NULL WHERE tenant_id = {}",
        tenant.0
    );
    let mut conn = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("connect");
    sqlx::query(&forget)
        .execute(&mut conn)
        .await
        .expect("forget");
    let unmigrated = Database::connect(&db.url, &StoreOptions::default())
        .await
        .expect("open without migrating")
        .into_store();
    assert_eq!(
        total(unmigrated).await,
        0,
        "the digits index holds what search_digits holds"
    );
    let reopened = Database::connect(&db.url, &StoreOptions::default())
        .await
        .expect("open again");
    reopened
        .migrate()
        .await
        .expect("migrate derives the digits");
    assert_eq!(total(reopened.into_store()).await, 5);
    assert_digits_derived(&db).await;
}
