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
    /// The mode of the files written (they are for other programs, unlike
    /// the engine's own private files); a folder the operation creates gets
    /// the matching search bits (0640 → 0750). TOML takes `0o640`.
    #[serde(default = "default_file_mode")]
    pub file_mode: u32,
}

fn default_file_mode() -> u32 {
    0o640
}

impl FileOperationConfig {
    /// The mode of a folder this operation creates: the file mode plus
    /// search (x) wherever it grants read.
    pub fn folder_mode(&self) -> u32 {
        let read = self.file_mode & 0o444;
        self.file_mode | (read >> 2)
    }
}

impl FileOperationConfig {
    /// Checks beyond the types.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.folder.as_os_str().is_empty() {
            errors.push(FieldError::new("folder", "must not be empty"));
        }
        if self.file_mode & !0o777 != 0 {
            errors.push(FieldError::new(
                "file_mode",
                format!(
                    "{:#o} is not a file mode; give permission bits such as 0o640",
                    self.file_mode
                ),
            ));
        }
        errors
    }
}
