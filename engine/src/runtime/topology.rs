//! Building, starting and stopping productions and their items.
//!
//! Items are started targets first (operations, then processes, then
//! services), so nothing is sent to an item that does not run yet; they are
//! stopped in the opposite order in two phases: services stop accepting
//! first, then the workers finish what they hold.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::health::Health;
use crate::component::{BuildError, ItemContext, Listeners, Output, Outputs, RunningItem};
use crate::config::{ItemKind, Production, ProductionDiff};
use crate::ids::{ItemName, NamespaceId};
use crate::message::{ItemAddress, MessageQueues};
use crate::store::{Bodies, GroupCommit, Store, StoreError};

/// Why a production or one of its items could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{item}: {error}")]
    Item { item: ItemName, error: BuildError },
    #[error("cannot create the associations: {0}")]
    Associations(StoreError),
    #[error("cannot open the message queues of namespace {namespace}: {error}")]
    Queues {
        namespace: NamespaceId,
        error: StoreError,
    },
}

/// The wake-up of every item's queue, by namespace and address. Entries are
/// never removed: a reloaded or re-added item gets the same one.
#[derive(Debug, Clone, Default)]
pub struct Wakers(Arc<Mutex<WakerMap>>);

type WakerMap = HashMap<(NamespaceId, ItemAddress), Arc<Notify>>;

impl Wakers {
    /// The wake-up of an item, created on first use.
    pub fn get(&self, namespace: &NamespaceId, address: &ItemAddress) -> Arc<Notify> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((namespace.clone(), address.clone()))
            .or_default()
            .clone()
    }

    /// Wakes every item (after the store was reopened, its queues may hold
    /// restored messages).
    pub fn wake_all(&self) {
        for notify in self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            notify.notify_one();
        }
    }
}

/// What every item of the engine shares.
#[derive(Debug, Clone)]
pub struct Shared {
    pub store: Store,
    pub bodies: Bodies,
    pub commit: GroupCommit,
    pub wakers: Wakers,
    pub grace: Duration,
    /// Listening sockets kept across reloads: a changed service on the same
    /// address takes over its predecessor's socket.
    pub listeners: Listeners,
    /// The C-MOVEs through the engine in progress.
    pub retrieves: crate::component::retrieves::Retrieves,
    /// The instances sent on while they arrive.
    pub cut_throughs: crate::component::cut_through::CutThroughs,
}

impl Shared {
    /// Closes the kept sockets of addresses no running item uses.
    pub fn release_listeners<'a>(&self, running: impl Iterator<Item = &'a Production>) {
        let in_use: std::collections::HashSet<std::net::SocketAddr> = running
            .flat_map(|p| p.listen_addresses().into_iter().map(|(a, _, _)| a))
            .collect();
        self.listeners.retain(|a| in_use.contains(a));
    }
}

/// One running item.
#[derive(Debug)]
pub struct ItemHandle {
    pub kind: ItemKind,
    /// Where its queue is: after a worker stopped, what it still held in
    /// flight goes back to this queue.
    pub address: ItemAddress,
    pub messages: Arc<dyn MessageQueues>,
    /// Cancelled to stop this item alone (a child of the production's).
    pub token: CancellationToken,
    pub running: RunningItem,
    /// How it fared: failures, the last reason, a pending restart.
    pub health: Health,
}

/// A running production: its validated config and its items.
///
/// Lifecycle: created by [`start_production`], changed in place by
/// [`RunningProduction::apply`] (hot reload), ended by
/// [`RunningProduction::stop`].
#[derive(Debug)]
pub struct RunningProduction {
    pub production: Production,
    /// Parent of every item's token; a child of the namespace's.
    pub token: CancellationToken,
    pub items: BTreeMap<ItemName, ItemHandle>,
}

/// Creates the production's `[[associations]]` and `[[ae_directory]]`
/// entries in its namespace when absent; an existing one (perhaps edited by
/// a user) is left as it is. Returns how many were created.
///
/// # Errors
/// A store failure.
pub fn seed_associations(store: &Store, production: &Production) -> Result<usize, StoreError> {
    let associations = store.associations(&production.id.namespace);
    let mut created = 0;
    for ctx in &production.associations {
        if associations.get(&ctx.key())?.is_some() {
            continue;
        }
        match associations.put(ctx.clone(), false) {
            Ok(()) => {
                created += 1;
                info!(namespace = %production.id.namespace, pair = %ctx.key(), production = %production.id.name, "Association created from the production file.");
            }
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let directory = store.ae_directory(&production.id.namespace);
    for entry in &production.ae_directory {
        if directory.get(&entry.ae_title)?.is_some() {
            continue;
        }
        match directory.put(entry.clone(), false) {
            Ok(_) => {
                created += 1;
                info!(namespace = %production.id.namespace, ae = %entry, production = %production.id.name, "AE directory entry created from the production file.");
            }
            Err(StoreError::AeExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// The targets that answer queries, in order: query operations, and
/// processes in the way of queries with their own such targets (chains of
/// them were checked for cycles when the production was compiled).
fn targets_answering_queries(
    shared: &Shared,
    production: &Production,
    targets: &[ItemAddress],
) -> Vec<(ItemAddress, Arc<dyn crate::component::query::Query>)> {
    let ns = &production.id.namespace;
    targets
        .iter()
        .filter_map(|address| {
            let name = ItemName::new(&address.item).ok()?;
            let cx = |downstream| crate::component::query::QueryContext {
                store: &shared.store,
                namespace: ns,
                address: address.clone(),
                downstream,
                inbox: shared.wakers.get(ns, address),
                retrieves: shared.retrieves.clone(),
            };
            let query = if let Some(operation) = production.operations.get(&name) {
                operation.query(cx(Vec::new()))?
            } else {
                let process = production.processes.get(&name)?;
                let own: Vec<ItemAddress> = process
                    .targets()
                    .into_iter()
                    .map(|t| ItemAddress::new(production.id.name.as_str(), t))
                    .collect();
                let downstream = targets_answering_queries(shared, production, &own);
                if downstream.is_empty() {
                    return None;
                }
                process.query(cx(downstream))?
            };
            Some((address.clone(), query))
        })
        .collect()
}

fn targets_of(shared: &Shared, production: &Production, targets: Vec<&str>) -> Outputs {
    let ns = &production.id.namespace;
    Outputs(
        targets
            .into_iter()
            .map(|t| {
                let address = ItemAddress::new(production.id.name.as_str(), t);
                Output {
                    wake: shared.wakers.get(ns, &address),
                    address,
                }
            })
            .collect(),
    )
}

fn context(
    shared: &Shared,
    production: &Production,
    name: &ItemName,
    targets: Vec<&str>,
    token: CancellationToken,
) -> Result<ItemContext, StartError> {
    let ns = &production.id.namespace;
    let address = ItemAddress::new(production.id.name.as_str(), name.as_str());
    let outputs = targets_of(shared, production, targets);
    Ok(ItemContext {
        namespace: ns.clone(),
        production: production.id.name.clone(),
        name: name.clone(),
        associations: shared.store.associations(ns),
        ae_directory: shared.store.ae_directory(ns),
        messages: Arc::new(
            shared
                .store
                .messages(ns)
                .map_err(|error| StartError::Queues {
                    namespace: ns.clone(),
                    error,
                })?,
        ),
        bodies: shared.bodies.clone(),
        commit: shared.commit.clone(),
        shutdown: token,
        grace: shared.grace,
        inbox: shared.wakers.get(ns, &address),
        queries: targets_answering_queries(shared, production, &outputs.addresses()),
        outputs,
        listeners: shared.listeners.clone(),
        retrieves: shared.retrieves.clone(),
        cut_throughs: shared.cut_throughs.clone(),
    })
}

/// Builds and spawns one item of a production.
///
/// # Errors
/// [`StartError`] naming the item.
pub async fn start_item(
    shared: &Shared,
    production: &Production,
    parent: &CancellationToken,
    name: &ItemName,
) -> Result<ItemHandle, StartError> {
    let Some(item) = production.item(name) else {
        return Err(StartError::Item {
            item: name.clone(),
            error: BuildError::Setup(format!("no item {name} in the production").into()),
        });
    };
    let token = parent.child_token();
    let cx = context(shared, production, name, item.targets(), token.clone())?;
    let (address, messages) = (cx.address(), cx.messages.clone());
    let running = item.build(cx).await.map_err(|error| StartError::Item {
        item: name.clone(),
        error,
    })?;
    Ok(ItemHandle {
        kind: item.role(),
        address,
        messages,
        token,
        running,
        health: Health::new(tokio::time::Instant::now()),
    })
}

/// The order items start in: operations, processes, services.
fn start_order<'a>(
    production: &'a Production,
    names: impl Iterator<Item = &'a ItemName>,
) -> Vec<&'a ItemName> {
    let mut v: Vec<&ItemName> = names.collect();
    v.sort_by_key(|n| match production.item(n).map(|i| i.role()) {
        Some(ItemKind::Operation) => 0,
        Some(ItemKind::Process) => 1,
        _ => 2,
    });
    v
}

/// Seeds the associations, then builds and spawns every item. When one
/// fails, the ones already started are stopped and the error returned.
///
/// # Errors
/// [`StartError`] naming the item, or the store failure while seeding.
pub async fn start_production(
    shared: &Shared,
    production: Production,
    parent: &CancellationToken,
) -> Result<RunningProduction, StartError> {
    seed_associations(&shared.store, &production).map_err(StartError::Associations)?;
    let mut running = RunningProduction {
        token: parent.child_token(),
        items: BTreeMap::new(),
        production,
    };
    let names: Vec<ItemName> = start_order(
        &running.production,
        running
            .production
            .operations
            .keys()
            .chain(running.production.processes.keys())
            .chain(running.production.services.keys()),
    )
    .into_iter()
    .cloned()
    .collect();
    for name in names {
        match start_item(shared, &running.production, &running.token, &name).await {
            Ok(handle) => {
                running.items.insert(name, handle);
            }
            Err(e) => {
                running.stop(Duration::from_secs(1)).await;
                return Err(e);
            }
        }
    }
    Ok(running)
}

/// Stops items in two phases, each with its own budget: services first
/// (they stop accepting, let open associations finish within `grace`, then
/// abort the rest), then processes and operations (they get `grace` of
/// their own to finish what they hold; anything else stays queued). A
/// shared deadline would let one open inbound association use up the
/// workers' time, and a delivery cut off then is sent twice. Tasks still
/// running after their phase are aborted: what they held is in flight in
/// the store and is queued again on the next start.
pub async fn stop_items(items: Vec<(ItemName, ItemHandle)>, grace: Duration) {
    let (services, workers): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|(_, h)| h.kind == ItemKind::Service);
    stop_phase(services, grace + SERVICE_ABORT_TIME).await;
    stop_phase(workers, grace).await;
}

/// What a service needs after its grace period to abort the associations
/// still open (each sends its A-ABORT within a few seconds).
const SERVICE_ABORT_TIME: Duration = Duration::from_secs(6);

async fn stop_phase(phase: Vec<(ItemName, ItemHandle)>, budget: Duration) {
    let deadline = tokio::time::Instant::now() + budget;
    for (_, h) in &phase {
        h.token.cancel();
    }
    for (name, mut h) in phase {
        let abort = h.running.task.abort_handle();
        if tokio::time::timeout_at(deadline, &mut h.running.task)
            .await
            .is_err()
        {
            warn!(item = %name, "Item did not stop within the grace period; aborted.");
            abort.abort();
            // Wait for the abort to take effect before touching its queue.
            while !abort.is_finished() {
                tokio::task::yield_now().await;
            }
        }
        h.requeue_held(&name);
    }
}

impl ItemHandle {
    /// A worker that stopped (or was aborted, or died) while holding
    /// messages puts them back in its queue, for its successor or its return;
    /// services hold none. Only call it when its task no longer runs.
    pub fn requeue_held(&self, name: &ItemName) {
        if self.kind == ItemKind::Service {
            return;
        }
        match self.messages.requeue_in_flight_of(&self.address) {
            Ok(0) => {}
            Ok(n) => {
                info!(item = %name, count = n, "Deliveries the stopped item held are queued again.")
            }
            Err(e) => {
                warn!(item = %name, error = %e, "Could not queue again what the stopped item held; the next start will.")
            }
        }
    }
}

impl RunningProduction {
    /// Stops every item (see [`stop_items`]).
    pub async fn stop(&mut self, grace: Duration) {
        let items = std::mem::take(&mut self.items).into_iter().collect();
        stop_items(items, grace).await;
        self.token.cancel();
    }

    /// Applies a new version of the production item by item; unchanged
    /// items are not touched:
    ///
    /// 1. changed and removed services stop accepting (a changed one on the
    ///    same address leaves its socket to its successor);
    /// 2. changed and removed processes and operations stop: the message in
    ///    hand finishes, the rest stays in their queues in the store;
    /// 3. changed and added items start (targets first), so a changed
    ///    service accepts again while its predecessor's open associations
    ///    are still finishing;
    /// 4. the old services' open associations finish (within the grace
    ///    period).
    ///
    /// When a start fails, the items started are stopped, the old versions
    /// of the stopped ones started again, and the error returned.
    ///
    /// # Errors
    /// [`StartError`] of the first item that could not start.
    pub async fn apply(
        &mut self,
        shared: &Shared,
        new: Production,
        diff: &ProductionDiff,
    ) -> Result<(), StartError> {
        let to_stop: Vec<ItemName> = [&diff.services, &diff.processes, &diff.operations]
            .into_iter()
            .flat_map(|d| d.to_stop().cloned())
            .collect();
        let (draining, workers): (Vec<_>, Vec<_>) = to_stop
            .iter()
            .filter_map(|n| self.items.remove(n).map(|h| (n.clone(), h)))
            .partition(|(_, h)| h.kind == ItemKind::Service);
        for (_, h) in &draining {
            h.token.cancel();
        }
        stop_items(workers, shared.grace).await;
        let started = self.start_new(shared, &new, diff, &to_stop).await;
        // The old services only finish what they have open now.
        stop_items(draining, shared.grace).await;
        let started = started?;
        self.items.extend(started);
        self.production = new;
        Ok(())
    }

    /// Step 3 of [`RunningProduction::apply`], with the roll back.
    async fn start_new(
        &mut self,
        shared: &Shared,
        new: &Production,
        diff: &ProductionDiff,
        stopped: &[ItemName],
    ) -> Result<Vec<(ItemName, ItemHandle)>, StartError> {
        let mut started = Vec::new();
        let mut failure = None;
        if diff.associations_changed
            && let Err(e) = seed_associations(&shared.store, new)
        {
            failure = Some(StartError::Associations(e));
        }
        let to_start: Vec<ItemName> = start_order(
            new,
            [&diff.services, &diff.processes, &diff.operations]
                .into_iter()
                .flat_map(|d| d.to_start()),
        )
        .into_iter()
        .cloned()
        .collect();
        if failure.is_none() {
            for name in &to_start {
                match start_item(shared, new, &self.token, name).await {
                    Ok(h) => started.push((name.clone(), h)),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(e) = failure {
            stop_items(started, shared.grace).await;
            // Roll back: the old versions of what was stopped.
            let old = self.production.clone();
            for name in start_order(&old, stopped.iter()) {
                match start_item(shared, &old, &self.token, name).await {
                    Ok(h) => {
                        self.items.insert(name.clone(), h);
                    }
                    Err(e) => {
                        warn!(item = %name, error = %e, "Could not restore an item after a failed reload.")
                    }
                }
            }
            return Err(e);
        }
        Ok(started)
    }
}
