//! What `switchboard status` shows, kept by the reloader: the running
//! productions and items (with a handle telling whether each task still
//! runs), the files that do not run and the last reload. Queue depths are
//! read from the store when asked.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::AbortHandle;
use tracing::warn;

use super::topology::Wakers;
use crate::admin::status::{
    EngineState, EngineStatus, ItemMessages, ItemState, ItemStatus, ProductionCheck,
    ProductionFile, ProductionStatus, QuarantineSummary, RejectedFile, ReloadSummary, WaitingQueue,
};
use crate::config::{
    ItemKind, Production, ProductionDiff, ProductionId, check_resources, load_text,
};
use crate::ids::{ItemName, NamespaceId};
use crate::message::{ItemAddress, MessageQueues};
use crate::store::Store;
use crate::store::quarantine::{self, Quarantine};

/// What `switchboard status` reads, updated after every reload.
///
/// Why a std mutex: the reloader writes it once per reload and the admin
/// server reads it per request, both briefly and never across an await.
#[derive(Debug, Clone)]
pub struct StatusBoard {
    store: Store,
    /// The items' wake-ups, poked when the admin interface queues messages.
    wakers: Wakers,
    pub(super) board: Arc<Mutex<Board>>,
}

#[derive(Debug, Default)]
pub(super) struct Board {
    pub(super) productions_dir: String,
    pub(super) watching: bool,
    pub(super) productions: Vec<BoardProduction>,
    pub(super) rejected: Vec<RejectedFile>,
    pub(super) last_reload: Option<ReloadSummary>,
}

#[derive(Debug)]
pub(super) struct BoardProduction {
    pub(super) id: ProductionId,
    pub(super) file: PathBuf,
    /// The running version, which an edit is compared with.
    pub(super) config: Production,
    pub(super) items: Vec<BoardItem>,
    pub(super) error: Option<String>,
}

#[derive(Debug)]
pub(super) struct BoardItem {
    pub(super) name: ItemName,
    pub(super) kind: ItemKind,
    pub(super) kind_type: &'static str,
    /// Tells whether the item's task still runs.
    pub(super) task: AbortHandle,
    pub(super) listening: Option<SocketAddr>,
    pub(super) failures: u32,
    pub(super) last_failure: Option<String>,
    /// A restart is pending.
    pub(super) restarting: bool,
}

impl StatusBoard {
    /// An empty board for an engine running `productions_dir`.
    pub fn new(store: Store, wakers: Wakers, productions_dir: &Path, watching: bool) -> Self {
        Self {
            store,
            wakers,
            board: Arc::new(Mutex::new(Board {
                productions_dir: productions_dir.display().to_string(),
                watching,
                ..Board::default()
            })),
        }
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut Board)) {
        f(&mut self.board.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl StatusBoard {
    /// A running production's file and version, and the other running
    /// productions (which an edit must not take resources from).
    fn running_production(
        &self,
        namespace: &NamespaceId,
        name: &str,
    ) -> Result<(PathBuf, Production, Vec<Production>), String> {
        let b = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found = None;
        let mut others = Vec::new();
        for p in &b.productions {
            if &p.id.namespace == namespace && p.id.name.as_str() == name {
                found = Some((p.file.clone(), p.config.clone()));
            } else {
                others.push(p.config.clone());
            }
        }
        let (file, config) = found.ok_or_else(|| {
            format!("no production {namespace}/{name} runs: only a running production's file can be edited here")
        })?;
        Ok((file, config, others))
    }
}

/// The reload plan of a new version, one line per change.
fn changes(diff: &ProductionDiff) -> Vec<String> {
    let mut lines = Vec::new();
    for (kind, d) in [
        ("service", &diff.services),
        ("process", &diff.processes),
        ("operation", &diff.operations),
    ] {
        lines.extend(d.to_add.iter().map(|n| format!("add {kind} {n}")));
        lines.extend(
            d.to_change
                .iter()
                .map(|n| format!("change {kind} {n} (restarted)")),
        );
        lines.extend(d.to_remove.iter().map(|n| format!("remove {kind} {n}")));
    }
    if diff.associations_changed {
        lines.push("seed the associations or AE directory entries it declares anew (existing ones are kept)".into());
    }
    lines
}

impl EngineState for StatusBoard {
    fn production_file(
        &self,
        namespace: &NamespaceId,
        name: &str,
    ) -> Result<ProductionFile, String> {
        let (file, _, _) = self.running_production(namespace, name)?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        Ok(ProductionFile {
            file: file.display().to_string(),
            text,
        })
    }

    fn check_production(
        &self,
        namespace: &NamespaceId,
        name: &str,
        text: &str,
    ) -> Result<ProductionCheck, String> {
        let (file, running, mut others) = self.running_production(namespace, name)?;
        let mut check = ProductionCheck {
            file: file.display().to_string(),
            errors: Vec::new(),
            changes: Vec::new(),
            saved: false,
        };
        match load_text(&file, text) {
            Err(errors) => check.errors = errors.iter().map(ToString::to_string).collect(),
            Ok(new) => {
                others.push(new.clone());
                check.errors = check_resources(&others)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                if check.errors.is_empty() {
                    check.changes = changes(&ProductionDiff::new(Some(&running), Some(&new)));
                }
            }
        }
        Ok(check)
    }

    fn save_production(
        &self,
        namespace: &NamespaceId,
        name: &str,
        text: &str,
    ) -> Result<ProductionCheck, String> {
        let mut check = self.check_production(namespace, name, text)?;
        if !check.errors.is_empty() {
            return Ok(check);
        }
        // Written beside it under a name the reloader ignores, then renamed
        // over it: the reloader never reads half a file.
        let file = PathBuf::from(&check.file);
        let temporary = file.with_extension("toml.saving");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &file))
            .map_err(|e| {
                std::fs::remove_file(&temporary).ok();
                format!("cannot write {}: {e}", file.display())
            })?;
        check.saved = true;
        Ok(check)
    }

    fn queued(&self, namespace: &NamespaceId, targets: &[ItemAddress]) {
        for target in targets {
            self.wakers.get(namespace, target).notify_one();
        }
    }

    fn status(&self) -> EngineStatus {
        // Copy what is needed under the lock; read queues after.
        let (mut status, running): (EngineStatus, BTreeSet<(NamespaceId, ItemAddress)>) = {
            let b = self.board.lock().unwrap_or_else(PoisonError::into_inner);
            let running = b
                .productions
                .iter()
                .flat_map(|p| {
                    p.items.iter().map(|i| {
                        (
                            p.id.namespace.clone(),
                            ItemAddress::new(p.id.name.as_str(), i.name.as_str()),
                        )
                    })
                })
                .collect();
            let status = EngineStatus {
                productions_dir: b.productions_dir.clone(),
                watching: b.watching,
                productions: b
                    .productions
                    .iter()
                    .map(|p| ProductionStatus {
                        namespace: p.id.namespace.clone(),
                        name: p.id.name.to_string(),
                        file: p.file.display().to_string(),
                        items: p
                            .items
                            .iter()
                            .map(|i| ItemStatus {
                                name: i.name.to_string(),
                                kind: i.kind.to_string(),
                                kind_type: i.kind_type.to_string(),
                                state: match (i.task.is_finished(), i.restarting) {
                                    (false, _) => ItemState::Running,
                                    (true, true) => ItemState::Restarting,
                                    (true, false) => ItemState::Stopped,
                                },
                                queue_depth: 0,
                                oldest_queued_ms: None,
                                listening: i.listening.map(|a| a.to_string()),
                                failures: i.failures,
                                last_failure: i.last_failure.clone(),
                                messages: {
                                    let c = self.store.item_counts(
                                        &p.id.namespace,
                                        &ItemAddress::new(p.id.name.as_str(), i.name.as_str()),
                                    );
                                    ItemMessages {
                                        received: c.received,
                                        delivered: c.delivered,
                                        failed: c.failed,
                                    }
                                },
                            })
                            .collect(),
                        last_reload_error: p.error.clone(),
                    })
                    .collect(),
                rejected_files: b.rejected.clone(),
                waiting_queues: Vec::new(),
                last_reload: b.last_reload.clone(),
                quarantine: QuarantineSummary::default(),
                refusing_writes: None,
            };
            (status, running)
        };
        let mut namespaces: BTreeSet<NamespaceId> = status
            .productions
            .iter()
            .map(|p| p.namespace.clone())
            .collect();
        namespaces.extend(self.store.message_namespaces());
        for ns in namespaces {
            let queues = match self.store.messages(&ns).map(|m| m.queues()) {
                Ok(Ok(q)) => q,
                Ok(Err(e)) => {
                    warn!(namespace = %ns, error = %e, "Status: cannot read the queues.");
                    continue;
                }
                Err(e) => {
                    warn!(namespace = %ns, error = %e, "Status: cannot read the queues.");
                    continue;
                }
            };
            for (address, depth) in queues {
                let oldest_queued_ms = if depth == 0 {
                    None
                } else {
                    self.store
                        .messages(&ns)
                        .ok()
                        .and_then(|m| m.oldest_queued(&address).ok().flatten())
                };
                if running.contains(&(ns.clone(), address.clone())) {
                    if let Some(item) = status
                        .productions
                        .iter_mut()
                        .filter(|p| p.namespace == ns && p.name == address.production)
                        .flat_map(|p| p.items.iter_mut())
                        .find(|i| i.name == address.item)
                    {
                        item.queue_depth = depth;
                        item.oldest_queued_ms = oldest_queued_ms;
                    }
                } else if depth > 0 {
                    status.waiting_queues.push(WaitingQueue {
                        namespace: ns.clone(),
                        production: address.production.clone(),
                        item: address.item.clone(),
                        depth,
                        oldest_queued_ms,
                    });
                }
            }
        }
        status.quarantine = self.quarantine();
        status.refusing_writes = self.store.check_latch().err().map(|e| e.to_string());
        status
    }
}

impl StatusBoard {
    /// How much is in quarantine; what cannot be read is logged, not fatal.
    fn quarantine(&self) -> QuarantineSummary {
        let folder = Quarantine::new(self.store.data_dir());
        let bodies = folder.bodies().map(|b| b.len()).unwrap_or_else(|e| {
            warn!(error = %e, "Status: cannot read the quarantine folder.");
            0
        });
        let records = quarantine::records(&self.store)
            .map(|r| r.len())
            .unwrap_or_else(|e| {
                warn!(error = %e, "Status: cannot read the quarantined records.");
                0
            });
        QuarantineSummary {
            folder: folder.dir().display().to_string(),
            bodies,
            records,
        }
    }
}
