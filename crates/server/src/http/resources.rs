//! Wire shapes, key for key and type for type as the published reference prints
//! them. Every key is always present; unknown optional values are null.

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_core::{BlacklistEntry, Conversation};
use utoipa::ToSchema;

/// RFC 3339 UTC with `Z`, second precision.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
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
    /// Free-form JSON array or object.
    #[schema(value_type = Object)]
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
    pub fn new(c: &Conversation, now: DateTime<Utc>) -> Self {
        let agent = c.agent.effective_at(now);
        let last = c.last_message.as_ref();
        Self {
            id: c.id,
            display_name: c.display_name(),
            address: c.address.clone(),
            last_message_id: last.map_or(0, |m| m.id).to_string(),
            last_message: last.and_then(|m| m.preview.clone()),
            last_message_at: last.map(|m| timestamp(m.at)),
            last_message_type: last.map(|m| m.message_type.clone()),
            last_message_is_customer: last.map(|m| m.is_customer),
            unread_count: c.unread_count.to_string(),
            agent_disabled: agent.disabled,
            agent_expires_at: agent.expires_at.map(timestamp),
            agent_disabled_by_user_name: agent.disabled_by_user_name,
            customer: ConversationCustomer {
                id: c.customer.id,
                first_name: c.customer.first_name.clone(),
                last_name: c.customer.last_name.clone(),
                phone_number: c.customer.phone_number.clone(),
                avatar_url: c.customer.avatar_url.clone(),
            },
            channel: ConversationChannel {
                id: c.channel.id,
                name: c.channel.name.clone(),
                channel_type: c.channel.channel_type.as_str().to_string(),
                address: c.channel.address.clone(),
            },
            blacklist: c
                .blacklist
                .as_ref()
                .filter(|b| b.blocks_at(now))
                .map(|b| BlacklistResource::new(b, now)),
        }
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
    }
}
