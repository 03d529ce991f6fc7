//! Fixed-window rate limiting per token (per client IP when unauthenticated), the way
//! Laravel's throttle middleware counts: a window opens at the first request and
//! lasts a minute. State is in memory and sharded to keep lock hold times short.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

const WINDOW_SECS: i64 = 60;
const SHARDS: usize = 16;
/// Sweep a shard of expired windows every this many checks, so memory stays bounded
/// by the number of clients active within a minute.
const SWEEP_EVERY: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    Token(i64),
    OAuthToken(i64),
    /// Inbound ingest with the channel's secret.
    Channel(i64),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix time at which the window resets.
    pub reset_at: i64,
    /// Seconds until a refused client may retry.
    pub retry_after: i64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started_at: i64,
    hits: u32,
}

#[derive(Default)]
struct Shard {
    windows: HashMap<RateKey, Window>,
    checks: u32,
}

pub struct RateLimiter {
    per_minute: u32,
    shards: Vec<Mutex<Shard>>,
}

impl RateLimiter {
    /// `per_minute == 0` turns limiting off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// Counts one request for `key` at unix time `now`; `None` when limiting is off.
    pub fn check(&self, key: RateKey, now: i64) -> Option<Decision> {
        if !self.is_enabled() {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() as usize) % SHARDS;
        let mut shard = self.shards[index].lock().unwrap_or_else(|e| e.into_inner());
        shard.checks = shard.checks.wrapping_add(1);
        if shard.checks.is_multiple_of(SWEEP_EVERY) {
            shard
                .windows
                .retain(|_, w| now - w.started_at < WINDOW_SECS);
        }
        let window = shard.windows.entry(key).or_insert(Window {
            started_at: now,
            hits: 0,
        });
        if now - window.started_at >= WINDOW_SECS {
            *window = Window {
                started_at: now,
                hits: 0,
            };
        }
        let reset_at = window.started_at + WINDOW_SECS;
        let allowed = window.hits < self.per_minute;
        if allowed {
            window.hits += 1;
        }
        Some(Decision {
            allowed,
            limit: self.per_minute,
            remaining: self.per_minute - window.hits,
            reset_at,
            retry_after: (reset_at - now).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_refuses_until_the_window_resets() {
        let limiter = RateLimiter::new(3);
        let key = RateKey::Token(1);
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check(key.clone(), 100).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check(key.clone(), 130).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 30);
        assert_eq!(refused.reset_at, 160);
        assert!(
            limiter.check(RateKey::Token(2), 130).unwrap().allowed,
            "keys are independent"
        );
        let later = limiter.check(key, 160).unwrap();
        assert!(later.allowed);
        assert_eq!(later.remaining, 2);
    }

    #[test]
    fn zero_turns_limiting_off() {
        assert_eq!(RateLimiter::new(0).check(RateKey::Token(1), 0), None);
    }
}
