//! Production files: `productions/<namespace>/<name>.toml` → validated
//! [`Production`]s, and the diff between two versions for hot reload.
//!
//! The pipeline: [`load`] reads files (the only I/O here), [`raw`] parses one
//! (version probe, `deny_unknown_fields`, the line of every field),
//! [`compile`] validates (references, keywords, per-kind checks, resources)
//! collecting every error, [`diff`] compares versions. No tokio here, so
//! `switchboard validate` and the tests run it standalone.
//!
//! The item kinds' own structs live with the items (`services/*/config.rs`,
//! …); this module only knows their closed enums.

pub mod compile;
pub mod diff;
pub mod duration;
pub mod error;
pub mod load;
pub mod raw;
pub mod resource;

pub use compile::{Production, ProductionId, check_resources, compile, storage_sop_classes};
pub use diff::{Difference, ProductionDiff, ProductionsDiff};
pub use duration::HumanDuration;
pub use error::{ConfigError, ItemKind, ItemRef};
pub use load::{Loaded, load_dir, load_dir_unchecked, load_file, load_path};
pub use resource::Resource;

#[cfg(test)]
mod tests;
