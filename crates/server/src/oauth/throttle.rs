//! Sign-in throttling for the authorization pages: failed attempts are counted per
//! account (the e-mail as typed, whether or not it exists, so the answer never
//! tells) and per client IP, in a fixed window that opens with the first failure.
//! Past the limit, attempts are refused without checking the password until the
//! window ends. State is in memory: it is per server and starts over on restart.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 5;
pub const MAX_FAILURES_PER_IP: u32 = 20;
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started_at: i64,
    failures: u32,
}

#[derive(Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<Key, Window>>,
}

fn account_key(email: &str) -> Key {
    Key::Account(email.trim().to_lowercase())
}

impl LoginThrottle {
    /// `Err(seconds)` to wait when the account or the IP is locked out at `now`.
    pub fn check(&self, email: &str, ip: IpAddr, now: i64) -> Result<(), i64> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let blocked = |key: &Key, max: u32| {
            windows
                .get(key)
                .filter(|w| now - w.started_at < WINDOW_SECS && w.failures >= max)
                .map(|w| w.started_at + WINDOW_SECS - now)
        };
        match (
            blocked(&account_key(email), MAX_FAILURES_PER_ACCOUNT),
            blocked(&Key::Ip(ip), MAX_FAILURES_PER_IP),
        ) {
            (None, None) => Ok(()),
            (a, b) => Err(a.unwrap_or(0).max(b.unwrap_or(0)).max(1)),
        }
    }

    pub fn record_failure(&self, email: &str, ip: IpAddr, now: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now - w.started_at < WINDOW_SECS);
        }
        for key in [account_key(email), Key::Ip(ip)] {
            let window = windows.entry(key).or_insert(Window {
                started_at: now,
                failures: 0,
            });
            if now - window.started_at >= WINDOW_SECS {
                *window = Window {
                    started_at: now,
                    failures: 0,
                };
            }
            window.failures += 1;
        }
    }

    /// A successful sign-in clears the account's failures (not the IP's).
    pub fn record_success(&self, email: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&account_key(email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn locks_an_account_then_lets_it_go_when_the_window_ends() {
        let t = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            assert_eq!(t.check("A@x.io", ip, 100), Ok(()));
            t.record_failure("a@x.io", ip, 100);
        }
        assert_eq!(t.check("a@x.io", ip, 160), Err(WINDOW_SECS - 60));
        assert_eq!(t.check("b@x.io", ip, 160), Ok(()));
        assert_eq!(t.check("a@x.io", ip, 100 + WINDOW_SECS), Ok(()));
    }

    #[test]
    fn locks_an_ip_across_accounts() {
        let t = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        for i in 0..MAX_FAILURES_PER_IP {
            t.record_failure(&format!("u{i}@x.io"), ip, 0);
        }
        assert!(t.check("new@x.io", ip, 1).is_err());
        assert!(t
            .check("new@x.io", IpAddr::V4(Ipv4Addr::LOCALHOST), 1)
            .is_ok());
    }
}
