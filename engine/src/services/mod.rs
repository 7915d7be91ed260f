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

use std::sync::Arc;

use crate::association::negotiation::LookupFailed;
use crate::component::{BuildError, ItemContext, RunningItem};
use crate::store::messages::{ItemAddress, MessageHeader, now_ms};

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

    /// Builds and starts the service: binds its port or opens its folder
    /// (so a conflict fails here, before anything runs), then spawns it.
    ///
    /// # Errors
    /// [`BuildError`] naming what could not be set up.
    pub async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        match self {
            Self::DicomTcp(c) => build_dicom_scp(c, cx).await,
            Self::File(c) => file::service::build(c, cx).await,
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

/// The DICOM SCP of the network layer, wired to the namespace's stored
/// associations and, when the service has targets, to the durable intake.
async fn build_dicom_scp(
    config: &DicomScpConfig,
    cx: ItemContext,
) -> Result<RunningItem, BuildError> {
    let associations = cx.store.associations(&cx.namespace);
    let lookup = move |calling: &crate::association::AeTitle,
                       called: &crate::association::AeTitle| {
        associations
            .lookup(calling, called)
            .map_err(|e| LookupFailed(e.to_string()))
    };
    let ingest: Option<Arc<dyn dicom_scp::Ingest>> = if cx.outputs.0.is_empty() {
        None
    } else {
        Some(Arc::new(StoreIngest { cx: cx.clone() }))
    };
    let scp_cx = dicom_scp::ScpContext {
        name: cx.name.to_string(),
        namespace: cx.namespace.clone(),
        lookup: Arc::new(lookup),
        ingest,
        spool_dir: cx.bodies.spool_dir().to_path_buf(),
        spool_files: Some(Arc::new({
            let bodies = cx.bodies.clone();
            move || bodies.take_spool_file()
        })),
    };
    let scp = if config.port == 0 {
        // An ephemeral port is new on every start: nothing to take over.
        dicom_scp::DicomScp::bind(config.clone(), scp_cx).await
    } else {
        let address = config.socket_addr();
        let listener = match cx.listeners.take_over(address) {
            Some(l) => l,
            None => std::net::TcpListener::bind(address)
                .map_err(|e| BuildError(format!("cannot listen on {address}: {e}")))?,
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| BuildError(format!("cannot listen on {address}: {e}")))?;
        if let Ok(kept) = listener.try_clone() {
            cx.listeners.keep(address, kept);
        }
        dicom_scp::DicomScp::from_std(config.clone(), scp_cx, listener).await
    }
    .map_err(|e| BuildError(e.to_string()))?;
    let local_addr = scp.local_addr();
    let (shutdown, grace) = (cx.shutdown.clone(), cx.grace);
    let task = tokio::spawn(scp.run(shutdown, grace));
    Ok(RunningItem {
        task,
        local_addr: Some(local_addr),
    })
}

/// The SCP's C-STORE hook: persist durably, then answer 0000H.
struct StoreIngest {
    cx: ItemContext,
}

impl dicom_scp::Ingest for StoreIngest {
    fn ingest(
        &self,
        instance: dicom_scp::ReceivedInstance,
        data: dicom_scp::SpooledData,
    ) -> dicom_scp::IngestFuture<'_> {
        Box::pin(async move {
            let header = MessageHeader {
                source: ItemAddress::new(self.cx.production.as_str(), self.cx.name.as_str()),
                received_at: now_ms(),
                sop_class_uid: instance.sop_class_uid,
                sop_instance_uid: instance.sop_instance_uid,
                transfer_syntax: instance.transfer_syntax,
                calling_ae_title: instance.calling_ae_title.to_string(),
                called_ae_title: instance.called_ae_title.to_string(),
                origin: instance.peer.to_string(),
                size: instance.size,
                body: String::new(),
            };
            self.cx
                .take_in_spooled(
                    &instance.spool_path,
                    data,
                    instance.spool_entry_durable,
                    header,
                )
                .await
                .map(|_| ())
                .map_err(|e| {
                    tracing::error!(item = %self.cx.name, error = %e, "Could not store a received instance; answering A700.");
                    dicom_scp::IngestError(e.to_string())
                })
        })
    }
}
