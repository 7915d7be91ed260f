//! The store's typed errors.

use std::path::PathBuf;

use crate::association::{AeTitle, DirectoryError, ModelError, PairKey};
use crate::ids::NamespaceId;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (usually `switchboard run`) holds the data directory.
    #[error("the store in {path} is in use by another process")]
    Locked { path: PathBuf },
    /// The data directory is open to group or others: patient data must
    /// be private.
    #[error(
        "the data directory {path} can be read or written by other users (mode {mode:04o}); it holds patient data: run `chmod 700 {path}`"
    )]
    NotPrivate { path: PathBuf, mode: u32 },
    /// The store could not be opened for another reason.
    #[error("cannot open the store in {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: BackendError,
    },
    /// A read or write failed in the storage engine.
    #[error("the store failed")]
    Backend(#[from] BackendError),
    /// The store could not be opened again after sled failed (see
    /// [`super::Store::heal`]); the engine keeps trying.
    #[error("the store is closed: reopening it failed ({0}); the engine tries again every second")]
    Closed(String),
    /// Flushing or syncing the store's files failed.
    #[error("cannot sync the store's files to disk in {path}")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `put` without overwrite on a pair that exists.
    #[error(
        "association {key} already exists in namespace {namespace}; use `overwrite` to replace its presentation contexts"
    )]
    AlreadyExists {
        namespace: NamespaceId,
        key: PairKey,
    },
    /// The pair is not stored.
    #[error("no association {key} in namespace {namespace}")]
    NotFound {
        namespace: NamespaceId,
        key: PairKey,
    },
    /// `add` without overwrite on an AE title the directory has.
    #[error(
        "AE {ae_title} is already in the AE directory of namespace {namespace}; use `overwrite` to replace its entry, or edit it"
    )]
    AeExists {
        namespace: NamespaceId,
        ae_title: AeTitle,
    },
    /// The AE title is not in the directory.
    #[error("no AE {ae_title} in the AE directory of namespace {namespace}")]
    AeNotFound {
        namespace: NamespaceId,
        ae_title: AeTitle,
    },
    /// An AE directory entry would break a rule; nothing was written.
    #[error(transparent)]
    InvalidEntry(#[from] DirectoryError),
    /// A value would break the model's rules; nothing was written.
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// A sync to disk failed earlier: nothing more is written until restart.
    #[error(transparent)]
    Latched(#[from] super::latch::Latched),
    /// A stored value cannot be read back.
    #[error("stored value for {key} in namespace {namespace} cannot be read: {reason}")]
    Corrupt {
        namespace: NamespaceId,
        key: String,
        reason: String,
    },
}

/// An error of the storage engine, kept opaque so that nothing outside
/// `store/` depends on it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BackendError(#[from] sled::Error);

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(BackendError(e))
    }
}

impl From<StoreError> for crate::association::negotiation::LookupFailed {
    fn from(e: StoreError) -> Self {
        Self(Box::new(e))
    }
}

/// An error and its sources, joined by `: `.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
