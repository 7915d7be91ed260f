//! Configuration of a `file` service: a folder watched for DICOM Part 10
//! files.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{HumanDuration, Resource};
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
    /// The folder is exclusive: two services emptying one folder would race.
    pub fn resources(&self) -> Vec<Resource> {
        vec![Resource::folder(&self.folder)]
    }

    /// Checks beyond the types: (field, message) pairs.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if self.folder.as_os_str().is_empty() {
            errors.push(("folder".into(), "must not be empty".into()));
        }
        if self.done_folder.as_ref().is_some_and(|d| d == &self.folder) {
            errors.push((
                "done_folder".into(),
                "must differ from 'folder', or the files would be ingested again".into(),
            ));
        }
        if self.poll_interval.get().is_zero() {
            errors.push(("poll_interval".into(), "must be longer than 0".into()));
        }
        errors
    }
}
