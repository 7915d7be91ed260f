//! The controller: the sole owner of the running productions. Startup,
//! hot reload (the [`Reloader`](super::reload::Reloader) chooses the
//! versions to run and hands them over) and shutdown all go through it,
//! one at a time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::topology::StartError;
use super::topology::{RunningProduction, Shared, start_production, stop_items};
use crate::config::{Production, ProductionDiff, ProductionId, ProductionsDiff};
use crate::ids::NamespaceId;

/// What the controller did with a new set of productions.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// Every change applied.
    Applied,
    /// Some productions could not start or change; they were rolled back
    /// (each error names its production).
    RolledBack(Vec<(ProductionId, StartError)>),
}

/// Owns the running productions.
///
/// Lifecycle: [`Controller::new`], then [`Controller::apply`] with the
/// productions to run (first at startup, then on every reload), then
/// [`Controller::shutdown`].
#[derive(Debug)]
pub struct Controller {
    shared: Shared,
    /// The root of the shutdown tree: root → namespace → production → item
    /// (→ association, inside the SCP).
    root: CancellationToken,
    namespaces: BTreeMap<NamespaceId, CancellationToken>,
    running: BTreeMap<ProductionId, RunningProduction>,
}

impl Controller {
    pub fn new(shared: Shared, root: CancellationToken) -> Self {
        Self {
            shared,
            root,
            namespaces: BTreeMap::new(),
            running: BTreeMap::new(),
        }
    }

    /// The running productions.
    pub fn running(&self) -> impl Iterator<Item = &RunningProduction> {
        self.running.values()
    }

    /// The shared parts (store, bodies, …).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    fn namespace_token(&mut self, ns: &NamespaceId) -> CancellationToken {
        self.namespaces
            .entry(ns.clone())
            .or_insert_with(|| self.root.child_token())
            .clone()
    }

    /// Makes the running set equal to `productions` (already validated and
    /// free of resource conflicts): removed productions stop, new ones start,
    /// changed ones are changed item by item. Others are untouched.
    pub async fn apply(&mut self, productions: Vec<Production>) -> ReloadOutcome {
        let old: Vec<Production> = self
            .running
            .values()
            .map(|r| r.production.clone())
            .collect();
        let diff = ProductionsDiff::new(&old, &productions);
        let mut new: BTreeMap<ProductionId, Production> =
            productions.into_iter().map(|p| (p.id.clone(), p)).collect();
        let mut errors = Vec::new();

        // Ports no production will use close now, not after their old
        // services finished their associations.
        self.shared.release_listeners(new.values());
        // Stop removed productions first: they may free ports others need.
        for id in &diff.removed {
            if let Some(mut r) = self.running.remove(id) {
                let started = Instant::now();
                r.stop(self.shared.grace).await;
                info!(namespace = %id.namespace, production = %id.name, took_ms = started.elapsed().as_millis(), "Production stopped.");
            }
        }
        for (id, pdiff) in &diff.changed {
            let (Some(r), Some(p)) = (self.running.get_mut(id), new.remove(id)) else {
                continue;
            };
            let started = Instant::now();
            match r.apply(&self.shared, p, pdiff).await {
                Ok(()) => {
                    info!(namespace = %id.namespace, production = %id.name, changes = %pdiff.summary(), took_ms = started.elapsed().as_millis(), "Production reloaded.")
                }
                Err(e) => {
                    error!(namespace = %id.namespace, production = %id.name, error = %e, "Reload failed; the previous version keeps running.");
                    errors.push((id.clone(), e));
                }
            }
        }
        for id in &diff.added {
            let Some(p) = new.remove(id) else { continue };
            let parent = self.namespace_token(&id.namespace);
            let started = Instant::now();
            match start_production(&self.shared, p, &parent).await {
                Ok(r) => {
                    let items: Vec<&str> = r.items.keys().map(|n| n.as_str()).collect();
                    info!(namespace = %id.namespace, production = %id.name, items = %items.join(","), took_ms = started.elapsed().as_millis(), "Production started.");
                    self.running.insert(id.clone(), r);
                }
                Err(e) => {
                    error!(namespace = %id.namespace, production = %id.name, error = %e, "Production could not start.");
                    errors.push((id.clone(), e));
                }
            }
        }
        // Close the ports no service uses any more.
        self.shared
            .release_listeners(self.running.values().map(|r| &r.production));
        if errors.is_empty() {
            ReloadOutcome::Applied
        } else {
            ReloadOutcome::RolledBack(errors)
        }
    }

    /// Starts again the items whose task ended while they should run (see
    /// [`super::supervise`]); returns whether any item changed.
    pub async fn restart_ended(&mut self) -> bool {
        let mut changed = false;
        for production in self.running.values_mut() {
            changed |= super::supervise::restart_ended(&self.shared, production).await;
        }
        changed
    }

    /// The change a new version of one production would make.
    pub fn diff_of(&self, new: &Production) -> ProductionDiff {
        ProductionDiff::new(self.running.get(&new.id).map(|r| &r.production), Some(new))
    }

    /// Stops everything within `grace`: every service stops accepting and
    /// finishes its associations, then the workers finish what they hold.
    pub async fn shutdown(mut self, grace: Duration) {
        // No new connection waits in a kept socket's backlog.
        self.shared.release_listeners(std::iter::empty());
        let items = std::mem::take(&mut self.running)
            .into_values()
            .flat_map(|mut r| std::mem::take(&mut r.items).into_iter())
            .collect();
        stop_items(items, grace).await;
        self.root.cancel();
    }
}
