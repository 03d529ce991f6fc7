//! Sign-in throttling for the authorization pages: failed attempts are counted per
//! account (the e-mail as typed, whether or not it exists, so the answer never
//! tells) and per client IP, in a fixed window that opens with the first failure.
//! Past the limit, attempts are refused without checking the password until the
//! window ends. State is in memory: it is per server and starts over on restart.
//!
//! An attempt is counted as a failure when it starts (`reserve`), under the same
//! lock that checks the limit, and given back when it turns out not to be one
//! (`succeeded`, `release`). Checking first and counting after the password was
//! verified would let any number of concurrent guesses through the check before the
//! first failure is recorded.

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

impl Window {
    fn is_open_at(&self, now: i64) -> bool {
        now - self.started_at < WINDOW_SECS
    }
}

#[derive(Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<Key, Window>>,
}

fn account_key(email: &str) -> Key {
    Key::Account(email.trim().to_lowercase())
}

impl LoginThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an attempt at `now`: `Err(seconds)` to wait when the account or the IP
    /// is locked out (nothing is counted then); otherwise the attempt already counts
    /// as a failure of both, until `succeeded` or `release` gives it back.
    pub fn reserve(&self, email: &str, ip: IpAddr, now: i64) -> Result<(), i64> {
        let mut windows = self.lock();
        let keys = [
            (account_key(email), MAX_FAILURES_PER_ACCOUNT),
            (Key::Ip(ip), MAX_FAILURES_PER_IP),
        ];
        let wait = keys
            .iter()
            .filter_map(|(key, max)| {
                windows
                    .get(key)
                    .filter(|w| w.is_open_at(now) && w.failures >= *max)
                    .map(|w| w.started_at + WINDOW_SECS - now)
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait.max(1));
        }
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| w.is_open_at(now));
        }
        for (key, _) in keys {
            let window = windows.entry(key).or_insert(Window {
                started_at: now,
                failures: 0,
            });
            if !window.is_open_at(now) {
                *window = Window {
                    started_at: now,
                    failures: 0,
                };
            }
            window.failures += 1;
        }
        Ok(())
    }

    /// The attempt reserved at `reserved_at` signed in: the account's failures are
    /// cleared, and the IP gets its attempt back (a success is no failure).
    pub fn succeeded(&self, email: &str, ip: IpAddr, reserved_at: i64) {
        let mut windows = self.lock();
        windows.remove(&account_key(email));
        give_back(&mut windows, &Key::Ip(ip), reserved_at);
    }

    /// The attempt reserved at `reserved_at` could not be decided (the store failed):
    /// it counts for neither.
    pub fn release(&self, email: &str, ip: IpAddr, reserved_at: i64) {
        let mut windows = self.lock();
        give_back(&mut windows, &account_key(email), reserved_at);
        give_back(&mut windows, &Key::Ip(ip), reserved_at);
    }
}

/// Takes back one failure from the window the reservation went into, if that window
/// is still the current one.
fn give_back(windows: &mut HashMap<Key, Window>, key: &Key, reserved_at: i64) {
    if let Some(w) = windows.get_mut(key) {
        if w.started_at <= reserved_at && w.is_open_at(reserved_at) {
            w.failures = w.failures.saturating_sub(1);
        }
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
            assert_eq!(t.reserve("A@x.io", ip, 100), Ok(()));
        }
        assert_eq!(t.reserve("a@x.io", ip, 160), Err(WINDOW_SECS - 60));
        assert_eq!(t.reserve("b@x.io", ip, 160), Ok(()));
        assert_eq!(t.reserve("a@x.io", ip, 100 + WINDOW_SECS), Ok(()));
    }

    #[test]
    fn locks_an_ip_across_accounts() {
        let t = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        for i in 0..MAX_FAILURES_PER_IP {
            assert_eq!(t.reserve(&format!("u{i}@x.io"), ip, 0), Ok(()));
        }
        assert!(t.reserve("new@x.io", ip, 1).is_err());
        assert!(t
            .reserve("new@x.io", IpAddr::V4(Ipv4Addr::LOCALHOST), 1)
            .is_ok());
    }

    #[test]
    fn attempts_in_flight_count_before_they_are_decided() {
        let t = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let admitted = (0..20)
            .filter(|_| t.reserve("a@x.io", ip, 0).is_ok())
            .count();
        assert_eq!(admitted, MAX_FAILURES_PER_ACCOUNT as usize);
    }

    #[test]
    fn a_success_clears_the_account_and_gives_the_ip_its_attempt_back() {
        let t = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            t.reserve("a@x.io", ip, 0).unwrap();
        }
        t.reserve("a@x.io", ip, 0).unwrap();
        t.succeeded("a@x.io", ip, 0);
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            assert_eq!(t.reserve("a@x.io", ip, 1), Ok(()));
        }
        // 4 + 5 failures on the IP; the success is not one of them.
        for i in 0..MAX_FAILURES_PER_IP - 9 {
            assert_eq!(t.reserve(&format!("u{i}@x.io"), ip, 2), Ok(()));
        }
        assert!(t.reserve("v@x.io", ip, 2).is_err());
    }

    #[test]
    fn a_released_attempt_counts_for_nothing_and_a_stale_one_touches_no_new_window() {
        let t = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            t.reserve("a@x.io", ip, 0).unwrap();
        }
        t.release("a@x.io", ip, 0);
        assert_eq!(t.reserve("a@x.io", ip, 1), Ok(()));
        assert!(t.reserve("a@x.io", ip, 1).is_err());
        // Reserved in the old window, given back in a new one: nothing changes.
        let later = WINDOW_SECS + 10;
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            t.reserve("a@x.io", ip, later).unwrap();
        }
        t.release("a@x.io", ip, 5);
        assert!(t.reserve("a@x.io", ip, later).is_err());
    }
}
