//! The SCP as an item of a production: its associations are looked up in
//! the namespace's store, what it receives is taken in durably and queued
//! for its targets, and its socket is kept across reloads.

use std::net::SocketAddr;
use std::sync::Arc;

use super::config::DicomScpConfig;
use super::hooks::{
    ArrivingInstance, GetStorage, Ingest, IngestError, IngestFuture, ReceivedInstance, ScpContext,
};
use super::listener::DicomScp;
use crate::component::retrieves::Retrieve;
use crate::component::{BuildError, FieldError, ItemConfig, ItemContext, Resource, RunningItem};
use crate::message::{MessageHeader, now_ms};
use crate::store::spool::{SpoolWriter, SpooledData};

impl ItemConfig for DicomScpConfig {
    fn targets(&self) -> Vec<&str> {
        self.targets.iter().map(String::as_str).collect()
    }

    /// Its TCP port; port 0 ("any free port") is not exclusive.
    fn resources(&self) -> Vec<Resource> {
        match self.port {
            0 => Vec::new(),
            port => vec![Resource::TcpPort(port)],
        }
    }

    /// Its address, unless port 0: an ephemeral port is new on every start.
    fn listen_addresses(&self) -> Vec<SocketAddr> {
        match self.port {
            0 => Vec::new(),
            _ => vec![self.socket_addr()],
        }
    }

    fn check(&self) -> Vec<FieldError> {
        self.problems()
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        build(self, cx).await
    }
}

/// Binds (or takes over) the service's socket, then spawns it.
///
/// # Errors
/// [`BuildError::Listen`] when the port cannot be bound.
async fn build(config: &DicomScpConfig, cx: ItemContext) -> Result<RunningItem, BuildError> {
    // Instances go to the targets that take messages, never to a query
    // operation; with none, C-STORE is refused, unless it is a sub-operation
    // of a C-MOVE through the engine (see `StoreIngest::takes`).
    let mut store_cx = cx.clone();
    store_cx
        .outputs
        .0
        .retain(|o| !cx.queries.iter().any(|(address, _)| address == &o.address));
    let ingest: Option<Arc<dyn Ingest>> = Some(Arc::new(StoreIngest { cx: store_cx }));
    let scp_cx = ScpContext {
        name: cx.name.to_string(),
        namespace: cx.namespace.clone(),
        lookup: Arc::new(cx.associations.clone()),
        ingest,
        query: (!cx.queries.is_empty()).then(|| {
            Arc::new(crate::component::query::Route {
                upstreams: cx.queries.clone(),
                source: cx.address(),
                messages: Some(cx.messages.clone()),
            }) as Arc<dyn crate::component::query::Query>
        }),
        spool_dir: cx.bodies.spool_dir().to_path_buf(),
        spool_files: Some(Arc::new({
            let bodies = cx.bodies.clone();
            move || bodies.take_spool_file()
        })),
    };
    let address = config.socket_addr();
    let scp = if config.port == 0 {
        // An ephemeral port is new on every start: nothing to take over.
        DicomScp::bind(config.clone(), scp_cx).await
    } else {
        let listener = cx
            .listeners
            .listen(address)
            .map_err(|error| BuildError::Listen { address, error })?;
        DicomScp::from_std(config.clone(), scp_cx, listener).await
    }
    .map_err(|e| BuildError::Setup(Box::new(e)))?;
    let local_addr = scp.local_addr();
    let task = tokio::spawn(scp.run(cx.shutdown.clone(), cx.grace));
    Ok(RunningItem {
        task,
        local_addr: Some(local_addr),
    })
}

/// The SCP's C-STORE hook: persist durably, then answer 0000H. An instance
/// whose Move Originator names a C-MOVE through the engine in progress is
/// that move's sub-operation: it is queued for the move's targets, to go to
/// its destination, instead of the service's.
struct StoreIngest {
    /// Its `outputs` are the service's targets that take messages.
    cx: ItemContext,
}

impl StoreIngest {
    fn retrieve(&self, originator: Option<(&str, u16)>) -> Option<Arc<Retrieve>> {
        let (ae_title, message_id) = originator?;
        self.cx
            .retrieves
            .matching(&self.cx.namespace, ae_title, message_id)
    }
}

impl Ingest for StoreIngest {
    fn refuses(&self) -> Option<String> {
        self.cx.bodies.refuses()
    }

    fn takes(&self, move_originator: Option<(&str, u16)>) -> bool {
        !self.cx.outputs.0.is_empty() || self.retrieve(move_originator).is_some()
    }

    /// Offers the instance to each target that sends to a remote (see
    /// `component::cut_through`). Not a C-MOVE's sub-operation: those go to
    /// the move's own targets and are counted by it.
    fn cut_through(&self, instance: &ArrivingInstance<'_>, writer: &mut SpoolWriter) {
        if self.retrieve(instance.move_originator).is_some() {
            return;
        }
        let Some(body) = instance.spool_path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let identity = (
            instance.sop_class_uid,
            instance.sop_instance_uid,
            instance.transfer_syntax,
        );
        for output in &self.cx.outputs.0 {
            let offered = self.cx.cut_throughs.offer(
                &self.cx.namespace,
                &output.address,
                body,
                identity,
                || writer.follow(instance.spool_path),
            );
            if offered {
                tracing::debug!(item = %self.cx.name, target = %output.address.item, sop_instance_uid = %instance.sop_instance_uid, "Sending on while it arrives (cut-through).");
            }
        }
    }

    fn ingest(&self, instance: ReceivedInstance, data: SpooledData) -> IngestFuture<'_> {
        Box::pin(async move {
            let originator = instance.move_originator_ae_title.as_deref();
            let retrieve = self.retrieve(originator.zip(instance.move_originator_message_id));
            if let Some(storage) = retrieve.as_ref().and_then(|r| r.get.as_ref()) {
                return pass_to_requester(storage, instance, data).await;
            }
            let sop_instance_uid = instance.sop_instance_uid.clone();
            let header = MessageHeader {
                source: self.cx.address(),
                received_at: now_ms(),
                sop_class_uid: instance.sop_class_uid,
                sop_instance_uid: instance.sop_instance_uid,
                transfer_syntax: instance.transfer_syntax,
                calling_ae_title: instance.calling_ae_title.to_string(),
                called_ae_title: instance.called_ae_title.to_string(),
                origin: instance.peer.to_string(),
                size: instance.size,
                body: String::new(),
                sub_operation: retrieve.as_ref().map(|r| r.sub_operation.clone()),
            };
            let cx = match &retrieve {
                Some(r) => ItemContext {
                    outputs: r.outputs.clone(),
                    ..self.cx.clone()
                },
                None if self.cx.outputs.0.is_empty() => {
                    // The move ended while its data set arrived.
                    return Err(IngestError::new(std::io::Error::other(
                        "a sub-operation of a C-MOVE that is no longer in progress",
                    )));
                }
                None => self.cx.clone(),
            };
            // In flight before it is queued: its delivery may end before
            // the take-in returns.
            if let Some(r) = &retrieve {
                r.arriving(&sop_instance_uid);
            }
            let taken = cx
                .take_in_spooled(
                    &instance.spool_path,
                    data,
                    instance.spool_entry_durable,
                    header,
                )
                .await
                .map_err(|e| {
                    tracing::error!(item = %self.cx.name, error = %e, "Could not store a received instance; answering A700.");
                    if let Some(r) = &retrieve {
                        r.not_taken(&sop_instance_uid);
                    }
                    IngestError::new(e)
                })?;
            if let Some(r) = &retrieve {
                r.received(taken);
            }
            Ok(crate::dimse::Status::SUCCESS)
        })
    }
}

/// An instance of a C-GET asked upstream as a C-MOVE to us: it goes on to
/// the requester at once, and the upstream hears the requester's status.
/// Nothing is kept.
async fn pass_to_requester(
    storage: &GetStorage,
    instance: ReceivedInstance,
    data: SpooledData,
) -> Result<crate::dimse::Status, IngestError> {
    let path = instance.spool_path.clone();
    let size = instance.size;
    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        drop(data.complete()?);
        // Only the data set: a recycled spool file is longer.
        let mut bytes = Vec::new();
        let mut file = std::io::Read::take(std::fs::File::open(&path)?, size);
        std::io::Read::read_to_end(&mut file, &mut bytes)?;
        std::fs::remove_file(&path)?;
        Ok(bytes)
    })
    .await
    .map_err(IngestError::new)?
    .map_err(IngestError::new)?;
    storage
        .store(
            instance.sop_class_uid,
            instance.sop_instance_uid,
            instance.transfer_syntax,
            bytes,
        )
        .await
        .map_err(IngestError::new)
}
