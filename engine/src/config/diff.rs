//! What changed between two versions of a production, item by item. Pure
//! data: the runtime applies it (stop changed and removed items, build
//! changed and added ones) and uses [`ProductionDiff::flip`] to roll back.

use std::collections::{BTreeMap, BTreeSet};

use super::production::{Production, ProductionId};
use crate::ids::ItemName;

/// The change of one kind of items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Difference {
    pub to_add: BTreeSet<ItemName>,
    pub to_change: BTreeSet<ItemName>,
    pub to_remove: BTreeSet<ItemName>,
    pub unchanged: BTreeSet<ItemName>,
}

impl Difference {
    /// Compares two item maps by name and by config (`==`).
    pub fn new<T: PartialEq>(
        old: Option<&BTreeMap<ItemName, T>>,
        new: Option<&BTreeMap<ItemName, T>>,
    ) -> Self {
        let empty = BTreeMap::new();
        let old = old.unwrap_or(&empty);
        let new = new.unwrap_or(&empty);
        let mut d = Self::default();
        for (name, cfg) in new {
            match old.get(name) {
                None => {
                    d.to_add.insert(name.clone());
                }
                Some(o) if o == cfg => {
                    d.unchanged.insert(name.clone());
                }
                Some(_) => {
                    d.to_change.insert(name.clone());
                }
            }
        }
        for name in old.keys() {
            if !new.contains_key(name) {
                d.to_remove.insert(name.clone());
            }
        }
        d
    }

    /// The reverse change: added ↔ removed.
    pub fn flip(&self) -> Self {
        Self {
            to_add: self.to_remove.clone(),
            to_change: self.to_change.clone(),
            to_remove: self.to_add.clone(),
            unchanged: self.unchanged.clone(),
        }
    }

    /// Whether nothing is added, changed or removed.
    pub fn is_empty(&self) -> bool {
        self.to_add.is_empty() && self.to_change.is_empty() && self.to_remove.is_empty()
    }

    /// Items that must be stopped: changed and removed.
    pub fn to_stop(&self) -> impl Iterator<Item = &ItemName> {
        self.to_change.iter().chain(&self.to_remove)
    }

    /// Items that must be built: added and changed.
    pub fn to_start(&self) -> impl Iterator<Item = &ItemName> {
        self.to_add.iter().chain(&self.to_change)
    }
}

/// The change of one production. `old = None` is a new production; `new =
/// None` a removed one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductionDiff {
    pub services: Difference,
    pub processes: Difference,
    pub operations: Difference,
    /// Whether the `[[associations]]` or `[[ae_directory]]` seeds changed
    /// (seeding never overwrites, so this only adds absent entries).
    pub associations_changed: bool,
}

impl ProductionDiff {
    /// Compares two versions of a production.
    pub fn new(old: Option<&Production>, new: Option<&Production>) -> Self {
        Self {
            services: Difference::new(old.map(|p| &p.services), new.map(|p| &p.services)),
            processes: Difference::new(old.map(|p| &p.processes), new.map(|p| &p.processes)),
            operations: Difference::new(old.map(|p| &p.operations), new.map(|p| &p.operations)),
            associations_changed: old.map(|p| (&p.associations, &p.ae_directory))
                != new.map(|p| (&p.associations, &p.ae_directory)),
        }
    }

    /// The reverse change, to roll back.
    pub fn flip(&self) -> Self {
        Self {
            services: self.services.flip(),
            processes: self.processes.flip(),
            operations: self.operations.flip(),
            associations_changed: self.associations_changed,
        }
    }

    /// Whether no item changes.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.processes.is_empty() && self.operations.is_empty()
    }

    /// One line for the log: `+ADDED ~CHANGED -REMOVED`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for d in [&self.services, &self.processes, &self.operations] {
            parts.extend(d.to_add.iter().map(|n| format!("+{n}")));
            parts.extend(d.to_change.iter().map(|n| format!("~{n}")));
            parts.extend(d.to_remove.iter().map(|n| format!("-{n}")));
        }
        if parts.is_empty() {
            "no item changed".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// The change between two sets of productions (e.g. a namespace folder read
/// again).
#[derive(Debug, Clone, Default)]
pub struct ProductionsDiff {
    pub added: BTreeSet<ProductionId>,
    pub removed: BTreeSet<ProductionId>,
    pub changed: BTreeMap<ProductionId, ProductionDiff>,
    pub unchanged: BTreeSet<ProductionId>,
}

impl ProductionsDiff {
    /// Compares by production id, then item by item.
    pub fn new(old: &[Production], new: &[Production]) -> Self {
        let old: BTreeMap<&ProductionId, &Production> = old.iter().map(|p| (&p.id, p)).collect();
        let new: BTreeMap<&ProductionId, &Production> = new.iter().map(|p| (&p.id, p)).collect();
        let mut d = Self::default();
        for (id, p) in &new {
            match old.get(id) {
                None => {
                    d.added.insert((*id).clone());
                }
                Some(o) if *o == *p => {
                    d.unchanged.insert((*id).clone());
                }
                Some(o) => {
                    d.changed
                        .insert((*id).clone(), ProductionDiff::new(Some(o), Some(p)));
                }
            }
        }
        for id in old.keys() {
            if !new.contains_key(id) {
                d.removed.insert((*id).clone());
            }
        }
        d
    }
}
