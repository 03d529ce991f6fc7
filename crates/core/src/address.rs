//! A customer's address on a channel, reduced to one canonical spelling so that
//! "+90 532 123 45 67" and "00905321234567" open the same conversation.

use crate::model::ChannelType;

pub const MAX_ADDRESS_LEN: usize = 255;

/// Why an address was refused; the text completes "The address ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    NotAPhoneNumber,
    NotATelegramId,
    NotAnInstagramId,
    NotAVisitorId,
}

impl AddressError {
    pub fn message(self) -> &'static str {
        match self {
            AddressError::NotAPhoneNumber => {
                "The address field must be a valid phone number in international format."
            }
            AddressError::NotATelegramId => {
                "The address field must be a Telegram chat id or @username."
            }
            AddressError::NotAnInstagramId => {
                "The address field must be an Instagram user id or handle."
            }
            AddressError::NotAVisitorId => {
                "The address field must be a visitor id without control characters."
            }
        }
    }
}

/// Canonical form of `raw` for a channel type.
///
/// * WhatsApp: E.164, `+` and 8 to 15 digits, country code first (a leading `00` is the
///   international prefix). Spaces, dots, dashes, slashes and parentheses are ignored.
/// * Telegram: a numeric chat id (may be negative for groups) or `@username` (5-32 of
///   letters, digits, underscore), lower-cased because Telegram usernames are.
/// * Instagram: a numeric user id or a handle (1-30 of letters, digits, `.`, `_`),
///   lower-cased, without `@`.
/// * Website: the visitor id as given (trimmed), any printable text.
pub fn normalize(channel_type: ChannelType, raw: &str) -> Result<String, AddressError> {
    let raw = raw.trim();
    match channel_type {
        ChannelType::Whatsapp => normalize_phone(raw).ok_or(AddressError::NotAPhoneNumber),
        ChannelType::Telegram => normalize_telegram(raw).ok_or(AddressError::NotATelegramId),
        ChannelType::Instagram => normalize_instagram(raw).ok_or(AddressError::NotAnInstagramId),
        ChannelType::Website => {
            if raw.is_empty() || raw.chars().any(char::is_control) {
                Err(AddressError::NotAVisitorId)
            } else {
                Ok(raw.to_string())
            }
        }
    }
}

/// `+` followed by the digits of a plausible international number.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '/' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest
    } else {
        compact.as_str()
    };
    let plausible = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    plausible.then(|| format!("+{digits}"))
}

fn normalize_telegram(raw: &str) -> Option<String> {
    let numeric = raw.strip_prefix('-').unwrap_or(raw);
    if !numeric.is_empty() && numeric.len() <= 20 && numeric.bytes().all(|b| b.is_ascii_digit()) {
        return Some(raw.to_string());
    }
    let name = raw.strip_prefix('@').unwrap_or(raw);
    let valid = (5..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.as_bytes()[0].is_ascii_alphabetic();
    valid.then(|| format!("@{}", name.to_ascii_lowercase()))
}

fn normalize_instagram(raw: &str) -> Option<String> {
    let name = raw.strip_prefix('@').unwrap_or(raw);
    let valid = (1..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
    valid.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_reduce_to_e164() {
        for raw in [
            "+90 532 123 45 67",
            "+90 (532) 123-45-67",
            "00905321234567",
            "905321234567",
            " +905321234567 ",
        ] {
            assert_eq!(
                normalize_phone(raw).as_deref(),
                Some("+905321234567"),
                "{raw}"
            );
        }
    }

    #[test]
    fn implausible_phone_numbers_are_refused() {
        for raw in [
            "",
            "+",
            "abc",
            "0532 123 45 67",
            "+1234567",
            "+1234567890123456",
            "+90 532 12x",
        ] {
            assert_eq!(normalize_phone(raw), None, "{raw}");
        }
    }

    #[test]
    fn telegram_accepts_chat_ids_and_usernames() {
        assert_eq!(
            normalize(ChannelType::Telegram, "123456").unwrap(),
            "123456"
        );
        assert_eq!(
            normalize(ChannelType::Telegram, "-100123").unwrap(),
            "-100123"
        );
        assert_eq!(
            normalize(ChannelType::Telegram, "@Ahmet_Bot").unwrap(),
            "@ahmet_bot"
        );
        assert_eq!(
            normalize(ChannelType::Telegram, "ahmet_bot").unwrap(),
            "@ahmet_bot"
        );
        assert!(normalize(ChannelType::Telegram, "@ab").is_err());
        assert!(normalize(ChannelType::Telegram, "@has space").is_err());
    }

    #[test]
    fn instagram_handles_are_lower_cased_without_at() {
        assert_eq!(
            normalize(ChannelType::Instagram, "@Ayse.Yilmaz").unwrap(),
            "ayse.yilmaz"
        );
        assert_eq!(
            normalize(ChannelType::Instagram, "17841400000").unwrap(),
            "17841400000"
        );
        assert!(normalize(ChannelType::Instagram, "bad handle").is_err());
    }

    #[test]
    fn website_visitor_ids_are_kept_verbatim() {
        assert_eq!(
            normalize(ChannelType::Website, " Visitor-AbC ").unwrap(),
            "Visitor-AbC"
        );
        assert!(normalize(ChannelType::Website, "a\u{0}b").is_err());
    }
}
