//! Configuration of a `file` operation: writes each message as a DICOM
//! Part 10 file `<SOPInstanceUID>.dcm` into a folder.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::component::FieldError;

/// `type = "file"` under `[operations.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOperationConfig {
    /// The folder to write into; created when missing. A relative path is
    /// relative to the engine's working directory.
    pub folder: PathBuf,
}

impl FileOperationConfig {
    /// Checks beyond the types.
    pub fn problems(&self) -> Vec<FieldError> {
        if self.folder.as_os_str().is_empty() {
            vec![FieldError::new("folder", "must not be empty")]
        } else {
            Vec::new()
        }
    }
}
