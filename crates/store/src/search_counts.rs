//! Search totals, remembered per tenant epoch.
//!
//! Counting the conversations a search matches is the expensive part of a search
//! request: the page needs a few rows, the exact `total` needs every match (17,615 for
//! a common surname in a tenant of a million, some 30 ms of index and row reads on
//! SQLite, 250 ms on PostgreSQL). A tenant's *search epoch* (see `plan::search_state`)
//! moves by one whenever one of its conversations is added or gets a new search key,
//! and a count is kept only together with the epoch it was counted at, read in the
//! same statement. While the epoch stands still the count is exact, so a repeated
//! search costs one small counter query instead of a count. The epoch comes from the
//! database, so writes by any process (another server, the CLI) are seen.
//!
//! When the epoch moves because this server added conversations, the counts follow
//! without counting again: every addition is logged with the epochs it can be at
//! (`record_own_epoch`, `record_committed`, `bound`), and a count at epoch `c` is the
//! count at `e` once the log accounts for every one of the `e - c` additions between
//! them (`Tenant::roll_forward`). And when a
//! count must be made, it is made once: the other requests for the same search wait
//! for it (`turn`) instead of counting beside it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use switchboard_core::search::SearchPattern;
use switchboard_core::{ChannelType, ConversationFilter, TenantId};

/// Past this many remembered counts the cache starts over: memory stays bounded.
const MAX_ENTRIES: usize = 10_000;

/// The most additions remembered per tenant. A count older than the oldest of them is
/// made again; at a hundred new conversations a second that is 40 s of history.
const MAX_LOGGED: usize = 4_096;

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

    /// Keeps `count` unless a count of a later epoch is kept already: a slow count
    /// that began before a write must not replace what the write made.
    fn offer(&mut self, count: Count) {
        if count.epoch == self.latest.epoch {
            self.latest = count;
        } else if count.epoch > self.latest.epoch {
            self.previous = Some(self.latest);
            self.latest = count;
        }
    }
}

/// What a search count needs to know of a conversation a write added.
#[derive(Debug, Clone)]
pub(crate) struct AddedConversation {
    pub channel_type: String,
    pub search_key: String,
}

/// A conversation this server added, and the epochs it may have moved the tenant to:
/// `first` was read in its transaction (the epochs of the commits it saw plus its own
/// addition), `last` by the first epoch read that began after its commit (`bound`), so
/// exactly one epoch in `first..=last` is its own. With one writer at a time (SQLite)
/// the two are the same, known before the commit.
#[derive(Debug, Clone)]
struct Logged {
    first: i64,
    /// `None` until an epoch read that began after the commit bounds it.
    last: Option<i64>,
    /// Its place among the commits this server logged (`Entries::committed`).
    seq: u64,
    conversation: AddedConversation,
}

#[derive(Default)]
struct Tenant {
    counts: HashMap<Key, Versions>,
    /// Oldest first.
    log: VecDeque<Logged>,
}

impl Tenant {
    /// The count of `key` at `epoch`, rolled forward from the newest count before it
    /// when the log names every addition between the two. That is sound whatever order
    /// the additions committed in: each epoch from `count.epoch + 1` to `epoch` belongs
    /// to exactly one addition, a logged one whose whole range lies inside that span
    /// owns one of them, so as many such logged additions as the span is long are all
    /// of its additions. A write by another process leaves one short, and the search
    /// counts again.
    fn roll_forward(&self, key: &Key, epoch: i64) -> Option<Count> {
        let from = self.counts.get(key)?.latest;
        if from.epoch >= epoch {
            return None;
        }
        let (mut added, mut matches) = (0, from.matches);
        for logged in &self.log {
            if logged.first > from.epoch && logged.last.is_some_and(|last| last <= epoch) {
                added += 1;
                matches += i64::from(key.matches(&logged.conversation));
            }
        }
        (added == epoch - from.epoch).then_some(Count { epoch, matches })
    }
}

#[derive(Default)]
struct Entries {
    tenants: HashMap<TenantId, Tenant>,
    len: usize,
    /// Commits logged by `record_committed` so far, of every tenant.
    committed: u64,
}

/// Taken just before an epoch is read: the commits logged by then all came before the
/// read, so the epoch it reads is an upper bound of theirs (`SearchCounts::bound`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl Entries {
    fn get(&mut self, tenant: TenantId, key: &Key, epoch: i64) -> Option<i64> {
        let counts = self.tenants.get_mut(&tenant)?;
        if let Some(matches) = counts.counts.get(key)?.at(epoch) {
            return Some(matches);
        }
        let rolled = counts.roll_forward(key, epoch)?;
        counts.counts.get_mut(key)?.offer(rolled);
        Some(rolled.matches)
    }
}

/// The turn to count one search: see `SearchCounts::turn`.
type Flights = HashMap<(TenantId, Key), Arc<tokio::sync::Mutex<()>>>;

#[derive(Default)]
pub(crate) struct SearchCounts {
    entries: Mutex<Entries>,
    flights: Mutex<Flights>,
}

impl SearchCounts {
    /// The count of this search at `epoch`, if it was counted then or follows from a
    /// count before it and the logged additions.
    pub fn get(&self, tenant: TenantId, filter: &ConversationFilter, epoch: i64) -> Option<i64> {
        let key = Key::of(filter)?;
        self.lock().get(tenant, &key, epoch)
    }

    /// The count of this search at `epoch` or at a later one: what a request that
    /// waited for another one's count takes (its total is then as new as the list
    /// it was read from, or newer).
    pub fn get_at_least(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        epoch: i64,
    ) -> Option<i64> {
        let key = Key::of(filter)?;
        let mut entries = self.lock();
        if let Some(matches) = entries.get(tenant, &key, epoch) {
            return Some(matches);
        }
        let latest = entries.tenants.get(&tenant)?.counts.get(&key)?.latest;
        (latest.epoch >= epoch).then_some(latest.matches)
    }

    /// Remembers a count made at `epoch` (read in the same statement as the count),
    /// unless a count of a later epoch is kept already. Epochs only grow (the counters
    /// they sum are never decremented).
    pub fn put(&self, tenant: TenantId, filter: &ConversationFilter, epoch: i64, matches: i64) {
        let Some(key) = Key::of(filter) else {
            return;
        };
        let mut entries = self.lock();
        if entries.len >= MAX_ENTRIES {
            *entries = Entries::default();
        }
        let count = Count { epoch, matches };
        let counts = &mut entries.tenants.entry(tenant).or_default().counts;
        match counts.get_mut(&key) {
            Some(kept) => kept.offer(count),
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
    /// while to read the epochs it makes (`record`).
    pub fn keeps(&self, tenant: TenantId) -> bool {
        self.lock()
            .tenants
            .get(&tenant)
            .is_some_and(|t| !t.counts.is_empty())
    }

    /// Logs a conversation added to the tenant by a write that excluded every other
    /// writer, so it moved the epoch to exactly `epoch`, and changed no other search
    /// key (the caller vouches; see `commit_adding` in `shared.rs`). The counts follow
    /// it when next asked.
    pub fn record_own_epoch(&self, tenant: TenantId, epoch: i64, added: &AddedConversation) {
        self.log(tenant, epoch, Some(epoch), added);
    }

    /// Logs a conversation whose write committed beside others: it moved the epoch to
    /// `first` (read in its transaction) or later. The counts follow it once an epoch
    /// read that began after this call bounds it (`bound`).
    pub fn record_committed(&self, tenant: TenantId, first: i64, added: &AddedConversation) {
        self.log(tenant, first, None, added);
    }

    fn log(&self, tenant: TenantId, first: i64, last: Option<i64>, added: &AddedConversation) {
        let mut entries = self.lock();
        entries.committed += 1;
        let seq = entries.committed;
        let Some(counts) = entries.tenants.get_mut(&tenant) else {
            return;
        };
        if counts.log.len() >= MAX_LOGGED {
            counts.log.pop_front();
        }
        counts.log.push_back(Logged {
            first,
            last,
            seq,
            conversation: added.clone(),
        });
    }

    /// To take just before reading the tenant's epoch (a search's state, a count, a
    /// write's own epoch), and to hand to `bound` with what it read.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().committed)
    }

    /// `epoch` was read by a statement that began after `ticket` was taken: every
    /// commit logged before the ticket is visible to it, so its epoch is at most
    /// `epoch`. That bound is all a commit logged by `record_committed` lacks.
    pub fn bound(&self, tenant: TenantId, ticket: Ticket, epoch: i64) {
        let mut entries = self.lock();
        let Some(counts) = entries.tenants.get_mut(&tenant) else {
            return;
        };
        for logged in counts.log.iter_mut() {
            if logged.last.is_none() && logged.seq <= ticket.0 {
                logged.last = Some(epoch);
            }
        }
    }

    /// Takes back a `record` at `epoch` made before a commit that then failed, and any
    /// count that was rolled forward over it.
    pub fn retract(&self, tenant: TenantId, epoch: i64) {
        let mut entries = self.lock();
        let Some(counts) = entries.tenants.get_mut(&tenant) else {
            return;
        };
        counts
            .log
            .retain(|logged| !(logged.first == epoch && logged.last == Some(epoch)));
        let before = counts.counts.len();
        counts.counts.retain(|_, kept| {
            if kept.latest.epoch < epoch {
                return true;
            }
            match kept.previous {
                Some(previous) if previous.epoch < epoch => {
                    kept.latest = previous;
                    kept.previous = None;
                    true
                }
                _ => false,
            }
        });
        let removed = before - counts.counts.len();
        entries.len -= removed;
    }

    /// Waits for the turn to count this search of the tenant: one request counts at a
    /// time, and the ones that waited usually find its total (`get_at_least`) instead
    /// of counting too. Without it, every search that arrived during a 250 ms count
    /// started one more, all of them after a restart. `None` for a filter without a
    /// search (nothing to count).
    pub async fn turn(&self, tenant: TenantId, filter: &ConversationFilter) -> Option<Turn<'_>> {
        let key = (tenant, Key::of(filter)?);
        let lock = Arc::clone(self.flights().entry(key.clone()).or_default());
        let guard = lock.lock_owned().await;
        Some(Turn {
            counts: self,
            key,
            guard: Some(guard),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, Flights> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Held while counting a search; the next waiting request gets its turn when it drops.
pub(crate) struct Turn<'a> {
    counts: &'a SearchCounts,
    key: (TenantId, Key),
    /// `None` only while dropping.
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let mut flights = self.counts.flights();
        // Only the map and this turn hold the lock: nobody waits, so it goes. A
        // request that is about to wait has cloned it already (under this mutex).
        let nobody_waits = Arc::strong_count(tokio::sync::OwnedMutexGuard::mutex(&guard)) == 2;
        drop(guard);
        if nobody_waits {
            flights.remove(&self.key);
        }
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
    fn an_added_conversation_moves_the_counts_of_the_epoch_before_it() {
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

        counts.record_own_epoch(t, 8, &added("whatsapp", "ayse yilmaz +905321112233"));
        assert_eq!(counts.get(t, &all, 8), Some(11));
        assert_eq!(counts.get(t, &whatsapp, 8), Some(5));
        assert_eq!(counts.get(t, &telegram, 8), Some(3), "other channel type");
        assert_eq!(counts.get(t, &other, 8), Some(5), "no match");
        assert_eq!(counts.get(t, &all, 7), Some(10), "readers before the write");
        assert_eq!(counts.get(TenantId(2), &all, 8), None, "other tenant");

        // A slow count of the epoch before does not undo the move.
        counts.put(t, &all, 7, 10);
        assert_eq!(counts.get(t, &all, 8), Some(11));

        // A gap (another process moved the epoch too) leaves the counts to be made
        // again.
        counts.record_own_epoch(t, 10, &added("whatsapp", "yilmaz"));
        assert_eq!(counts.get(t, &all, 10), None);
        assert_eq!(counts.get(t, &all, 8), Some(11));
    }

    #[test]
    fn additions_that_committed_side_by_side_are_counted_once_later_reads_bound_them() {
        let counts = SearchCounts::default();
        let t = TenantId(1);
        let all = search("yilmaz", None);
        counts.put(t, &all, 10, 100);
        // Three writers read epoch 11 in their transactions (each saw 10 plus itself)
        // and committed; a search's read began after the first two commits and saw 13.
        counts.record_committed(t, 11, &added("whatsapp", "yilmaz"));
        counts.record_committed(t, 11, &added("whatsapp", "demir"));
        let ticket = counts.ticket();
        counts.record_committed(t, 11, &added("website", "yilmaz"));
        counts.bound(t, ticket, 13);
        assert_eq!(
            counts.get(t, &all, 13),
            None,
            "the third may be after the read's epoch"
        );
        assert_eq!(
            counts.get(t, &all, 12),
            None,
            "which one came first is unknown"
        );
        // The next read began after all three.
        let ticket = counts.ticket();
        counts.bound(t, ticket, 13);
        assert_eq!(counts.get(t, &all, 13), Some(102));
        assert_eq!(counts.get(t, &all, 10), Some(100), "the count before stays");

        // An addition no read has bounded yet is not counted.
        counts.record_committed(t, 14, &added("website", "yilmaz"));
        assert_eq!(counts.get(t, &all, 14), None);
        let ticket = counts.ticket();
        counts.record_committed(t, 14, &added("website", "ali"));
        counts.bound(t, ticket, 15);
        assert_eq!(counts.get(t, &all, 15), None, "the second is unbounded");
        let ticket = counts.ticket();
        counts.bound(t, ticket, 15);
        assert_eq!(counts.get(t, &all, 15), Some(103));
        assert_eq!(counts.get_at_least(t, &all, 14), Some(103), "a later count");
        assert_eq!(counts.get_at_least(t, &all, 16), None);
        // A bound from another tenant's read changes nothing here.
        counts.record_committed(t, 16, &added("website", "yilmaz"));
        let ticket = counts.ticket();
        counts.bound(TenantId(2), ticket, 16);
        assert_eq!(counts.get(t, &all, 16), None);
    }

    #[test]
    fn a_retracted_addition_takes_its_counts_with_it() {
        let counts = SearchCounts::default();
        let t = TenantId(1);
        let all = search("yilmaz", None);
        counts.put(t, &all, 8, 11);
        counts.record_own_epoch(t, 9, &added("website", "yilmaz"));
        assert_eq!(counts.get(t, &all, 9), Some(12));
        counts.retract(t, 9);
        assert_eq!(counts.get(t, &all, 9), None);
        assert_eq!(counts.get(t, &all, 8), Some(11));
        // Another writer's conversation gets epoch 9 instead: not ours to count.
        counts.record_own_epoch(t, 10, &added("website", "yilmaz"));
        assert_eq!(counts.get(t, &all, 10), None);
        // A count of only the retracted epoch goes, and the tenant stops keeping.
        let other = SearchCounts::default();
        other.put(t, &all, 9, 1);
        other.retract(t, 9);
        assert!(!other.keeps(t));
    }

    #[test]
    fn the_log_is_bounded() {
        let counts = SearchCounts::default();
        let t = TenantId(1);
        let all = search("yilmaz", None);
        counts.put(t, &all, 0, 0);
        let n = MAX_LOGGED as i64 + 1;
        for epoch in 1..=n {
            counts.record_own_epoch(t, epoch, &added("website", "yilmaz"));
        }
        assert_eq!(counts.get(t, &all, n), None, "the first addition fell out");
        counts.put(t, &all, 1, 1);
        assert_eq!(counts.get(t, &all, n), Some(n));
    }

    #[tokio::test]
    async fn one_request_counts_a_search_at_a_time() {
        let counts = Arc::new(SearchCounts::default());
        let t = TenantId(1);
        let all = search("yilmaz", None);
        let first = counts.turn(t, &all).await.expect("a search");
        let waiting = {
            let counts = Arc::clone(&counts);
            let all = all.clone();
            tokio::spawn(async move {
                let _turn = counts.turn(t, &all).await;
                counts.get_at_least(t, &all, 5)
            })
        };
        // Another search is not held up.
        drop(counts.turn(t, &search("demir", None)).await);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second waits for the first");
        counts.put(t, &all, 6, 60);
        drop(first);
        assert_eq!(waiting.await.ok().flatten(), Some(60));
        assert!(counts.flights().is_empty(), "nobody waits, nothing is kept");
        assert!(counts.turn(t, &search("", None)).await.is_none());
    }
}
