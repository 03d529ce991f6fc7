//! A small cache of credentials checked against the store, so that most requests
//! need no credential query: usable bearer tokens, callers' roles, and channels with
//! the hash of their inbound secret (the ingest's connector credential). Entries live
//! a short time; a token's expiry is re-checked on every hit, and every revocation or
//! channel change made by this server invalidates at once. One made elsewhere (the
//! CLI, another server, the database by hand) moves the store's revocation serial
//! (triggers on the tables concerned), which `watch_revocations` polls: it takes
//! effect here within `REVOCATION_POLL`. `TTL_SECS` bounds what a missed poll (the
//! database unreachable) could leave behind.

use crate::http::extract::Caller;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use switchboard_core::{Channel, Role, TenantId, UserId};

pub const TTL_SECS: i64 = 30;
/// How often a server looks for revocations made by other processes.
pub const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// Past this many entries the cache starts over: memory stays bounded.
const MAX_ENTRIES: usize = 50_000;

#[derive(Clone)]
struct Entry {
    caller: Caller,
    expires_at: Option<DateTime<Utc>>,
    cached_at: DateTime<Utc>,
}

#[derive(Clone)]
struct CachedChannel {
    channel: Channel,
    secret_hash: String,
    cached_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Each caller's role in a tenant (`None`: not a member), read by `TenantScope`
    /// on every tenant-scoped request. Invalidated with the tokens: membership
    /// changes move the same revocation serial.
    roles: HashMap<(UserId, TenantId), (Option<Role>, DateTime<Utc>)>,
    /// Channels by id, with their inbound secret's hash, as the ingest's gate read
    /// them. Only channels found (not deleted) are cached: a guessed id costs a query,
    /// as before, and the per-IP budget bounds those.
    channels: HashMap<i64, CachedChannel>,
    /// Moves on every invalidation. A lookup that started before one must not put
    /// what it read from the store: that may be the very token just revoked.
    generation: u64,
}

impl TokenCache {
    /// The caller for the token with this hash, if cached, fresh and not expired.
    pub fn get(&self, token_hash: &str, now: DateTime<Utc>) -> Option<Caller> {
        let mut inner = self.lock();
        let entry = inner.entries.get(token_hash)?;
        let fresh = is_fresh(entry.cached_at, now) && entry.expires_at.is_none_or(|exp| exp > now);
        if fresh {
            Some(entry.caller.clone())
        } else {
            inner.entries.remove(token_hash);
            None
        }
    }

    /// Read before looking a token up in the store; hand it back to `put`.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Caches a token read from the store, unless the cache was invalidated since
    /// `generation` was read.
    pub fn put(
        &self,
        token_hash: String,
        caller: Caller,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        generation: u64,
    ) {
        let entry = Entry {
            caller,
            expires_at,
            cached_at: now,
        };
        self.put_unless_invalidated(generation, |inner| &mut inner.entries, token_hash, entry);
    }

    /// The user's cached role in the tenant: `Some(None)` for a cached "not a member",
    /// `None` when not cached or stale.
    pub fn role(&self, user: UserId, tenant: TenantId, now: DateTime<Utc>) -> Option<Option<Role>> {
        let mut inner = self.lock();
        let (role, cached_at) = *inner.roles.get(&(user, tenant))?;
        if is_fresh(cached_at, now) {
            Some(role)
        } else {
            inner.roles.remove(&(user, tenant));
            None
        }
    }

    /// Caches a role read from the store, unless the cache was invalidated since
    /// `generation` was read (the membership may have changed meanwhile).
    pub fn put_role(
        &self,
        user: UserId,
        tenant: TenantId,
        role: Option<Role>,
        now: DateTime<Utc>,
        generation: u64,
    ) {
        let key = (user, tenant);
        self.put_unless_invalidated(generation, |inner| &mut inner.roles, key, (role, now));
    }

    /// The channel with this id and its inbound secret's hash, if cached and fresh.
    pub fn channel(&self, id: i64, now: DateTime<Utc>) -> Option<(Channel, String)> {
        let mut inner = self.lock();
        let entry = inner.channels.get(&id)?;
        if is_fresh(entry.cached_at, now) {
            Some((entry.channel.clone(), entry.secret_hash.clone()))
        } else {
            inner.channels.remove(&id);
            None
        }
    }

    /// Caches a channel read from the store, unless the cache was invalidated since
    /// `generation` was read (its secret may have been rotated meanwhile).
    pub fn put_channel(
        &self,
        channel: Channel,
        secret_hash: String,
        now: DateTime<Utc>,
        generation: u64,
    ) {
        let id = channel.id;
        let entry = CachedChannel {
            channel,
            secret_hash,
            cached_at: now,
        };
        self.put_unless_invalidated(generation, |inner| &mut inner.channels, id, entry);
    }

    /// Forgets a channel: after this server changed it (a rotated secret, an update,
    /// a deletion), whether or not the change succeeded.
    pub fn forget_channel(&self, id: i64) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.channels.remove(&id);
    }

    /// Forgets every cached role: after a membership change made by this server.
    pub fn clear_roles(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.roles.clear();
    }

    pub fn remove(&self, token_hash: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.remove(token_hash);
    }

    /// Forgets everything: for revocations that reach more tokens than one (a grant,
    /// a client), whose hashes this server does not know.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.roles.clear();
        inner.channels.clear();
    }

    /// Puts what a store read found into one of the maps, unless the cache was
    /// invalidated since `generation` was read (the read may predate the change);
    /// past `MAX_ENTRIES` that map starts over.
    fn put_unless_invalidated<K: std::hash::Hash + Eq, V>(
        &self,
        generation: u64,
        map: impl FnOnce(&mut Inner) -> &mut HashMap<K, V>,
        key: K,
        value: V,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let map = map(&mut inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Cached within `TTL_SECS`, and not in the future (a clock set back).
fn is_fresh(cached_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (now - cached_at).num_seconds() < TTL_SECS && cached_at <= now
}

/// Clears the server's cache (tokens, roles, channels) whenever the store's revocation
/// serial moves, and when it cannot be read (better a query too many than a revoked
/// token or a rotated secret let through). Runs until dropped.
pub async fn watch_revocations(state: crate::app::AppState) {
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(REVOCATION_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.store.revocation_serial().await {
            Ok(serial) => {
                if seen.is_some_and(|s| s != serial) {
                    state.token_cache.clear();
                }
                seen = Some(serial);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the revocation serial; dropping cached tokens");
                state.token_cache.clear();
                seen = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use switchboard_core::UserId;

    fn caller() -> Caller {
        Caller {
            user_id: UserId(7),
            token_id: 1,
            scopes: vec!["read".to_string()].into(),
            client: None,
            tenant: None,
            client_only: false,
        }
    }

    #[test]
    fn hits_until_expiry_or_ttl_and_forgets_on_invalidation() {
        let cache = TokenCache::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let put = |expires_at| {
            let generation = cache.generation();
            cache.put("h".into(), caller(), expires_at, t0, generation);
        };
        put(Some(t0 + Duration::seconds(10)));
        assert!(cache.get("h", t0 + Duration::seconds(9)).is_some());
        assert!(
            cache.get("h", t0 + Duration::seconds(10)).is_none(),
            "expired"
        );
        put(None);
        assert!(cache
            .get("h", t0 + Duration::seconds(TTL_SECS - 1))
            .is_some());
        assert!(
            cache.get("h", t0 + Duration::seconds(TTL_SECS)).is_none(),
            "stale"
        );
        put(None);
        cache.remove("h");
        assert!(cache.get("h", t0).is_none());
        put(None);
        cache.clear();
        assert!(cache.get("h", t0).is_none());
    }

    fn channel(id: i64) -> Channel {
        Channel {
            id,
            tenant_id: TenantId(3),
            channel_type: switchboard_core::ChannelType::Whatsapp,
            name: "Front desk".into(),
            address: "+905320000000".into(),
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn channels_hit_until_ttl_and_go_when_forgotten_or_cleared() {
        let cache = TokenCache::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let put = |id| cache.put_channel(channel(id), format!("hash{id}"), t0, cache.generation());
        put(5);
        put(6);
        let (hit, hash) = cache
            .channel(5, t0 + Duration::seconds(TTL_SECS - 1))
            .expect("hit");
        assert_eq!(
            (hit.id, hit.tenant_id, hash.as_str()),
            (5, TenantId(3), "hash5")
        );
        assert!(
            cache.channel(5, t0 + Duration::seconds(TTL_SECS)).is_none(),
            "stale"
        );
        assert!(
            cache.channel(6, t0 - Duration::seconds(1)).is_none(),
            "cached in the future"
        );
        put(5);
        put(6);
        cache.forget_channel(5);
        assert!(cache.channel(5, t0).is_none(), "forgotten");
        assert!(cache.channel(6, t0).is_some(), "only the one forgotten");
        cache.clear();
        assert!(cache.channel(6, t0).is_none(), "cleared with the tokens");
        // A read that started before the channel changed here is not cached.
        let before_read = cache.generation();
        cache.forget_channel(7);
        cache.put_channel(channel(7), "old hash".into(), t0, before_read);
        assert!(cache.channel(7, t0).is_none());
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_cached() {
        let cache = TokenCache::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let before_lookup = cache.generation();
        // The token is revoked while the store lookup that found it usable runs.
        cache.clear();
        cache.put("h".into(), caller(), None, t0, before_lookup);
        assert!(cache.get("h", t0).is_none());
        cache.put("h".into(), caller(), None, t0, cache.generation());
        assert!(cache.get("h", t0).is_some());
    }
}
