//! A small cache of checked bearer tokens, so that most API requests need no token
//! query. Only usable tokens are cached, for a short time; expiry is re-checked on
//! every hit, and every revocation made by this server invalidates the cache at
//! once. A revocation made elsewhere (another server, the database by hand) takes
//! effect here within `TTL_SECS`.

use crate::http::extract::Caller;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

pub const TTL_SECS: i64 = 30;
/// Past this many entries the cache starts over: memory stays bounded.
const MAX_ENTRIES: usize = 50_000;

#[derive(Clone)]
struct Entry {
    caller: Caller,
    expires_at: Option<DateTime<Utc>>,
    cached_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    /// The caller for the token with this hash, if cached, fresh and not expired.
    pub fn get(&self, token_hash: &str, now: DateTime<Utc>) -> Option<Caller> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(token_hash)?;
        let fresh = (now - entry.cached_at).num_seconds() < TTL_SECS
            && entry.cached_at <= now
            && entry.expires_at.is_none_or(|exp| exp > now);
        if fresh {
            Some(entry.caller.clone())
        } else {
            entries.remove(token_hash);
            None
        }
    }

    pub fn put(
        &self,
        token_hash: String,
        caller: Caller,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            token_hash,
            Entry {
                caller,
                expires_at,
                cached_at: now,
            },
        );
    }

    pub fn remove(&self, token_hash: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token_hash);
    }

    /// Forgets everything: for revocations that reach more tokens than one (a grant,
    /// a client), whose hashes this server does not know.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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
        cache.put("h".into(), caller(), Some(t0 + Duration::seconds(10)), t0);
        assert!(cache.get("h", t0 + Duration::seconds(9)).is_some());
        assert!(
            cache.get("h", t0 + Duration::seconds(10)).is_none(),
            "expired"
        );
        cache.put("h".into(), caller(), None, t0);
        assert!(cache
            .get("h", t0 + Duration::seconds(TTL_SECS - 1))
            .is_some());
        assert!(
            cache.get("h", t0 + Duration::seconds(TTL_SECS)).is_none(),
            "stale"
        );
        cache.put("h".into(), caller(), None, t0);
        cache.remove("h");
        assert!(cache.get("h", t0).is_none());
        cache.put("h".into(), caller(), None, t0);
        cache.clear();
        assert!(cache.get("h", t0).is_none());
    }
}
