//! Configuration of a `file` operation: writes each message as a DICOM
//! Part 10 file `<SOPInstanceUID>.dcm` into a folder.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `type = "file"` under `[operations.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOperationConfig {
    /// The folder to write into; created when missing. A relative path is
    /// relative to the engine's working directory.
    pub folder: PathBuf,
}

impl FileOperationConfig {
    /// Checks beyond the types: (field, message) pairs.
    pub fn check(&self) -> Vec<(String, String)> {
        if self.folder.as_os_str().is_empty() {
            vec![("folder".into(), "must not be empty".into())]
        } else {
            Vec::new()
        }
    }
}
