//! What an item kind tells the runtime, and the registries of kinds.
//!
//! Every kind (`dicom-tcp` service, `wasm` process, `file` operation, …)
//! has a settings struct in its own folder (`config.rs`) that implements
//! [`ItemConfig`]: the runtime and the production-file reader learn
//! everything they need from it (targets, ports, files to watch, checks, the
//! I/O that resolves it, how it starts) and never name a concrete kind.
//!
//! The kinds of one role are listed once, in [`item_kinds!`] in the role's
//! `mod.rs` (`services/`, `processes/`, `operations/`): one line per kind,
//! its `type` name and its settings struct. The macro makes the closed enum
//! (compared with `==` by the reload diff) and forwards each question to the
//! kind.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{BuildError, ItemContext, Resource, RunningItem};

/// A problem in one field of an item's table, found by its kind. The
/// production-file reader adds the file, line and item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, or a dotted path into it (`retry.factor`); empty when the
    /// problem is with the item as a whole.
    pub field: String,
    /// What is wrong and, when possible, how to fix it.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The settings of one configured item of a kind: what the runtime needs to
/// know about it, and how it starts. Everything but [`ItemConfig::build`]
/// has a default for kinds that have none of it.
pub trait ItemConfig {
    /// The items it sends messages to, as written (the production's compile
    /// step checks that they exist).
    fn targets(&self) -> Vec<&str> {
        Vec::new()
    }

    /// What only one item in the whole engine may use (a port, a folder),
    /// checked across every production of every namespace.
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    /// The addresses it listens on: their sockets are kept across a reload
    /// and probed before a new version is applied.
    fn listen_addresses(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    /// Files besides the production file whose change must reload it (a
    /// plugin), as resolved by [`ItemConfig::resolve`].
    fn watched_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Checks of the settings alone, without I/O.
    fn check(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Resolves the settings against the file system once [`ItemConfig::check`]
    /// found nothing: paths relative to the production file's folder, a
    /// plugin loaded and initialised, content hashes recorded so that a
    /// changed file counts as a changed item. Runs while the production is
    /// validated, on a thread that may block.
    fn resolve(&mut self, _production_dir: &Path) -> Vec<FieldError> {
        Vec::new()
    }

    /// Builds and starts the item: claims its port or folder (so a conflict
    /// fails here, before anything runs), then spawns its task.
    fn build(
        &self,
        cx: ItemContext,
    ) -> impl Future<Output = Result<RunningItem, BuildError>> + Send;

    /// Who answers the C-FIND queries a service relays to this item, if it
    /// answers queries (a query operation, or a process in their way).
    fn query(
        &self,
        _cx: super::query::QueryContext<'_>,
    ) -> Option<std::sync::Arc<dyn super::query::Query>> {
        None
    }
}

/// Lists the kinds of one role: `"type" => Variant(SettingsStruct),` per
/// kind (attributes such as `#[cfg(test)]` may precede a line). Makes the
/// enum and its methods, each forwarding to the kind's [`ItemConfig`]:
///
/// - `KINDS`, `kind()`: the `type` names;
/// - `deserialize_kind(type, deserializer)`: reads a kind's own fields
///   (the `type` key already removed), `None` for an unknown type. The
///   dispatch is done here rather than by serde's internal tagging, which
///   buffers the table and loses the field names and lines in its errors;
/// - `targets`, `resources`, `listen_addresses`, `watched_files`, `check`,
///   `resolve`, `build`.
macro_rules! item_kinds {
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident {
            $( $(#[$attr:meta])* $name:literal => $Variant:ident($Config:ty), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[serde(tag = "type")]
        $vis enum $Enum {
            $( $(#[$attr])* #[serde(rename = $name)] $Variant($Config), )+
        }

        impl $Enum {
            /// The `type` values, for error messages.
            pub const KINDS: &'static [&'static str] = &[$( $(#[$attr])* $name ),+];

            /// Reads the fields of the kind named `kind`; `None` when no
            /// kind has that name.
            pub fn deserialize_kind<'de, D: serde::Deserializer<'de>>(
                kind: &str,
                de: D,
            ) -> Option<Result<Self, D::Error>> {
                Some(match kind {
                    $( $(#[$attr])* $name => <$Config as serde::Deserialize>::deserialize(de).map(Self::$Variant), )+
                    _ => return None,
                })
            }

            /// The `type` value.
            pub fn kind(&self) -> &'static str {
                match self { $( $(#[$attr])* Self::$Variant(_) => $name, )+ }
            }

            /// See [`ItemConfig::targets`](crate::component::ItemConfig::targets).
            pub fn targets(&self) -> Vec<&str> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::targets(c), )+ }
            }

            /// See [`ItemConfig::resources`](crate::component::ItemConfig::resources).
            pub fn resources(&self) -> Vec<$crate::component::Resource> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::resources(c), )+ }
            }

            /// See [`ItemConfig::listen_addresses`](crate::component::ItemConfig::listen_addresses).
            pub fn listen_addresses(&self) -> Vec<std::net::SocketAddr> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::listen_addresses(c), )+ }
            }

            /// See [`ItemConfig::watched_files`](crate::component::ItemConfig::watched_files).
            pub fn watched_files(&self) -> Vec<std::path::PathBuf> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::watched_files(c), )+ }
            }

            /// See [`ItemConfig::check`](crate::component::ItemConfig::check).
            pub fn check(&self) -> Vec<$crate::component::FieldError> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::check(c), )+ }
            }

            /// See [`ItemConfig::resolve`](crate::component::ItemConfig::resolve).
            pub fn resolve(&mut self, production_dir: &std::path::Path) -> Vec<$crate::component::FieldError> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::resolve(c, production_dir), )+ }
            }

            /// See [`ItemConfig::build`](crate::component::ItemConfig::build).
            ///
            /// # Errors
            /// What could not be set up.
            pub fn query(
                &self,
                cx: $crate::component::query::QueryContext<'_>,
            ) -> Option<std::sync::Arc<dyn $crate::component::query::Query>> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::query(c, cx), )+ }
            }

            pub async fn build(
                &self,
                cx: $crate::component::ItemContext,
            ) -> Result<$crate::component::RunningItem, $crate::component::BuildError> {
                match self { $( $(#[$attr])* Self::$Variant(c) => $crate::component::ItemConfig::build(c, cx).await, )+ }
            }
        }
    };
}

pub(crate) use item_kinds;
