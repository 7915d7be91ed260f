//! Items whose task ends while they should run (a panic, a task that gave
//! up) are started again, after a back-off that doubles with each restart
//! in a row, from one second up to a minute. What a worker held in flight
//! goes back to its queue first, so nothing it had taken is lost. Each
//! item's [`Health`](super::health::Health) says how it fared; `switchboard
//! status` shows it.
//!
//! The controller calls [`restart_ended`] about once a second from the
//! reloader's loop, so the controller stays the sole owner of running
//! items.

use tokio::time::Instant;
use tracing::{error, info};

use super::topology::{ItemHandle, RunningProduction, Shared, start_item};
use crate::ids::ItemName;

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
                handle.requeue_held(&name);
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
