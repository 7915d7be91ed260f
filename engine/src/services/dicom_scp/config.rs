//! Configuration of a `dicom-tcp` service: a DICOM SCP listening on a port
//! with one AE title.

use serde::{Deserialize, Serialize};

use crate::association::AeTitle;
use crate::config::Resource;
use crate::ids::ItemName;

/// `type = "dicom-tcp"` under `[services.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomScpConfig {
    /// TCP port to listen on (all addresses).
    pub port: u16,
    /// Our AE title; associations calling another one are rejected.
    pub ae_title: AeTitle,
    /// Processes or operations that receive what this service stores.
    #[serde(default)]
    pub targets: Vec<ItemName>,
    /// How many associations may be open at once.
    #[serde(default = "default_max_associations")]
    pub max_associations: usize,
}

fn default_max_associations() -> usize {
    64
}

impl DicomScpConfig {
    /// The port is exclusive (port 0, "any free port", is not).
    pub fn resources(&self) -> Vec<Resource> {
        if self.port == 0 {
            Vec::new()
        } else {
            vec![Resource::TcpPort(self.port)]
        }
    }

    /// Checks beyond the types: (field, message) pairs.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if self.max_associations == 0 {
            errors.push(("max_associations".into(), "must be at least 1".into()));
        }
        errors
    }
}
