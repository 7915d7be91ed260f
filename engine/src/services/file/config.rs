//! Configuration of a `file` service: a folder watched for DICOM Part 10
//! files.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::component::{FieldError, HumanDuration};
use crate::ids::ItemName;

/// `type = "file"` under `[services.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileServiceConfig {
    /// The folder to take files from; created when missing. A relative path
    /// is relative to the engine's working directory.
    pub folder: PathBuf,
    /// Where ingested files are moved; when absent they are deleted once
    /// their copy is durable in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_folder: Option<PathBuf>,
    /// How often the folder is scanned.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: HumanDuration,
    /// Processes or operations that receive what this service ingests.
    #[serde(default)]
    pub targets: Vec<ItemName>,
}

fn default_poll_interval() -> HumanDuration {
    HumanDuration::from_secs(1)
}

impl FileServiceConfig {
    /// Checks beyond the types.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.folder.as_os_str().is_empty() {
            errors.push(FieldError::new("folder", "must not be empty"));
        }
        if self.done_folder.as_ref().is_some_and(|d| d == &self.folder) {
            errors.push(FieldError::new(
                "done_folder",
                "must differ from 'folder', or the files would be ingested again",
            ));
        }
        if self.poll_interval.get().is_zero() {
            errors.push(FieldError::new("poll_interval", "must be longer than 0"));
        }
        if self.targets.is_empty() {
            errors.push(FieldError::new(
                "targets",
                "has no targets: files taken from the folder would go nowhere; name at least one process or operation",
            ));
        }
        errors
    }
}
