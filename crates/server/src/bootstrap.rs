//! First run: an empty database gets a tenant, an owner and a token, so a newcomer
//! can call the API at once; `--demo` adds channels and conversations to look at.

use crate::credentials::{
    hash_password, new_secret, random_password, secret_hash, PERSONAL_TOKEN_PREFIX,
};
use chrono::Duration;
use rand::seq::SliceRandom;
use rand::Rng;
use std::sync::Arc;
use switchboard_core::*;

pub const FIRST_RUN_EMAIL: &str = "owner@switchboard.local";
pub const PERSONAL_TOKEN_LIFETIME_SECS: i64 = 365 * 24 * 3600;
pub const ALL_SCOPES: [&str; 2] = ["read", "write"];

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot hash the password: {0}")]
    Password(String),
}

/// What the first run created; printed once, never stored in clear.
#[derive(Debug, Clone)]
pub struct FirstRun {
    pub tenant: Tenant,
    pub user: User,
    pub password: String,
    pub token: String,
}

/// A personal access token for `user`; returns the token (shown once) and its record.
pub async fn issue_personal_token(
    store: &dyn Store,
    clock: &dyn Clock,
    user: UserId,
    name: &str,
    scopes: Vec<String>,
    lifetime_secs: Option<i64>,
) -> Result<(String, AccessToken), StoreError> {
    let token = new_secret(PERSONAL_TOKEN_PREFIX);
    let now = clock.now();
    let record = store
        .create_access_token(
            NewAccessToken {
                user_id: user,
                token_hash: secret_hash(&token),
                name: name.to_string(),
                scopes,
                expires_at: lifetime_secs.map(|s| now + Duration::seconds(s)),
            },
            now,
        )
        .await?;
    Ok((token, record))
}

/// Creates the first tenant, owner and token when the database has no tenant yet.
pub async fn first_run(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
) -> Result<Option<FirstRun>, BootstrapError> {
    if store.count_tenants().await? > 0 {
        return Ok(None);
    }
    let now = clock.now();
    let tenant = store.create_tenant("My Business", now).await?;
    let password = random_password();
    let password_hash =
        hash_password(&password).map_err(|e| BootstrapError::Password(e.to_string()))?;
    let user = store
        .create_user(
            NewUser {
                email: FIRST_RUN_EMAIL.to_string(),
                name: "Owner".to_string(),
                password_hash,
            },
            now,
        )
        .await?;
    store
        .put_membership(tenant.id, user.id, Role::Owner, now)
        .await?;
    let (token, _) = issue_personal_token(
        store.as_ref(),
        clock.as_ref(),
        user.id,
        "first-run",
        ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
        Some(PERSONAL_TOKEN_LIFETIME_SECS),
    )
    .await?;
    Ok(Some(FirstRun {
        tenant,
        user,
        password,
        token,
    }))
}

pub fn first_run_banner(run: &FirstRun, base_url: &str) -> String {
    format!(
        "\n\
         ================================================================\n\
         Switchboard first run: this database was empty, so it now has\n\
         \n  tenant      {tenant_id} ({tenant_name})\n  \
         owner       {email}\n  \
         password    {password}\n  \
         token       {token}\n\
         \nThey are shown only this once. Try the API:\n\
         \n  curl -s {base_url}/api/v1/conversations \\\n    \
         -H 'Authorization: Bearer {token}' \\\n    \
         -H 'X-Tenant: {tenant_id}'\n\
         ================================================================\n",
        tenant_id = run.tenant.id,
        tenant_name = run.tenant.name,
        email = run.user.email,
        password = run.password,
        token = run.token,
    )
}

const FIRST_NAMES: &[&str] = &[
    "Ahmet",
    "Mehmet",
    "Ayşe",
    "Fatma",
    "İsmail",
    "Şule",
    "Çağrı",
    "Gülşen",
    "Oğuz",
    "Ümit",
    "Işıl",
    "Ilgın",
    "Emre",
    "Zeynep",
    "Elif",
    "Burak",
    "Can",
    "Deniz",
    "Ece",
    "Hakan",
    "Selin",
    "Yusuf",
    "Merve",
    "Kerem",
    "James",
    "Emma",
    "Oliver",
    "Sophia",
    "William",
    "Isabella",
    "Henry",
    "Mia",
    "Lucas",
    "Amelia",
    "Jack",
    "Charlotte",
    "Noah",
    "Olivia",
    "Liam",
    "Grace",
];
const LAST_NAMES: &[&str] = &[
    "Yılmaz",
    "Kaya",
    "Demir",
    "Şahin",
    "Çelik",
    "Yıldız",
    "Yıldırım",
    "Öztürk",
    "Aydın",
    "Özdemir",
    "Arslan",
    "Doğan",
    "Kılıç",
    "Aslan",
    "Çetin",
    "Kara",
    "Koç",
    "Kurt",
    "Özkan",
    "Şimşek",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Taylor",
    "Clark",
];
const MESSAGES: &[&str] = &[
    "Merhaba, randevu almak istiyorum.",
    "Siparişim ne zaman kargoya verilecek?",
    "Teşekkürler, iyi günler!",
    "Fiyat bilgisi alabilir miyim?",
    "Yarın saat 14:00 uygun mu?",
    "Hi, is the clinic open on Saturday?",
    "Can I change my appointment to next week?",
    "Thanks for the quick reply!",
    "Where is my order? It has been five days.",
    "Do you ship to Germany?",
];

/// Loads demo data into `tenant`: one channel of each type and `conversations`
/// conversations with Turkish and English names, a few messages each.
pub async fn load_demo(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    tenant: TenantId,
    conversations: usize,
) -> Result<usize, StoreError> {
    let now = clock.now();
    let mut channels = Vec::new();
    for (channel_type, name, address) in [
        (ChannelType::Whatsapp, "WhatsApp Business", "+905320000000"),
        (ChannelType::Instagram, "Instagram", "switchboard.demo"),
        (ChannelType::Website, "Website chat", "https://example.com"),
        (
            ChannelType::Telegram,
            "Telegram bot",
            "@switchboard_demo_bot",
        ),
    ] {
        let channel = store
            .create_channel(
                tenant,
                NewChannel {
                    channel_type,
                    name: name.to_string(),
                    address: address.to_string(),
                    inbound_secret_hash: secret_hash(&new_secret("sbc_")),
                },
                now,
            )
            .await?;
        channels.push(channel);
    }
    let mut rng = rand::thread_rng();
    let mut created = 0;
    for i in 0..conversations {
        let channel = &channels[i % channels.len()];
        let first = FIRST_NAMES.choose(&mut rng).copied();
        let last = LAST_NAMES.choose(&mut rng).copied();
        let address = match channel.channel_type {
            ChannelType::Whatsapp => format!(
                "+90 5{:02} {:03} {:02} {:02}",
                rng.gen_range(30..60),
                rng.gen_range(0..1000),
                rng.gen_range(0..100),
                i % 100
            ),
            ChannelType::Instagram => format!("customer.{i:04}"),
            ChannelType::Website => format!("visitor-{i:05}"),
            ChannelType::Telegram => format!("{}", 100_000_000 + i as i64 * 7919),
        };
        // Some website visitors never give a name: their display name is the address.
        let named = channel.channel_type != ChannelType::Website || i % 3 != 0;
        let new = NewConversation {
            channel_id: channel.id,
            address: match address::normalize(channel.channel_type, &address) {
                Ok(a) => a,
                Err(_) => continue,
            },
            first_name: first.filter(|_| named).map(str::to_string),
            last_name: last.filter(|_| named).map(str::to_string),
        };
        let opened_at = now - Duration::minutes(rng.gen_range(60..60 * 24 * 30));
        let conversation = store.create_conversation(tenant, new, opened_at).await?;
        if !conversation.created {
            continue;
        }
        created += 1;
        let mut at = opened_at;
        for m in 0..rng.gen_range(0..4) {
            at += Duration::minutes(rng.gen_range(1..600));
            if at > now {
                break;
            }
            let is_customer = m % 2 == 0;
            store
                .add_message(
                    tenant,
                    conversation.value.id,
                    NewMessage {
                        user_id: None,
                        user_name: (!is_customer).then(|| "Demo Agent".to_string()),
                        is_customer,
                        message_type: "text".to_string(),
                        body: MESSAGES.choose(&mut rng).map(|s| s.to_string()),
                        external_id: None,
                        status: None,
                        sent_at: at,
                    },
                )
                .await?;
        }
    }
    Ok(created)
}
