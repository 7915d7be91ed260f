//! Business operations: outbound items. A `dicom-tcp` operation is a DICOM
//! SCU delivering to one remote; a `file` operation writes Part 10 files.
//!
//! Operations never import the runtime: they get an [`ItemContext`].
//!
//! [`ItemContext`]: crate::component::ItemContext

pub mod dicom_scu;
pub mod file;

use serde::{Deserialize, Serialize};

use crate::component::{BuildError, ItemContext, RunningItem};

pub use dicom_scu::{DicomScuConfig, RetryPolicy};
pub use file::FileOperationConfig;

/// Every operation kind, by its `type` in the production file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum OperationConfig {
    DicomTcp(DicomScuConfig),
    File(FileOperationConfig),
}

impl OperationConfig {
    /// The `type` values, for error messages.
    pub const KINDS: &'static [&'static str] = &["dicom-tcp", "file"];

    /// Reads the kind's own fields (the `type` key already removed); `None`
    /// for an unknown kind. See [`crate::services::ServiceConfig::deserialize_kind`].
    pub fn deserialize_kind<'de, D: serde::Deserializer<'de>>(
        kind: &str,
        de: D,
    ) -> Option<Result<Self, D::Error>> {
        Some(match kind {
            "dicom-tcp" => DicomScuConfig::deserialize(de).map(Self::DicomTcp),
            "file" => FileOperationConfig::deserialize(de).map(Self::File),
            _ => return None,
        })
    }

    /// The `type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DicomTcp(_) => "dicom-tcp",
            Self::File(_) => "file",
        }
    }

    /// Builds and starts the operation.
    ///
    /// # Errors
    /// [`BuildError`] (e.g. the folder cannot be created).
    pub async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        match self {
            Self::DicomTcp(c) => Ok(dicom_scu::operation::spawn(c.clone(), cx)),
            Self::File(c) => file::operation::spawn(c.clone(), cx),
        }
    }

    /// Kind-specific checks: (field, message) pairs.
    pub fn check(&self) -> Vec<(String, String)> {
        match self {
            Self::DicomTcp(c) => c.check(),
            Self::File(c) => c.check(),
        }
    }
}
