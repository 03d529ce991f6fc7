//! Time is injected so that expiry rules (tokens, agent switch, blacklists) can be
//! tested by moving a clock instead of sleeping.

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Mutex;

pub trait Clock: Send + Sync + 'static {
    /// Current time, truncated to whole seconds: the API speaks second precision and
    /// the stores compare timestamps, so every stored instant has the same shape.
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(0)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start.trunc_subsecs(0)),
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
