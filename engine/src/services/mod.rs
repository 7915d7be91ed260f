//! Business services: inbound items. A `dicom-tcp` service is a DICOM SCP; a
//! `file` service takes DICOM Part 10 files from a folder. Each kind has its
//! own folder with `config.rs` (the serde struct) and the running task.
//!
//! Services never import the runtime: they get an [`ItemContext`].
//!
//! [`ItemContext`]: crate::component::ItemContext

pub mod dicom_scp;
pub mod file;

use serde::{Deserialize, Serialize};

use crate::config::Resource;

pub use dicom_scp::DicomScpConfig;
pub use file::FileServiceConfig;

/// Every service kind, by its `type` in the production file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServiceConfig {
    DicomTcp(DicomScpConfig),
    File(FileServiceConfig),
}

impl ServiceConfig {
    /// The `type` values, for error messages.
    pub const KINDS: &'static [&'static str] = &["dicom-tcp", "file"];

    /// Reads the kind's own fields (the `type` key already removed). The
    /// dispatch is done here rather than by serde's internal tagging, which
    /// buffers the table and loses the field names and lines in its errors.
    /// `None` for an unknown kind.
    pub fn deserialize_kind<'de, D: serde::Deserializer<'de>>(
        kind: &str,
        de: D,
    ) -> Option<Result<Self, D::Error>> {
        Some(match kind {
            "dicom-tcp" => DicomScpConfig::deserialize(de).map(Self::DicomTcp),
            "file" => FileServiceConfig::deserialize(de).map(Self::File),
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

    /// Where messages go, as written (the names are checked by the
    /// production's compile step).
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Self::DicomTcp(c) => c.targets.iter().map(String::as_str).collect(),
            Self::File(c) => c.targets.iter().map(|t| t.as_str()).collect(),
        }
    }

    /// Exclusive resources, checked across the whole engine. Port 0 ("any
    /// free port") is not exclusive.
    pub fn resources(&self) -> Vec<Resource> {
        match self {
            Self::DicomTcp(c) if c.port == 0 => Vec::new(),
            Self::DicomTcp(c) => vec![Resource::TcpPort(c.port)],
            Self::File(c) => c.resources(),
        }
    }

    /// Kind-specific checks: (field, message) pairs.
    pub fn check(&self) -> Vec<(String, String)> {
        match self {
            Self::DicomTcp(c) => c
                .validate()
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| {
                    let text = e.to_string();
                    match text.split_once(": ") {
                        Some((field, message)) => (field.to_string(), message.to_string()),
                        None => (String::new(), text),
                    }
                })
                .collect(),
            Self::File(c) => c.check(),
        }
    }
}
