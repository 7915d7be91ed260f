//! The sync latch: after the first failed `fsync`/`fdatasync` of the store
//! or a body, nothing more is acknowledged or written until the engine
//! restarts.
//!
//! Why: Linux reports a write-back error to `fsync` once and then marks the
//! pages clean, so a second `fsync` of the same file can succeed although
//! the data never reached the disk. Retrying would acknowledge what may be
//! lost; only a restart (which reads back what really is on disk) is safe.
//! The store and the bodies of one data directory share one latch
//! ([`super::Store::bodies`]).

use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Shared by the store and the bodies of a data directory. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SyncLatch(Arc<OnceLock<String>>);

impl SyncLatch {
    /// `Err` with the first failure once one happened.
    ///
    /// # Errors
    /// [`Latched`] after a failed sync.
    pub fn check(&self) -> Result<(), Latched> {
        match self.0.get() {
            Some(first) => Err(Latched(first.clone())),
            None => Ok(()),
        }
    }

    /// Passes a sync's result through, latching on its failure (and saying
    /// so, once, in the log).
    ///
    /// # Errors
    /// The sync's own error.
    pub fn watch<T>(&self, path: &Path, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            self.trip(format!("syncing {} failed: {e}", path.display()));
        }
        result
    }

    /// Latches with this reason unless latched already.
    pub(crate) fn trip(&self, reason: String) {
        let mut first = false;
        self.0.get_or_init(|| {
            first = true;
            reason
        });
        if first && let Some(reason) = self.0.get() {
            tracing::error!(
                %reason,
                "A write to disk failed: this engine acknowledges and stores nothing more until it is restarted. Check the disk (dmesg, free space), then restart; messages acknowledged before are safe in their body files."
            );
        }
    }
}

/// The store refuses writes after a failed sync.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the store refuses writes since a sync to disk failed ({0}); check the disk, then restart the engine"
)]
pub struct Latched(pub String);

impl From<Latched> for std::io::Error {
    fn from(e: Latched) -> Self {
        std::io::Error::other(e)
    }
}
