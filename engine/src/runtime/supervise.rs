//! Items whose task ends while they should run (a panic, a task that gave
//! up) are started again, after a back-off that doubles with each restart
//! in a row, from one second up to a minute. What a worker held in flight
//! goes back to its queue first, so nothing it had taken is lost. Each
//! item's [`Health`] says how it fared; `switchboard status` shows it.
//!
//! The controller calls [`restart_ended`] about once a second from the
//! reloader's loop, so the controller stays the sole owner of running
//! items.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::topology::{ItemHandle, RunningProduction, Shared, start_item};
use crate::config::ItemKind;
use crate::ids::ItemName;

/// The first wait before an item is started again.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An item that ran this long since its last start counts as healthy again:
/// its next failure waits [`FIRST_BACKOFF`].
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

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

/// Why a task ended, in words.
async fn why_it_ended(handle: &mut ItemHandle) -> String {
    // The task has finished: awaiting its handle returns at once. A finished
    // placeholder takes its place, since a handle is read only once.
    let finished = std::mem::replace(&mut handle.running.task, tokio::spawn(async {}));
    match finished.await {
        Ok(()) => "its task ended".to_string(),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            format!("panicked: {message}")
        }
        Err(e) => format!("its task stopped: {e}"),
    }
}

/// Starts again the items of `production` whose task ended while they
/// should run, when their back-off is over. Returns whether any item
/// changed (ended, or was started again).
pub async fn restart_ended(shared: &Shared, production: &mut RunningProduction) -> bool {
    let now = Instant::now();
    let mut changed = false;
    let names: Vec<ItemName> = production.items.keys().cloned().collect();
    for name in names {
        let Some(handle) = production.items.get_mut(&name) else {
            continue;
        };
        if handle.token.is_cancelled() {
            continue;
        }
        match handle.health.restart_at {
            None if handle.running.task.is_finished() => {
                let why = why_it_ended(handle).await;
                if handle.kind != ItemKind::Service {
                    match handle.messages.requeue_in_flight_of(&handle.address) {
                        Ok(0) => {}
                        Ok(n) => {
                            info!(item = %name, count = n, "Deliveries the item held are queued again.")
                        }
                        Err(e) => {
                            warn!(item = %name, error = %e, "Could not queue again what the item held; the next start will.")
                        }
                    }
                }
                let wait = handle.health.failed(why.clone(), now);
                error!(
                    namespace = %production.production.id.namespace,
                    production = %production.production.id.name,
                    item = %name,
                    reason = %why,
                    restart_in = ?wait,
                    "Item stopped unexpectedly; it is started again after a pause."
                );
                changed = true;
            }
            Some(at) if at <= now => {
                let started =
                    start_item(shared, &production.production, &production.token, &name).await;
                let Some(handle) = production.items.get_mut(&name) else {
                    continue;
                };
                match started {
                    Ok(mut fresh) => {
                        fresh.health = handle.health.clone();
                        fresh.health.restarted(now);
                        info!(item = %name, failures = fresh.health.failures, "Item started again.");
                        *handle = fresh;
                    }
                    Err(e) => {
                        let wait = handle.health.failed(e.to_string(), now);
                        error!(item = %name, error = %e, restart_in = ?wait, "Item could not start again; trying later.");
                    }
                }
                changed = true;
            }
            _ => {}
        }
    }
    changed
}

#[cfg(test)]
mod tests;
