//! C-STORE (PS3.4 Annex B, PS3.7 §9.1.1): the data set is spooled into a
//! file as it arrives (never held whole in memory), then handed to the
//! service's [`Ingest`](crate::services::dicom_scp::Ingest) hook, which
//! makes it durable; the answer is 0000H only after that. A refused store
//! still reads its data set, then answers with the refusal; so does one
//! past the service's `max_object_size`, of which no more than that is
//! written. A data set that passes the service's `cut_through_above` is
//! offered to the hook while it arrives ([`Ingest::cut_through`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tracing::{debug, warn};

use super::{Handler, HandlerFuture, Receive, Reply, Request, Start};
use crate::dimse::commands::{CStoreRq, DimseCommand};
use crate::dimse::status::Status;
use crate::services::dicom_scp::hooks::{ArrivingInstance, Ingest, ReceivedInstance};
use crate::store::spool::SpoolWriter;

/// The C-STORE service.
pub(super) struct CStore;

/// Numbers the spool files this process creates itself.
static NEXT_SPOOL: AtomicU64 = AtomicU64::new(1);

impl Handler for CStore {
    fn start<'a>(
        &'a self,
        request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start> {
        Box::pin(async move {
            let rq = match command {
                DimseCommand::StoreRq(rq) => rq,
                other => return Start::Reply(super::unsupported::failure(other)),
            };
            let refusal = if rq.affected_sop_class_uid != request.abstract_syntax() {
                warn!(
                    sop_class_uid = %rq.affected_sop_class_uid,
                    presentation_context_id = request.context.id,
                    "C-STORE-RQ for a SOP class other than its presentation context's; refusing."
                );
                Some(Status::SOP_CLASS_NOT_SUPPORTED)
            } else if let Some(ingest) = request.service.ingest.as_ref().filter(|i| {
                let originator = rq.move_originator_ae_title.as_deref();
                i.takes(originator.zip(rq.move_originator_message_id))
            }) {
                ingest.refuses().map(|why| {
                    // Said once by whoever refuses; per message only here.
                    debug!(%why, "C-STORE-RQ refused: nothing can be taken in now.");
                    Status::OUT_OF_RESOURCES
                })
            } else {
                warn!("C-STORE-RQ on a service that does not store; refusing.");
                Some(Status::SOP_CLASS_NOT_SUPPORTED)
            };
            let spool = match refusal {
                Some(_) => None,
                None => match open_spool(request).await {
                    Ok(spool) => Some(spool),
                    Err(error) => {
                        warn!(%error, "Could not create a spool file; refusing the C-STORE.");
                        None
                    }
                },
            };
            let refusal = match (&spool, refusal) {
                (None, None) => Some(Status::OUT_OF_RESOURCES),
                (_, refusal) => refusal,
            };
            // A spool file is written only while nothing refuses the store.
            let cut_through = request
                .service
                .ingest
                .clone()
                .filter(|_| spool.is_some())
                .map(|ingest| CutThrough {
                    above: request.cut_through_above,
                    ingest,
                    transfer_syntax: request.transfer_syntax().to_string(),
                });
            Start::Receive(Box::new(StoreInProgress {
                rq,
                spool,
                discard: None,
                size: 0,
                limit: request.max_object_size,
                refusal,
                started: Instant::now(),
                cut_through,
            }))
        })
    }
}

/// A spool file being written.
struct Spool {
    path: PathBuf,
    writer: SpoolWriter,
    /// It came from the pre-created files, so its folder entry is durable.
    entry_durable: bool,
}

/// A C-STORE whose data set is arriving.
struct StoreInProgress {
    rq: CStoreRq,
    /// Where the data set goes; `None` when it is being discarded.
    spool: Option<Spool>,
    /// A spool file to remove (its write failed).
    discard: Option<PathBuf>,
    size: u64,
    /// The largest data set taken (`max_object_size`).
    limit: Option<u64>,
    /// The status to answer with instead of ingesting.
    refusal: Option<Status>,
    /// When the command arrived, for the timing trace.
    started: Instant,
    /// Still to be offered for cut-through, once the data set passes a size.
    cut_through: Option<CutThrough>,
}

/// What offering a data set for cut-through needs.
struct CutThrough {
    /// The size to pass.
    above: u64,
    ingest: std::sync::Arc<dyn Ingest>,
    transfer_syntax: String,
}

impl Receive for StoreInProgress {
    fn data(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if let Some(limit) = self.limit
            && self.size > limit
            && let Some(spool) = self.spool.take()
        {
            warn!(
                sop_instance_uid = %self.rq.affected_sop_instance_uid,
                max_object_size = limit,
                "C-STORE data set larger than the service's max_object_size; the rest is read and dropped, and the C-STORE refused (A700H)."
            );
            self.discard = Some(spool.path);
            self.refusal = Some(Status::OUT_OF_RESOURCES);
        }
        if let Some(spool) = self.spool.as_mut()
            && let Err(error) = spool.writer.write(bytes)
        {
            warn!(%error, path = %spool.path.display(), "Could not write the spool file; the C-STORE will be refused.");
            self.discard = self.spool.take().map(|s| s.path);
            self.refusal = Some(Status::OUT_OF_RESOURCES);
        }
        if self
            .cut_through
            .as_ref()
            .is_some_and(|c| self.size > c.above)
            && let (Some(c), Some(spool)) = (self.cut_through.take(), self.spool.as_mut())
        {
            let rq = &self.rq;
            let instance = ArrivingInstance {
                spool_path: &spool.path,
                sop_class_uid: &rq.affected_sop_class_uid,
                sop_instance_uid: &rq.affected_sop_instance_uid,
                transfer_syntax: &c.transfer_syntax,
                move_originator: rq
                    .move_originator_ae_title
                    .as_deref()
                    .zip(rq.move_originator_message_id),
            };
            c.ingest.cut_through(&instance, &mut spool.writer);
        }
    }

    fn finish<'a>(self: Box<Self>, request: &'a Request<'a>) -> HandlerFuture<'a, Reply> {
        Box::pin(self.ingest(request))
    }

    fn abandon(self: Box<Self>) -> HandlerFuture<'static, ()> {
        Box::pin(async move {
            if self.spool.is_some() {
                warn!(
                    sop_instance_uid = %self.rq.affected_sop_instance_uid,
                    "Association ended in the middle of a C-STORE; the partial data set is dropped."
                );
            }
            remove(self.spool.map(|s| s.path)).await;
            remove(self.discard).await;
        })
    }
}

impl StoreInProgress {
    /// Closes the spool file and hands it to the ingest hook; answers with
    /// the outcome.
    async fn ingest(self, request: &Request<'_>) -> Reply {
        let received = self.started.elapsed();
        remove(self.discard).await;
        let rq = self.rq;
        let answer = |status| Reply::Command(DimseCommand::StoreRsp(rq.response(status)));
        let spool = match (self.spool, self.refusal, request.service.ingest.as_ref()) {
            (Some(spool), None, Some(ingest)) => (spool, ingest),
            (spool, refusal, _) => {
                remove(spool.map(|s| s.path)).await;
                return answer(refusal.unwrap_or(Status::OUT_OF_RESOURCES));
            }
        };
        let (spool, ingest) = spool;
        let accepted = request.association;
        let instance = ReceivedInstance {
            spool_path: spool.path.clone(),
            spool_entry_durable: spool.entry_durable,
            size: self.size,
            sop_class_uid: rq.affected_sop_class_uid.clone(),
            sop_instance_uid: rq.affected_sop_instance_uid.clone(),
            transfer_syntax: request.transfer_syntax().to_string(),
            calling_ae_title: accepted.calling_ae_title.clone(),
            called_ae_title: accepted.called_ae_title.clone(),
            peer: request.peer,
            namespace: request.service.namespace.clone(),
            service: request.service.name.clone(),
            message_id: rq.message_id,
            priority: rq.priority,
            move_originator_ae_title: rq.move_originator_ae_title.clone(),
            move_originator_message_id: rq.move_originator_message_id,
        };
        let ingest_started = Instant::now();
        match ingest.ingest(instance, spool.writer.finish()).await {
            Ok(status) => {
                debug!(sop_instance_uid = %rq.affected_sop_instance_uid, size = self.size, "Instance received.");
                tracing::trace!(?received, ingest = ?ingest_started.elapsed(), "C-STORE timing.");
                answer(status)
            }
            Err(error) => {
                warn!(%error, sop_instance_uid = %rq.affected_sop_instance_uid, "Could not take the instance in; answering A700H.");
                remove(Some(spool.path)).await;
                answer(Status::OUT_OF_RESOURCES)
            }
        }
    }
}

/// Opens a spool file: one of the pre-created files when available (its
/// folder entry is durable), else a new one.
async fn open_spool(request: &Request<'_>) -> std::io::Result<Spool> {
    let service = request.service;
    if let Some(path) = service.spool_files.as_ref().and_then(|f| f.take()) {
        // Opening an existing file without truncating it does no disk
        // I/O: done here rather than on the blocking pool.
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(file) => {
                return Ok(Spool {
                    path,
                    writer: SpoolWriter::new(file),
                    entry_durable: true,
                });
            }
            Err(error) => {
                warn!(%error, path = %path.display(), "Could not open a pre-created spool file; creating one.");
                remove_quietly(&path).await;
            }
        }
    }
    let n = NEXT_SPOOL.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let path = service
        .spool_dir
        .join(format!("{nanos}-{}-{n}.part", std::process::id()));
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await?;
    Ok(Spool {
        path,
        writer: SpoolWriter::new(file.into_std().await),
        entry_durable: false,
    })
}

async fn remove(path: Option<PathBuf>) {
    if let Some(path) = path {
        remove_quietly(&path).await;
    }
}

async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => warn!(%error, path = %path.display(), "Could not remove a spool file."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_progress(spool: Option<Spool>, limit: Option<u64>) -> StoreInProgress {
        StoreInProgress {
            rq: CStoreRq {
                message_id: 1,
                affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
                affected_sop_instance_uid: "1.2.3".into(),
                priority: crate::dimse::Priority::Medium,
                move_originator_ae_title: None,
                move_originator_message_id: None,
            },
            spool,
            discard: None,
            size: 0,
            limit,
            refusal: None,
            started: Instant::now(),
            cut_through: None,
        }
    }

    #[test]
    fn past_max_object_size_nothing_more_is_written_and_the_store_is_refused() {
        let dir = crate::store::private_tempdir();
        let path = dir.path().join("spool.part");
        let spool = Spool {
            path: path.clone(),
            writer: SpoolWriter::new(std::fs::File::create(&path).unwrap()),
            entry_durable: false,
        };
        let mut store = in_progress(Some(spool), Some(100));
        store.data(&[1; 60]);
        assert!(store.spool.is_some() && store.refusal.is_none());
        store.data(&[2; 60]);
        store.data(&[3; 60]);
        assert!(store.spool.is_none(), "the spool file is closed");
        assert_eq!(store.discard.as_deref(), Some(path.as_path()));
        assert_eq!(store.refusal, Some(Status::OUT_OF_RESOURCES));
        assert_eq!(store.size, 180, "the rest is read");
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        // Without a limit, all of it goes to the spool file.
        let mut open = in_progress(None, None);
        open.data(&[1; 1000]);
        assert_eq!(open.refusal, None);
    }
}
