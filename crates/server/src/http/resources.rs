//! Wire shapes, key for key and type for type as the published reference prints
//! them. Every key is always present; unknown optional values are null.

use super::json_writer::{JsonWriter, WriteJson};
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_core::{BlacklistEntry, Conversation};
use utoipa::ToSchema;

/// A JSON object or array: free-form metadata, which (as in the PHP reference) is
/// `[]` when empty.
pub fn json_container() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Object, Type::Array]))
        .build()
}

/// RFC 3339 UTC with `Z`, second precision. Written digit by digit: a list page
/// formats some sixty of these, and chrono's `format` parses its pattern every time
/// (2.5 % of the server's time under the list benchmark).
pub fn timestamp(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    let fields = [
        (year as u32, 4, '-'),
        (t.month(), 2, '-'),
        (t.day(), 2, 'T'),
        (t.hour(), 2, ':'),
        (t.minute(), 2, ':'),
        (t.second(), 2, 'Z'),
    ];
    let mut out = String::with_capacity(20);
    for (value, width, after) in fields {
        if width == 4 {
            out.push(char::from(b'0' + (value / 1000 % 10) as u8));
            out.push(char::from(b'0' + (value / 100 % 10) as u8));
        }
        out.push(char::from(b'0' + (value / 10 % 10) as u8));
        out.push(char::from(b'0' + (value % 10) as u8));
        out.push(after);
    }
    out
}

/// An integer as a string of digits (`itoa`: `to_string` goes through the formatting
/// machinery; a page writes some forty of these).
pub fn digits(n: i64) -> String {
    itoa::Buffer::new().format(n).to_string()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationCustomer {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationChannel {
    pub id: i64,
    pub name: String,
    /// One of `whatsapp`, `instagram`, `website`, `telegram`.
    #[serde(rename = "type")]
    #[schema(example = "whatsapp")]
    pub channel_type: String,
    pub address: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlacklistChannel {
    pub id: i64,
    pub name: String,
    pub address: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlacklistCustomer {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlacklistResource {
    pub id: i64,
    pub tenant_id: i64,
    #[schema(example = "manual")]
    pub reason: String,
    #[schema(example = "Manual")]
    pub reason_label: String,
    pub note: Option<String>,
    #[schema(format = DateTime, example = "2023-11-07T05:31:56Z")]
    pub blocked_at: String,
    #[schema(format = DateTime, example = "2023-11-07T05:31:56Z")]
    pub expires_at: Option<String>,
    pub is_active: bool,
    pub is_permanent: bool,
    pub is_expired: bool,
    /// Time left, e.g. "2 hours 5 minutes"; null when permanent or expired.
    pub remaining_time: Option<String>,
    /// Free-form JSON array or object (`[]` when none was given).
    #[schema(schema_with = json_container)]
    pub metadata: serde_json::Value,
    #[schema(format = DateTime, example = "2023-11-07T05:31:56Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2023-11-07T05:31:56Z")]
    pub updated_at: String,
    #[schema(format = DateTime, example = "2023-11-07T05:31:56Z")]
    pub deleted_at: Option<String>,
    pub channel: BlacklistChannel,
    pub customer: BlacklistCustomer,
}

impl BlacklistResource {
    pub fn new(entry: &BlacklistEntry, now: DateTime<Utc>) -> Self {
        let is_expired = entry.is_expired_at(now);
        Self {
            id: entry.id,
            tenant_id: entry.tenant_id.0,
            reason: entry.reason.as_str().to_string(),
            reason_label: entry.reason.label().to_string(),
            note: entry.note.clone(),
            blocked_at: timestamp(entry.blocked_at),
            expires_at: entry.expires_at.map(timestamp),
            is_active: entry.blocks_at(now),
            is_permanent: entry.expires_at.is_none(),
            is_expired,
            remaining_time: entry
                .expires_at
                .filter(|_| !is_expired)
                .map(|exp| human_duration((exp - now).num_seconds())),
            metadata: entry.metadata.clone(),
            created_at: timestamp(entry.created_at),
            updated_at: timestamp(entry.updated_at),
            deleted_at: entry.deleted_at.map(timestamp),
            channel: BlacklistChannel {
                id: entry.channel.id,
                name: entry.channel.name.clone(),
                address: entry.channel.address.clone(),
            },
            customer: BlacklistCustomer {
                id: entry.customer.id,
                first_name: entry.customer.first_name.clone(),
                last_name: entry.customer.last_name.clone(),
                phone_number: entry.customer.phone_number.clone(),
                email: entry.customer.email.clone(),
            },
        }
    }
}

/// The two largest non-zero units: "2 hours 5 minutes", "1 day", "45 seconds".
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let units = [
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
        ("second", 1),
    ];
    let mut rest = seconds;
    let mut parts = Vec::new();
    for (name, size) in units {
        let n = rest / size;
        rest %= size;
        if n > 0 && parts.len() < 2 {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
        } else if !parts.is_empty() {
            // Units must be adjacent: "1 day 3 seconds" would mislead.
            break;
        }
    }
    if parts.is_empty() {
        "0 seconds".to_string()
    } else {
        parts.join(" ")
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationResource {
    pub id: i64,
    pub display_name: String,
    pub address: String,
    /// Id of the newest message, as a string of digits; "0" when there is none.
    #[schema(example = "0")]
    pub last_message_id: String,
    pub last_message: Option<String>,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub last_message_at: Option<String>,
    #[schema(example = "text")]
    pub last_message_type: Option<String>,
    pub last_message_is_customer: Option<bool>,
    /// Unread customer messages, as a string of digits.
    #[schema(example = "0")]
    pub unread_count: String,
    pub agent_disabled: bool,
    #[schema(format = DateTime, example = "2023-11-07T05:31:56Z")]
    pub agent_expires_at: Option<String>,
    pub agent_disabled_by_user_name: Option<String>,
    pub customer: ConversationCustomer,
    pub channel: ConversationChannel,
    pub blacklist: Option<BlacklistResource>,
}

impl ConversationResource {
    /// Takes the conversation, so that its strings move into the resource: a list page
    /// copied some two hundred of them.
    pub fn new(c: Conversation, now: DateTime<Utc>) -> Self {
        let agent = c.agent.effective_at(now);
        let display_name = c.display_name();
        let blacklist = c
            .blacklist
            .as_ref()
            .filter(|b| b.blocks_at(now))
            .map(|b| BlacklistResource::new(b, now));
        let last = c.last_message;
        Self {
            id: c.id,
            display_name,
            address: c.address,
            last_message_id: digits(last.as_ref().map_or(0, |m| m.id)),
            last_message_at: last.as_ref().map(|m| timestamp(m.at)),
            last_message_is_customer: last.as_ref().map(|m| m.is_customer),
            last_message_type: last.as_ref().map(|m| m.message_type.clone()),
            last_message: last.and_then(|m| m.preview),
            unread_count: digits(c.unread_count),
            agent_disabled: agent.disabled,
            agent_expires_at: agent.expires_at.map(timestamp),
            agent_disabled_by_user_name: agent.disabled_by_user_name,
            customer: ConversationCustomer {
                id: c.customer.id,
                first_name: c.customer.first_name,
                last_name: c.customer.last_name,
                phone_number: c.customer.phone_number,
                avatar_url: c.customer.avatar_url,
            },
            channel: ConversationChannel {
                id: c.channel.id,
                name: c.channel.name,
                channel_type: c.channel.channel_type.as_str().to_string(),
                address: c.channel.address,
            },
            blacklist,
        }
    }
}

impl WriteJson for ConversationResource {
    fn write_json(&self, w: &mut JsonWriter) {
        w.raw("{\"id\":")
            .int(self.id)
            .raw(",\"display_name\":")
            .str(&self.display_name)
            .raw(",\"address\":")
            .str(&self.address)
            .raw(",\"last_message_id\":")
            .str(&self.last_message_id)
            .raw(",\"last_message\":")
            .opt_str(self.last_message.as_deref())
            .raw(",\"last_message_at\":")
            .opt_str(self.last_message_at.as_deref())
            .raw(",\"last_message_type\":")
            .opt_str(self.last_message_type.as_deref())
            .raw(",\"last_message_is_customer\":")
            .opt_bool(self.last_message_is_customer)
            .raw(",\"unread_count\":")
            .str(&self.unread_count)
            .raw(",\"agent_disabled\":")
            .bool(self.agent_disabled)
            .raw(",\"agent_expires_at\":")
            .opt_str(self.agent_expires_at.as_deref())
            .raw(",\"agent_disabled_by_user_name\":")
            .opt_str(self.agent_disabled_by_user_name.as_deref())
            .raw(",\"customer\":")
            .value(&self.customer)
            .raw(",\"channel\":")
            .value(&self.channel)
            .raw(",\"blacklist\":")
            .serde(&self.blacklist)
            .raw("}");
    }
}

impl WriteJson for ConversationCustomer {
    fn write_json(&self, w: &mut JsonWriter) {
        w.raw("{\"id\":")
            .int(self.id)
            .raw(",\"first_name\":")
            .opt_str(self.first_name.as_deref())
            .raw(",\"last_name\":")
            .opt_str(self.last_name.as_deref())
            .raw(",\"phone_number\":")
            .opt_str(self.phone_number.as_deref())
            .raw(",\"avatar_url\":")
            .opt_str(self.avatar_url.as_deref())
            .raw("}");
    }
}

impl WriteJson for ConversationChannel {
    fn write_json(&self, w: &mut JsonWriter) {
        w.raw("{\"id\":")
            .int(self.id)
            .raw(",\"name\":")
            .str(&self.name)
            .raw(",\"type\":")
            .str(&self.channel_type)
            .raw(",\"address\":")
            .str(&self.address)
            .raw("}");
    }
}

impl WriteJson for ConversationPage {
    fn write_json(&self, w: &mut JsonWriter) {
        w.raw("{\"data\":")
            .array(&self.data)
            .raw(",\"links\":")
            .value(&self.links)
            .raw(",\"meta\":")
            .value(&self.meta)
            .raw("}");
    }
}

/// `{"success": "...", "data": ...}` for one conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationEnvelope {
    #[schema(example = "Conversation created successfully.")]
    pub success: String,
    pub data: ConversationResource,
}

/// A page of conversations in Laravel's paginated resource shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub data: Vec<ConversationResource>,
    pub links: super::pagination::PageLinks,
    pub meta: super::pagination::PageMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(id: i64, text: Option<&str>) -> ConversationResource {
        let text = |s: &str| text.map(|t| format!("{s} {t}"));
        ConversationResource {
            id,
            display_name: text("Ayşe").unwrap_or_default(),
            address: "+905321234567".to_string(),
            last_message_id: digits(id * 7),
            last_message: text("Merhaba \"dünya\"\n"),
            last_message_at: text("2026-12-05T10:20:30Z"),
            last_message_type: text("text"),
            last_message_is_customer: text("").is_some().then_some(id % 2 == 0),
            unread_count: digits(id % 4),
            agent_disabled: id % 3 == 0,
            agent_expires_at: text("2026-12-05T11:00:00Z"),
            agent_disabled_by_user_name: text("Can\\Öz"),
            customer: ConversationCustomer {
                id: id + 100,
                first_name: text("Ayşe"),
                last_name: text("Yılmaz\t"),
                phone_number: text("+905321234567"),
                avatar_url: text("https://example.test/a.png?x=1&y=</script>"),
            },
            channel: ConversationChannel {
                id: 3,
                name: "WhatsApp \u{1}Main".to_string(),
                channel_type: "whatsapp".to_string(),
                address: "+905320000000".to_string(),
            },
            blacklist: text("blocked").map(|note| BlacklistResource {
                id: 9,
                tenant_id: 1,
                reason: "manual".to_string(),
                reason_label: "Manual".to_string(),
                note: Some(note),
                blocked_at: "2026-12-05T10:00:00Z".to_string(),
                expires_at: None,
                is_active: true,
                is_permanent: true,
                is_expired: false,
                remaining_time: None,
                metadata: serde_json::json!({"b": 1, "a": ["x"]}),
                created_at: "2026-12-05T10:00:00Z".to_string(),
                updated_at: "2026-12-05T10:00:00Z".to_string(),
                deleted_at: None,
                channel: BlacklistChannel {
                    id: 3,
                    name: "Main".to_string(),
                    address: "+905320000000".to_string(),
                },
                customer: BlacklistCustomer {
                    id: id + 100,
                    first_name: None,
                    last_name: None,
                    phone_number: None,
                    email: Some("a@b.test".to_string()),
                },
            }),
        }
    }

    #[test]
    fn a_conversation_page_is_written_as_serde_writes_it() {
        use crate::http::json_writer::both_ways;
        for text in [None, Some("x"), Some("çok \"özel\" \\ \u{7}")] {
            let (written, serde) = both_ways(&conversation(42, text));
            assert_eq!(written, serde, "{text:?}");
        }
        let kept = [("search".to_string(), "a b&c".to_string())];
        let kept: Vec<(&str, String)> = kept.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        for (page, total) in [(1, 0), (1, 3), (2, 40), (7, 1_000_000)] {
            let paginator = crate::http::pagination::Paginator {
                path: "http://localhost/api/v1/conversations",
                kept_query: &kept,
                page: switchboard_core::PageRequest { page, per_page: 3 },
                total,
                count: total.min(3) as usize,
            };
            let data = (0..paginator.count as i64)
                .map(|k| conversation(k, (k % 2 == 0).then_some("y")))
                .collect();
            let (written, serde) = both_ways(&ConversationPage {
                data,
                links: paginator.links(),
                meta: paginator.meta(),
            });
            assert_eq!(written, serde, "page {page} of {total}");
        }
    }

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(2 * 3600 + 5 * 60 + 7), "2 hours 5 minutes");
        assert_eq!(human_duration(86_400), "1 day");
        assert_eq!(human_duration(86_400 + 3), "1 day");
        assert_eq!(human_duration(61), "1 minute 1 second");
        assert_eq!(human_duration(0), "0 seconds");
    }

    #[test]
    fn timestamps_are_rfc3339_z_seconds() {
        let t = DateTime::parse_from_rfc3339("2023-11-07T05:31:56.789+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2023-11-07T05:31:56Z");
        // Every field padded, at either end of its range.
        let t = DateTime::parse_from_rfc3339("0007-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "0007-01-02T03:04:05Z");
        let t = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "9999-12-31T23:59:59Z");
        // Years past four digits keep chrono's spelling.
        let t = t + chrono::Duration::seconds(1);
        assert_eq!(timestamp(t), t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
}

/// A page of `$item` in Laravel's paginated resource shape.
macro_rules! page_type {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub data: Vec<$item>,
            pub links: super::pagination::PageLinks,
            pub meta: super::pagination::PageMeta,
        }

        impl $name {
            pub fn new(
                data: Vec<$item>,
                path: &str,
                kept: &[(&str, String)],
                page: switchboard_core::PageRequest,
                total: i64,
            ) -> Self {
                let paginator = super::pagination::Paginator {
                    path,
                    kept_query: kept,
                    page,
                    total,
                    count: data.len(),
                };
                Self {
                    links: paginator.links(),
                    meta: paginator.meta(),
                    data,
                }
            }
        }
    };
}

/// `{"success": "...", "data": ...}` around `$item`.
macro_rules! envelope_type {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub success: String,
            pub data: $item,
        }

        impl $name {
            pub fn new(success: &str, data: $item) -> Self {
                Self {
                    success: success.to_string(),
                    data,
                }
            }
        }
    };
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResource {
    pub id: i64,
    pub conversation_id: i64,
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub is_customer: bool,
    #[schema(example = "text")]
    pub message_type: String,
    /// The text; null once deleted.
    pub message: Option<String>,
    /// The text of the quoted message, if any (null when that one was deleted).
    pub quoted_text: Option<String>,
    pub is_deleted: bool,
    pub is_edited: bool,
    pub edited_by_user_name: Option<String>,
    pub deleted_by_user_name: Option<String>,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub read_at: Option<String>,
    /// Free-form JSON array or object (`[]` when there is none).
    #[schema(schema_with = json_container)]
    pub metadata: serde_json::Value,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub created_at: String,
    /// Original file name of an attachment.
    pub file: Option<String>,
    /// Expiring signed download URL of the attachment.
    pub file_temporary_url: Option<String>,
    pub file_mime_type: Option<String>,
    pub file_size: Option<i64>,
    /// Delivery state of an outbound message: queued, sent, delivered, read, failed.
    pub status: Option<String>,
    pub external_id: Option<String>,
    pub quoted_message_id: Option<i64>,
}

impl MessageResource {
    pub fn new(m: &switchboard_core::Message, file_url: Option<String>) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            user_id: m.user_id.map(|u| u.0),
            user_name: m.user_name.clone(),
            is_customer: m.is_customer,
            message_type: m.message_type.clone(),
            message: m.body.clone(),
            quoted_text: m.quoted_text.clone(),
            is_deleted: m.is_deleted,
            is_edited: m.is_edited,
            edited_by_user_name: m.edited_by_user_name.clone(),
            deleted_by_user_name: m.deleted_by_user_name.clone(),
            read_at: m.read_at.map(timestamp),
            metadata: m.metadata.clone(),
            created_at: timestamp(m.created_at),
            file: m.file.as_ref().map(|f| f.name.clone()),
            file_temporary_url: file_url,
            file_mime_type: m.file.as_ref().map(|f| f.mime_type.clone()),
            file_size: m.file.as_ref().map(|f| f.size),
            status: m.status.clone(),
            external_id: m.external_id.clone(),
            quoted_message_id: m.quoted_message_id,
        }
    }
}

/// What a send answers: ids as strings, as the hosted API prints them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentMessage {
    #[schema(example = "queued")]
    pub status: String,
    #[schema(example = "123")]
    pub message_id: String,
    #[schema(example = "45")]
    pub conversation_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionMessage {
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentStatusResource {
    pub agent_disabled: bool,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub agent_expires_at: Option<String>,
    pub agent_disabled_by_user_name: Option<String>,
    /// Whole minutes left of a timed disable, as a string; null when enabled or indefinite.
    #[schema(example = "30")]
    pub remaining_minutes: Option<String>,
}

impl AgentStatusResource {
    pub fn new(status: &switchboard_core::service::AgentStatus) -> Self {
        Self {
            agent_disabled: status.switch.disabled,
            agent_expires_at: status.switch.expires_at.map(timestamp),
            agent_disabled_by_user_name: status.switch.disabled_by_user_name.clone(),
            remaining_minutes: status.remaining_minutes.map(|m| m.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelResource {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(example = "whatsapp")]
    pub channel_type: String,
    pub address: String,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub created_at: String,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub updated_at: String,
    /// The channel's inbound secret: only in the answer that creates or rotates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_secret: Option<String>,
}

impl ChannelResource {
    pub fn new(c: &switchboard_core::ChannelRecord, inbound_secret: Option<String>) -> Self {
        Self {
            id: c.channel.id,
            name: c.channel.name.clone(),
            channel_type: c.channel.channel_type.as_str().to_string(),
            address: c.channel.address.clone(),
            settings: c.settings.clone(),
            created_at: timestamp(c.channel.created_at),
            updated_at: timestamp(c.updated_at),
            inbound_secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResource {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub default_channel_id: Option<i64>,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub created_at: String,
    #[schema(example = "2023-11-07T05:31:56Z")]
    pub updated_at: String,
}

impl CustomerResource {
    pub fn new(c: &switchboard_core::CustomerRecord) -> Self {
        Self {
            id: c.customer.id,
            first_name: c.customer.first_name.clone(),
            last_name: c.customer.last_name.clone(),
            phone_number: c.customer.phone_number.clone(),
            email: c.customer.email.clone(),
            avatar_url: c.customer.avatar_url.clone(),
            default_channel_id: c.default_channel_id,
            created_at: timestamp(c.created_at),
            updated_at: timestamp(c.updated_at),
        }
    }
}

/// What inbound ingest answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundResult {
    /// `stored`, `duplicate` or `blocked`.
    pub status: String,
    pub conversation_id: Option<i64>,
    pub message_id: Option<i64>,
}

page_type!(MessagePage, MessageResource);
page_type!(BlacklistPage, BlacklistResource);
page_type!(ChannelPage, ChannelResource);
page_type!(CustomerPage, CustomerResource);
envelope_type!(MessageEnvelope, MessageResource);
envelope_type!(SentEnvelope, SentMessage);
envelope_type!(ActionEnvelope, ActionMessage);
envelope_type!(AgentEnvelope, AgentStatusResource);
envelope_type!(BlacklistEnvelope, BlacklistResource);
envelope_type!(ChannelEnvelope, ChannelResource);
envelope_type!(CustomerEnvelope, CustomerResource);
