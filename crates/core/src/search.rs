//! Conversation search: one folded key per conversation, matched by substring.
//!
//! The key and the query go through the same `fold`, so the stores only ever do a
//! plain, case-sensitive substring match that an index (pg_trgm, FTS5 trigram) can
//! serve. Folding is lower-casing after NFC, plus Turkish dotted/dotless i: `İ`, `I`,
//! `ı` and `i` all become `i`, so `ismail` finds `İsmail` and `yilmaz` finds `Yılmaz`.

use unicode_normalization::UnicodeNormalization;

/// Separates the parts of a key so that a query cannot match across two of them.
pub const KEY_SEPARATOR: char = '\u{1f}';

/// Indexes match trigrams; shorter patterns are matched without the index.
pub const MIN_INDEXED_LEN: usize = 3;

/// A query of this many digits or more is found through the digits index
/// (`digit_suffixes`) instead of the trigram index.
pub const MIN_DIGITS_INDEXED: usize = 6;

/// Case- and Turkish-i-insensitive form of `text`, whitespace runs folded to one space.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfc() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match c {
            'I' | 'İ' | 'ı' => out.push('i'),
            // `i` + COMBINING DOT ABOVE is how some keyboards write a lower-case İ.
            '\u{307}' if out.ends_with('i') => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The digits of `text`, in order.
pub fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// The stored search key of a conversation: full name, address, and the address and
/// phone number reduced to digits so that any spelling of a number finds it.
pub fn conversation_key(
    first_name: Option<&str>,
    last_name: Option<&str>,
    address: &str,
    phone_number: Option<&str>,
) -> String {
    let full_name = [first_name, last_name]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut parts = vec![fold(&full_name), fold(address), digits(address)];
    if let Some(phone) = phone_number {
        parts.push(digits(phone));
    }
    parts.retain(|p| !p.is_empty());
    parts.dedup();
    parts.join(&KEY_SEPARATOR.to_string())
}

/// The stored search key of a customer: full name, e-mail, and phone digits.
pub fn customer_key(
    first_name: Option<&str>,
    last_name: Option<&str>,
    phone_number: Option<&str>,
    email: Option<&str>,
) -> String {
    let mut key = conversation_key(first_name, last_name, email.unwrap_or(""), phone_number);
    if let Some(phone) = phone_number.map(fold).filter(|p| !p.is_empty()) {
        key.push(KEY_SEPARATOR);
        key.push_str(&phone);
    }
    key
}

/// The digits index entries of a search key: every suffix of at least
/// `MIN_DIGITS_INDEXED` digits of each maximal run of ASCII digits in `key`, once
/// each, separated by spaces.
///
/// A query made of digits is a substring of a key exactly when it is a substring of
/// one of the key's digit runs (anything else in the key ends a run), that is, when it
/// is the start of one of those runs' suffixes: so an index of the suffixes, searched
/// by prefix, finds a phone number's digits as a plain substring search does, with
/// one lookup instead of intersecting the trigram index's long lists (every Turkish
/// mobile number holds "905" and "053"). Stored beside the key (`search_digits`).
pub fn digit_suffixes(key: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for run in key.split(|c: char| !c.is_ascii_digit()) {
        // ASCII digits are one byte each, so every byte offset is a suffix.
        for start in 0..=run.len().saturating_sub(MIN_DIGITS_INDEXED) {
            let suffix = &run[start..];
            if suffix.len() >= MIN_DIGITS_INDEXED && seen.insert(suffix) {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(suffix);
            }
        }
    }
    out
}

/// A validated search, ready for a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchPattern {
    /// Folded text to find as a substring of the key; never empty.
    pub needle: String,
}

impl SearchPattern {
    /// `None` when the query folds to nothing (only spaces, say).
    ///
    /// A query made only of digits, spaces, `+`, `-` and parentheses is a phone number:
    /// its digits are searched, so `532 123 45` finds `+905321234567`.
    pub fn parse(query: &str) -> Option<SearchPattern> {
        // Only digits and phone punctuation: a phone number, searched by its digits (and
        // punctuation without digits, like "+ ()", searches nothing).
        let is_phone_like = query
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'));
        let needle = if is_phone_like {
            digits(query)
        } else {
            fold(query)
        };
        (!needle.is_empty()).then_some(SearchPattern { needle })
    }

    /// The needle, when the digits index serves it (`digit_suffixes`): only ASCII
    /// digits, at least `MIN_DIGITS_INDEXED` of them.
    pub fn digits(&self) -> Option<&str> {
        (self.needle.len() >= MIN_DIGITS_INDEXED && self.needle.bytes().all(|b| b.is_ascii_digit()))
            .then_some(self.needle.as_str())
    }

    /// Whether a trigram index can serve this pattern.
    pub fn is_indexable(&self) -> bool {
        self.needle.chars().count() >= MIN_INDEXED_LEN
    }

    /// The needle as a SQL LIKE pattern with `\` as the escape character.
    pub fn like_pattern(&self) -> String {
        let mut out = String::with_capacity(self.needle.len() + 2);
        out.push('%');
        for c in self.needle.chars() {
            if matches!(c, '%' | '_' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('%');
        out
    }

    /// The needle as one FTS5 phrase: a substring query for the trigram tokenizer.
    pub fn fts_phrase(&self) -> String {
        format!("\"{}\"", self.needle.replace('"', "\"\""))
    }

    /// Reference semantics of the match, used by tests to check the stores.
    pub fn matches_key(&self, key: &str) -> bool {
        key.contains(&self.needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turkish_i_forms_fold_together() {
        assert_eq!(fold("İsmail"), "ismail");
        assert_eq!(fold("ISMAIL"), "ismail");
        assert_eq!(fold("Yılmaz"), "yilmaz");
        assert_eq!(fold("YILMAZ"), "yilmaz");
        assert_eq!(fold("i\u{307}smail"), "ismail");
        assert_eq!(fold("Şule ÇİFTÇİ"), "şule çiftçi");
    }

    #[test]
    fn whitespace_is_trimmed_and_collapsed() {
        assert_eq!(fold("  Ahmet \t  Yılmaz "), "ahmet yilmaz");
    }

    #[test]
    fn decomposed_input_matches_composed() {
        assert_eq!(fold("S\u{327}ule"), fold("Şule"));
    }

    #[test]
    fn key_holds_name_address_and_digits() {
        let key = conversation_key(
            Some("Ahmet"),
            Some("Yılmaz"),
            "+905321234567",
            Some("+905321234567"),
        );
        let s = SearchPattern::parse("yilmaz").unwrap();
        assert!(s.matches_key(&key));
        assert!(SearchPattern::parse("ahmet yil").unwrap().matches_key(&key));
        assert!(SearchPattern::parse("532 123 45")
            .unwrap()
            .matches_key(&key));
        assert!(SearchPattern::parse("(532) 123-45")
            .unwrap()
            .matches_key(&key));
        assert!(SearchPattern::parse("+90532").unwrap().matches_key(&key));
        assert!(!SearchPattern::parse("mehmet").unwrap().matches_key(&key));
    }

    #[test]
    fn a_query_cannot_match_across_parts() {
        let key = conversation_key(Some("Ali"), None, "ali_veli", None);
        assert!(!SearchPattern::parse("ali ali").unwrap().matches_key(&key));
    }

    #[test]
    fn like_and_fts_patterns_escape_their_metacharacters() {
        let s = SearchPattern::parse("50%_a\\\"b").unwrap();
        assert_eq!(s.like_pattern(), "%50\\%\\_a\\\\\"b%");
        assert_eq!(s.fts_phrase(), "\"50%_a\\\"\"b\"");
    }

    #[test]
    fn digit_suffixes_are_the_runs_suffixes_of_six_digits_or_more() {
        assert_eq!(digit_suffixes(""), "");
        assert_eq!(digit_suffixes("ali veli 12345"), "");
        assert_eq!(digit_suffixes("123456"), "123456");
        assert_eq!(digit_suffixes("ab1234567cd"), "1234567 234567");
        // Each suffix once, however often its run comes back.
        let key = conversation_key(Some("Ayşe"), None, "+905321234567", Some("+905321234567"));
        assert_eq!(
            digit_suffixes(&key),
            "905321234567 05321234567 5321234567 321234567 21234567 1234567 234567"
        );
        // A run ends at anything that is not an ASCII digit.
        assert_eq!(
            digit_suffixes("visitor-000068-5dfc00006865"),
            "000068 00006865 0006865 006865"
        );
        assert_eq!(digit_suffixes("١٢٣٤٥٦٧"), "");
    }

    #[test]
    fn digit_queries_are_found_exactly_through_the_suffixes() {
        let keys = [
            conversation_key(Some("Ayşe"), None, "+905321234567", Some("+905321234567")),
            conversation_key(None, None, "visitor-000068-5dfc00006865", None),
            conversation_key(Some("Can 123456"), None, "can.987654321", None),
        ];
        let queries = [
            "905321",
            "5321234567",
            "234567",
            "123456",
            "0000686",
            "000068",
            "00006865",
            "987654",
            "87654321",
            "1234567890",
            "000000",
            "567905",
        ];
        for key in &keys {
            let suffixes = digit_suffixes(key);
            for query in queries {
                let pattern = SearchPattern::parse(query).unwrap();
                let digits = pattern.digits().expect("six digits or more");
                let by_index = suffixes.split(' ').any(|s| s.starts_with(digits));
                assert_eq!(by_index, pattern.matches_key(key), "{query:?} in {key:?}");
            }
        }
    }

    #[test]
    fn only_long_enough_digit_queries_use_the_digits_index() {
        assert_eq!(
            SearchPattern::parse("532 123").unwrap().digits(),
            Some("532123")
        );
        assert_eq!(SearchPattern::parse("+90 532").unwrap().digits(), None);
        assert_eq!(SearchPattern::parse("53212").unwrap().digits(), None);
        assert_eq!(SearchPattern::parse("user123456").unwrap().digits(), None);
    }

    #[test]
    fn blank_queries_are_no_search() {
        assert_eq!(SearchPattern::parse("   "), None);
        assert_eq!(SearchPattern::parse("+ ()"), None);
    }
}
