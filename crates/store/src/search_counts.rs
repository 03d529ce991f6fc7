//! Search totals, remembered per tenant epoch.
//!
//! Counting the conversations a search matches is the expensive part of a search
//! request: the page needs a few rows, the exact `total` needs every match (17,615 for
//! a common surname in a tenant of a million, some 30 ms of index and row reads on
//! SQLite, more on PostgreSQL). A tenant's *search epoch* (see `plan::search_state`)
//! moves whenever one of its conversations is added or gets a new search key, and a
//! count is kept only together with the epoch it was counted at, read in the same
//! statement. While the epoch stands still the count is exact, so a repeated search
//! costs one small counter query instead of a count; once the epoch moves, the next
//! request counts again. The epoch comes from the database, so writes by any process
//! (another server, the CLI) are seen.

use std::collections::HashMap;
use std::sync::Mutex;
use switchboard_core::search::SearchPattern;
use switchboard_core::{ChannelType, ConversationFilter, TenantId};

/// Past this many entries the cache starts over: memory stays bounded.
const MAX_ENTRIES: usize = 10_000;

/// A search of one tenant's list: the channel type it is narrowed to and its needle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    channel_type: Option<ChannelType>,
    pattern: SearchPattern,
}

impl Key {
    fn of(filter: &ConversationFilter) -> Option<Key> {
        Some(Key {
            channel_type: filter.channel_type,
            pattern: filter.search.clone()?,
        })
    }

    /// Whether the search counts a conversation of this channel type and search key,
    /// by the stores' own semantics (`SearchPattern::matches_key`).
    fn matches(&self, added: &AddedConversation) -> bool {
        let channel_matches = match self.channel_type {
            Some(t) => t.as_str() == added.channel_type,
            None => true,
        };
        channel_matches && self.pattern.matches_key(&added.search_key)
    }
}

/// A count and the epoch it holds at.
#[derive(Debug, Clone, Copy)]
struct Count {
    epoch: i64,
    matches: i64,
}

/// The newest count of a search, and the one before it: while a write commits, some
/// readers still see the state before it and some the state after, and both find
/// their count.
#[derive(Debug, Clone, Copy)]
struct Versions {
    latest: Count,
    previous: Option<Count>,
}

impl Versions {
    fn at(&self, epoch: i64) -> Option<i64> {
        [Some(self.latest), self.previous]
            .into_iter()
            .flatten()
            .find(|c| c.epoch == epoch)
            .map(|c| c.matches)
    }
}

/// What a search count needs to know of a conversation a write added.
#[derive(Debug, Clone)]
pub(crate) struct AddedConversation {
    pub channel_type: String,
    pub search_key: String,
}

#[derive(Default)]
struct Entries {
    tenants: HashMap<TenantId, HashMap<Key, Versions>>,
    len: usize,
}

#[derive(Default)]
pub(crate) struct SearchCounts {
    entries: Mutex<Entries>,
}

impl SearchCounts {
    /// The count of this search if it was counted at `epoch`.
    pub fn get(&self, tenant: TenantId, filter: &ConversationFilter, epoch: i64) -> Option<i64> {
        let key = Key::of(filter)?;
        let entries = self.lock();
        entries.tenants.get(&tenant)?.get(&key)?.at(epoch)
    }

    /// Remembers a count made at `epoch` (read in the same statement as the count),
    /// unless a count of a later epoch is kept already: a slow count that began before
    /// a write must not undo the write's `advance`, or every search after it would
    /// count again. Epochs only grow (the counters they sum are never decremented).
    pub fn put(&self, tenant: TenantId, filter: &ConversationFilter, epoch: i64, matches: i64) {
        let Some(key) = Key::of(filter) else {
            return;
        };
        let mut entries = self.lock();
        if entries.len >= MAX_ENTRIES {
            *entries = Entries::default();
        }
        let counts = entries.tenants.entry(tenant).or_default();
        let count = Count { epoch, matches };
        match counts.get_mut(&key) {
            Some(kept) if kept.latest.epoch > epoch => {}
            Some(kept) if kept.latest.epoch == epoch => kept.latest = count,
            Some(kept) => {
                *kept = Versions {
                    latest: count,
                    previous: Some(kept.latest),
                }
            }
            None => {
                counts.insert(
                    key,
                    Versions {
                        latest: count,
                        previous: None,
                    },
                );
                entries.len += 1;
            }
        }
    }

    /// Whether any count of this tenant is kept: only then is it worth a write's
    /// while to read the epoch it makes (`advance`).
    pub fn keeps(&self, tenant: TenantId) -> bool {
        self.lock().tenants.contains_key(&tenant)
    }

    /// A write adds `added` to the tenant, and nothing else moves its epoch between
    /// `epoch - 1` and `epoch`: the counts made at `epoch - 1` are the counts at `epoch`
    /// once the new conversation is counted where it matches. So a list under a
    /// stream of new conversations keeps its search totals instead of counting them
    /// again after every write. The counts at `epoch - 1` stay too, for the readers
    /// that do not see the write yet. The caller vouches for "nothing else" (see
    /// `commit_adding` in `shared.rs`).
    pub fn advance(&self, tenant: TenantId, epoch: i64, added: &AddedConversation) {
        let mut entries = self.lock();
        let Some(counts) = entries.tenants.get_mut(&tenant) else {
            return;
        };
        for (key, kept) in counts.iter_mut() {
            if kept.latest.epoch == epoch - 1 {
                let matches = kept.latest.matches + i64::from(key.matches(added));
                *kept = Versions {
                    latest: Count { epoch, matches },
                    previous: Some(kept.latest),
                };
            }
        }
    }

    /// Takes back an `advance` to `epoch` made before a commit that then failed.
    pub fn retract(&self, tenant: TenantId, epoch: i64) {
        let mut entries = self.lock();
        let Some(counts) = entries.tenants.get_mut(&tenant) else {
            return;
        };
        let before = counts.len();
        counts.retain(|_, kept| match kept.previous {
            _ if kept.latest.epoch != epoch => true,
            Some(previous) => {
                kept.latest = previous;
                kept.previous = None;
                true
            }
            None => false,
        });
        let removed = before - counts.len();
        entries.len -= removed;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(q: &str, channel_type: Option<ChannelType>) -> ConversationFilter {
        ConversationFilter {
            channel_type,
            search: SearchPattern::parse(q),
        }
    }

    #[test]
    fn a_count_holds_only_at_its_epoch_and_for_its_own_filter() {
        let counts = SearchCounts::default();
        let t = TenantId(1);
        counts.put(t, &search("yilmaz", None), 7, 42);
        assert_eq!(counts.get(t, &search("yilmaz", None), 7), Some(42));
        assert_eq!(
            counts.get(t, &search("Yılmaz", None), 7),
            Some(42),
            "same fold"
        );
        assert_eq!(
            counts.get(t, &search("yilmaz", None), 8),
            None,
            "epoch moved"
        );
        assert_eq!(counts.get(TenantId(2), &search("yilmaz", None), 7), None);
        assert_eq!(
            counts.get(t, &search("yilmaz", Some(ChannelType::Whatsapp)), 7),
            None
        );
        assert_eq!(counts.get(t, &search("yilma", None), 7), None);
        // Without a search there is nothing to remember: totals come from counters.
        counts.put(t, &search("", None), 7, 1);
        assert_eq!(counts.get(t, &search("", None), 7), None);
    }

    fn added(channel_type: &str, search_key: &str) -> AddedConversation {
        AddedConversation {
            channel_type: channel_type.to_string(),
            search_key: search_key.to_string(),
        }
    }

    #[test]
    fn an_added_conversation_advances_the_counts_of_the_epoch_before_it() {
        let counts = SearchCounts::default();
        let t = TenantId(1);
        let all = search("yilmaz", None);
        let whatsapp = search("yilmaz", Some(ChannelType::Whatsapp));
        let telegram = search("yilmaz", Some(ChannelType::Telegram));
        let other = search("demir", None);
        counts.put(t, &all, 7, 10);
        counts.put(t, &whatsapp, 7, 4);
        counts.put(t, &telegram, 7, 3);
        counts.put(t, &other, 7, 5);
        counts.put(TenantId(2), &all, 7, 1);
        assert!(counts.keeps(t) && !counts.keeps(TenantId(3)));

        counts.advance(t, 8, &added("whatsapp", "ayse yilmaz +905321112233"));
        assert_eq!(counts.get(t, &all, 8), Some(11));
        assert_eq!(counts.get(t, &whatsapp, 8), Some(5));
        assert_eq!(counts.get(t, &telegram, 8), Some(3), "other channel type");
        assert_eq!(counts.get(t, &other, 8), Some(5), "no match");
        assert_eq!(counts.get(t, &all, 7), Some(10), "readers before the write");
        assert_eq!(counts.get(TenantId(2), &all, 7), Some(1), "other tenant");

        // A slow count of the epoch before does not undo the advance.
        counts.put(t, &all, 7, 10);
        assert_eq!(counts.get(t, &all, 8), Some(11));

        // A gap (another write moved the epoch too) leaves the counts to be made again.
        counts.advance(t, 10, &added("whatsapp", "yilmaz"));
        assert_eq!(counts.get(t, &all, 10), None);
        assert_eq!(counts.get(t, &all, 8), Some(11));

        // An advance whose commit failed is taken back.
        counts.advance(t, 9, &added("website", "yilmaz"));
        assert_eq!(counts.get(t, &all, 9), Some(12));
        counts.retract(t, 9);
        assert_eq!(counts.get(t, &all, 9), None);
        assert_eq!(counts.get(t, &all, 8), Some(11));
        // Only the newest two epochs are kept.
        counts.advance(t, 9, &added("website", "ali"));
        counts.advance(t, 10, &added("website", "ali"));
        assert_eq!(counts.get(t, &all, 10), Some(11));
        assert_eq!(counts.get(t, &all, 9), Some(11));
        assert_eq!(counts.get(t, &all, 8), None);
    }
}
