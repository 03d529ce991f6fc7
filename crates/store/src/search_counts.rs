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
use switchboard_core::{ChannelType, ConversationFilter, TenantId};

/// Past this many entries the cache starts over: memory stays bounded.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: TenantId,
    channel_type: Option<ChannelType>,
    needle: String,
}

impl Key {
    fn of(tenant: TenantId, filter: &ConversationFilter) -> Option<Key> {
        Some(Key {
            tenant,
            channel_type: filter.channel_type,
            needle: filter.search.as_ref()?.needle.clone(),
        })
    }
}

#[derive(Default)]
pub(crate) struct SearchCounts {
    entries: Mutex<HashMap<Key, (i64, i64)>>,
}

impl SearchCounts {
    /// The count of this search if it was counted at `epoch`.
    pub fn get(&self, tenant: TenantId, filter: &ConversationFilter, epoch: i64) -> Option<i64> {
        let key = Key::of(tenant, filter)?;
        let entries = self.lock();
        entries
            .get(&key)
            .and_then(|&(counted_at, count)| (counted_at == epoch).then_some(count))
    }

    /// Remembers a count made at `epoch` (read in the same statement as the count).
    pub fn put(&self, tenant: TenantId, filter: &ConversationFilter, epoch: i64, count: i64) {
        let Some(key) = Key::of(tenant, filter) else {
            return;
        };
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (epoch, count));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (i64, i64)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::search::SearchPattern;

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
}
