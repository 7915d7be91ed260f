//! A validated production: its items by role, and what the runtime asks of
//! any of them ([`Item`]) without knowing their kinds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::error::ItemKind;
use crate::association::{AeEntry, AssociationContext};
use crate::component::{BuildError, ItemContext, Resource, RunningItem};
use crate::ids::{ItemName, NamespaceId};
use crate::operations::OperationConfig;
use crate::processes::ProcessConfig;
use crate::services::ServiceConfig;

/// Names a production: its namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProductionId {
    pub namespace: NamespaceId,
    pub name: ItemName,
}

impl std::fmt::Display for ProductionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A validated production, ready to run. Compared with `==` by the reload
/// diff, item by item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Production {
    pub id: ProductionId,
    /// The file it was read from.
    pub file: PathBuf,
    pub description: String,
    /// Association contexts to create in the namespace when absent.
    pub associations: Vec<AssociationContext>,
    /// AE directory entries to create in the namespace when absent.
    pub ae_directory: Vec<AeEntry>,
    pub services: BTreeMap<ItemName, ServiceConfig>,
    pub processes: BTreeMap<ItemName, ProcessConfig>,
    pub operations: BTreeMap<ItemName, OperationConfig>,
}

/// One item of a production, whatever its role and kind.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Service(&'a ServiceConfig),
    Process(&'a ProcessConfig),
    Operation(&'a OperationConfig),
}

impl Item<'_> {
    /// Service, process or operation.
    pub fn role(&self) -> ItemKind {
        match self {
            Self::Service(_) => ItemKind::Service,
            Self::Process(_) => ItemKind::Process,
            Self::Operation(_) => ItemKind::Operation,
        }
    }

    /// The kind's `type` name (`dicom-tcp`, `wasm`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Service(c) => c.kind(),
            Self::Process(c) => c.kind(),
            Self::Operation(c) => c.kind(),
        }
    }

    /// The items it sends to.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Self::Service(c) => c.targets(),
            Self::Process(c) => c.targets(),
            Self::Operation(c) => c.targets(),
        }
    }

    /// Its exclusive resources.
    pub fn resources(&self) -> Vec<Resource> {
        match self {
            Self::Service(c) => c.resources(),
            Self::Process(c) => c.resources(),
            Self::Operation(c) => c.resources(),
        }
    }

    /// The addresses it listens on.
    pub fn listen_addresses(&self) -> Vec<SocketAddr> {
        match self {
            Self::Service(c) => c.listen_addresses(),
            Self::Process(c) => c.listen_addresses(),
            Self::Operation(c) => c.listen_addresses(),
        }
    }

    /// Files whose change reloads its production.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        match self {
            Self::Service(c) => c.watched_files(),
            Self::Process(c) => c.watched_files(),
            Self::Operation(c) => c.watched_files(),
        }
    }

    /// Builds and starts it.
    ///
    /// # Errors
    /// What could not be set up.
    pub async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        match self {
            Self::Service(c) => c.build(cx).await,
            Self::Process(c) => c.build(cx).await,
            Self::Operation(c) => c.build(cx).await,
        }
    }
}

impl Production {
    /// The item with this name, if it exists.
    pub fn item(&self, name: &ItemName) -> Option<Item<'_>> {
        self.services
            .get(name)
            .map(Item::Service)
            .or_else(|| self.processes.get(name).map(Item::Process))
            .or_else(|| self.operations.get(name).map(Item::Operation))
    }

    /// Every item, services first, then processes, then operations.
    pub fn items(&self) -> impl Iterator<Item = (&ItemName, Item<'_>)> {
        let services = self.services.iter().map(|(n, c)| (n, Item::Service(c)));
        let processes = self.processes.iter().map(|(n, c)| (n, Item::Process(c)));
        let operations = self.operations.iter().map(|(n, c)| (n, Item::Operation(c)));
        services.chain(processes).chain(operations)
    }

    /// Every exclusive resource with the item that claims it.
    pub fn resources(&self) -> Vec<(Resource, ItemKind, ItemName)> {
        self.items()
            .flat_map(|(name, item)| {
                item.resources()
                    .into_iter()
                    .map(move |r| (r, item.role(), name.clone()))
            })
            .collect()
    }

    /// Every address its items listen on, with the item.
    pub fn listen_addresses(&self) -> Vec<(SocketAddr, ItemKind, &ItemName)> {
        self.items()
            .flat_map(|(name, item)| {
                item.listen_addresses()
                    .into_iter()
                    .map(move |a| (a, item.role(), name))
            })
            .collect()
    }

    /// Every file its items want watched.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.items()
            .flat_map(|(_, item)| item.watched_files())
            .collect()
    }
}
