//! Production files: `productions/<namespace>/<name>.toml` → validated
//! [`Production`]s, and the diff between two versions for hot reload.
//!
//! The pipeline: [`load`] reads files (the only I/O here, besides each
//! kind's resolution step: a `wasm` process loads its plugin), [`raw`]
//! parses one (version probe, `deny_unknown_fields`, the line of every
//! field), [`compile`] validates (references, keywords, each kind's checks,
//! resources) collecting every error, [`diff`] compares versions. No tokio
//! here, so `switchboard validate` and the tests run it standalone.
//!
//! The item kinds' own structs live with the items (`services/*/config.rs`,
//! …) and answer for themselves through [`crate::component::ItemConfig`];
//! this module only knows the roles' registries, never a concrete kind.

pub(crate) mod compile;
pub(crate) mod diff;
pub(crate) mod error;
pub(crate) mod load;
pub(crate) mod production;
pub(crate) mod raw;

pub use compile::{check_resources, compile, storage_sop_classes};
pub use diff::{Difference, ProductionDiff, ProductionsDiff};
pub use error::{ConfigError, ItemKind, ItemRef};
pub use load::{Loaded, load_dir, load_dir_unchecked, load_file, load_path, load_text};
pub use production::{Item, Production, ProductionId};

#[cfg(test)]
mod tests;
