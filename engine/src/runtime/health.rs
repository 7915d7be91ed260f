//! How an item has fared since its production started it: how often it
//! ended on its own, why, and when it is started again. Pure logic; the
//! supervisor ([`super::supervise`]) acts on it.

use std::time::Duration;

use tokio::time::Instant;

/// The first wait before an item is started again.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An item that ran this long since its last start counts as healthy again:
/// its next failure waits [`FIRST_BACKOFF`].
pub(super) const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// How an item has fared since its production started it.
#[derive(Debug, Clone)]
pub struct Health {
    /// How many times it ended unexpectedly.
    pub failures: u32,
    /// Why it ended the last time.
    pub last_failure: Option<String>,
    /// When it is started again, while it waits for that.
    pub restart_at: Option<Instant>,
    /// When its current task started.
    started: Instant,
    /// Failures since it last ran for [`HEALTHY_AFTER`].
    in_a_row: u32,
}

impl Health {
    /// A fresh start.
    pub fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            last_failure: None,
            restart_at: None,
            started: now,
            in_a_row: 0,
        }
    }

    /// It ended (or failed to start again) at `now` because of `why`;
    /// returns how long it waits before the next start.
    pub fn failed(&mut self, why: String, now: Instant) -> Duration {
        if now.saturating_duration_since(self.started) >= HEALTHY_AFTER {
            self.in_a_row = 0;
        }
        self.failures += 1;
        self.in_a_row += 1;
        self.last_failure = Some(why);
        let wait = backoff(self.in_a_row);
        self.restart_at = Some(now + wait);
        // A start that fails right away is not a healthy run.
        self.started = now;
        wait
    }

    /// It was started again at `now`.
    pub fn restarted(&mut self, now: Instant) {
        self.restart_at = None;
        self.started = now;
    }
}

/// The wait after `in_a_row` failures in a row (≥ 1).
pub fn backoff(in_a_row: u32) -> Duration {
    let doublings = in_a_row.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}
