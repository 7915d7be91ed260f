//! The running DICOM SCP: the accept loop, the association limit and the
//! per-association state machine (PS3.8 §9.2), generic over the stream so
//! TLS can be layered in later.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dicom_ul::pdu::{AbortRQServiceProviderReason, AbortRQSource, AssociationRQ, Pdu};
use tokio::io::{AsyncRead, AsyncWrite};

use super::spool::{SpoolWriter, SpooledData};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use super::config::DicomScpConfig;
use crate::association::model::{AeTitle, AssociationContext};
use crate::association::negotiation::{
    Accepted, LookupFailed, Negotiation, Policy, Rejection, negotiate,
};
use crate::dimse::commands::{
    CStoreRq, DimseCommand, OtherCommand, command_field, command_name, encode_failure_response,
};
use crate::dimse::pdata::{PdvEvent, Reassembler, send_command};
use crate::dimse::pdu::{
    Incoming, PDataPdu, PduReadError, PduStream, describe_abort_source, describe_pdu,
};
use crate::dimse::status::Status;
use crate::dimse::uids::VERIFICATION;
use crate::ids::NamespaceId;

/// Finds the stored association context for a (calling, called) pair, the
/// store's exact-then-wildcard order applied. Called once per association,
/// so an edit takes effect on the next one.
pub trait AssociationLookup: Send + Sync + 'static {
    /// # Errors
    /// [`LookupFailed`] when the store cannot answer; the association is
    /// rejected-transient.
    fn lookup(
        &self,
        calling: &AeTitle,
        called: &AeTitle,
    ) -> Result<Option<AssociationContext>, LookupFailed>;
}

impl<F> AssociationLookup for F
where
    F: Fn(&AeTitle, &AeTitle) -> Result<Option<AssociationContext>, LookupFailed>
        + Send
        + Sync
        + 'static,
{
    fn lookup(
        &self,
        calling: &AeTitle,
        called: &AeTitle,
    ) -> Result<Option<AssociationContext>, LookupFailed> {
        self(calling, called)
    }
}

/// The namespace's stored association contexts, looked up exact pair first,
/// then with `*` wildcards.
impl AssociationLookup for crate::store::Associations {
    fn lookup(
        &self,
        calling: &AeTitle,
        called: &AeTitle,
    ) -> Result<Option<AssociationContext>, LookupFailed> {
        crate::store::Associations::lookup(self, calling, called)
            .map_err(|e| LookupFailed(e.to_string()))
    }
}

/// What is known of a data set received with C-STORE; the data itself is in
/// a spool file, handed to the [`Ingest`] hook as [`SpooledData`].
///
/// Ownership: the spool file belongs to the [`Ingest`] hook from the moment
/// it is called; it should complete it ([`SpooledData::complete`]) and move
/// it into durable storage (or delete it). When the hook fails and the file
/// still exists, the service deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInstance {
    /// The file of the data set exactly as received: no preamble, no meta
    /// group, encoded in `transfer_syntax`. Its last bytes are written by
    /// [`SpooledData::complete`].
    pub spool_path: PathBuf,
    /// Whether the spool file's directory entry is already durable (it came
    /// from [`ScpContext::spool_files`]), so the hook need not sync the folder.
    pub spool_entry_durable: bool,
    pub size: u64,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// The transfer syntax accepted on the presentation context.
    pub transfer_syntax: String,
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
    pub peer: SocketAddr,
    pub namespace: NamespaceId,
    /// The service's item name.
    pub service: String,
    pub message_id: u16,
    pub priority: crate::dimse::Priority,
    pub move_originator_ae_title: Option<String>,
    pub move_originator_message_id: Option<u16>,
}

/// Why an instance could not be taken in; the C-STORE-RSP says A700H.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IngestError(pub String);

/// The future an [`Ingest`] returns.
pub type IngestFuture<'a> = Pin<Box<dyn Future<Output = Result<(), IngestError>> + Send + 'a>>;

/// Takes in a received instance durably. The C-STORE-RSP is 0000H only when
/// this returns `Ok`, A700H (out of resources) otherwise.
pub trait Ingest: Send + Sync + 'static {
    fn ingest(&self, instance: ReceivedInstance, data: SpooledData) -> IngestFuture<'_>;
}

/// What the runtime gives a DICOM SCP besides its configuration.
#[derive(Clone)]
pub struct ScpContext {
    /// The item name in the production, for logs.
    pub name: String,
    pub namespace: NamespaceId,
    /// The namespace's stored association contexts.
    pub lookup: Arc<dyn AssociationLookup>,
    /// Where received instances go; `None` refuses C-STORE (0122H).
    pub ingest: Option<Arc<dyn Ingest>>,
    /// Where C-STORE data sets are spooled while they arrive.
    pub spool_dir: PathBuf,
    /// Pre-created, empty spool files in `spool_dir` whose directory entries
    /// are durable; when `None` or empty, a new file is created per C-STORE.
    pub spool_files: Option<Arc<dyn SpoolFiles>>,
}

/// A source of pre-created spool files (see [`ReceivedInstance::spool_entry_durable`]).
pub trait SpoolFiles: Send + Sync + 'static {
    /// An empty file in the spool folder, now owned by the caller.
    fn take(&self) -> Option<PathBuf>;
}

impl<F: Fn() -> Option<PathBuf> + Send + Sync + 'static> SpoolFiles for F {
    fn take(&self) -> Option<PathBuf> {
        self()
    }
}

impl std::fmt::Debug for ScpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScpContext")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("ingest", &self.ingest.is_some())
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

/// Why the SCP could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScpError {
    #[error("invalid settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<super::config::DicomScpConfigError>),
    #[error("could not listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not create the spool directory {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// State shared by the listener and its associations.
struct Shared {
    config: DicomScpConfig,
    served: Vec<AeTitle>,
    cx: ScpContext,
    /// Numbers associations for the trace (`#5:ENS-SCP`).
    next_id: AtomicU64,
    /// Numbers spool files.
    next_spool: AtomicU64,
}

/// A bound DICOM SCP, ready to run.
///
/// Lifecycle: [`DicomScp::bind`] claims the port (so a conflict is reported
/// before anything starts); [`DicomScp::run`] serves until the shutdown
/// token fires, then stops accepting, lets open associations finish within
/// the grace period, and aborts those still open.
pub struct DicomScp {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DicomScp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicomScp")
            .field("local_addr", &self.local_addr)
            .field("name", &self.shared.cx.name)
            .finish_non_exhaustive()
    }
}

impl DicomScp {
    /// Validates the settings, creates the spool directory and binds the port.
    ///
    /// # Errors
    /// [`ScpError`].
    pub async fn bind(config: DicomScpConfig, cx: ScpContext) -> Result<Self, ScpError> {
        config.validate().map_err(ScpError::Config)?;
        let address = config.socket_addr();
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| ScpError::Bind { address, source })?;
        Self::with_listener(config, cx, listener).await
    }

    /// Like [`DicomScp::bind`], on a socket already listening (e.g. taken
    /// over from the previous version of this service on a reload, so that
    /// connections arriving meanwhile wait in its backlog). The socket must
    /// be in non-blocking mode.
    ///
    /// # Errors
    /// [`ScpError`].
    pub async fn from_std(
        config: DicomScpConfig,
        cx: ScpContext,
        listener: std::net::TcpListener,
    ) -> Result<Self, ScpError> {
        config.validate().map_err(ScpError::Config)?;
        let address = config.socket_addr();
        let listener =
            TcpListener::from_std(listener).map_err(|source| ScpError::Bind { address, source })?;
        Self::with_listener(config, cx, listener).await
    }

    async fn with_listener(
        config: DicomScpConfig,
        cx: ScpContext,
        listener: TcpListener,
    ) -> Result<Self, ScpError> {
        let address = config.socket_addr();
        tokio::fs::create_dir_all(&cx.spool_dir)
            .await
            .map_err(|source| ScpError::Spool {
                path: cx.spool_dir.clone(),
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ScpError::Bind { address, source })?;
        let served = config.ae_title.to_vec();
        Ok(Self {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                config,
                served,
                cx,
                next_id: AtomicU64::new(1),
                next_spool: AtomicU64::new(1),
            }),
        })
    }

    /// The address actually bound (port 0 gets an ephemeral port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` fires; then stops accepting, waits up to
    /// `grace` for open associations, aborts the rest and returns.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        let shared = self.shared;
        let limit = Arc::new(Semaphore::new(shared.config.max_associations));
        // Connections over the limit get an RJ; this bounds how many such
        // answers are in flight so a flood cannot grow tasks without bound.
        let over_limit = Arc::new(Semaphore::new(shared.config.max_associations));
        let tracker = TaskTracker::new();
        let abort_all = CancellationToken::new();
        info!(
            service = %shared.cx.name,
            namespace = %shared.cx.namespace,
            address = %self.local_addr,
            ae_titles = %shared.served.iter().map(AeTitle::as_str).collect::<Vec<_>>().join(","),
            "DICOM service listening."
        );
        loop {
            let accepted = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // E.g. too many open files: back off instead of spinning.
                    warn!(service = %shared.cx.name, %error, "Could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(error) = socket.set_nodelay(true) {
                debug!(%peer, %error, "Could not set TCP_NODELAY.");
            }
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            match limit.clone().try_acquire_owned() {
                Ok(permit) => {
                    let shared = shared.clone();
                    let abort = abort_all.clone();
                    tracker.spawn(async move {
                        serve_association(socket, peer, id, shared, abort).await;
                        drop(permit);
                    });
                }
                Err(_) => match over_limit.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        let abort = abort_all.clone();
                        tracker.spawn(async move {
                            reject_over_limit(socket, peer, id, shared, abort).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        warn!(service = %shared.cx.name, %peer, "Too many connections; closing one unanswered.");
                    }
                },
            }
        }
        drop(self.listener);
        tracker.close();
        let open = tracker.len();
        info!(service = %shared.cx.name, open_associations = open, "DICOM service stopped accepting.");
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(
                service = %shared.cx.name,
                open_associations = tracker.len(),
                "Grace period over; aborting open associations."
            );
            abort_all.cancel();
            // Each association sends its A-ABORT and closes promptly.
            let _unused = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
        }
        info!(service = %shared.cx.name, "DICOM service stopped.");
    }
}

/// Answers a connection past the association limit with A-ASSOCIATE-RJ
/// rejected-transient, service-provider, local-limit-exceeded.
async fn reject_over_limit(
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: Arc<Shared>,
    abort: CancellationToken,
) {
    let span = info_span!("association", id, service = %shared.cx.name, %peer);
    async move {
        let mut stream = PduStream::new(socket);
        let artim = shared.config.artim_timeout;
        match tokio::time::timeout(artim, stream.read_pdu()).await {
            Ok(Ok(Pdu::AssociationRQ(rq))) => {
                let rejection = Rejection::local_limit_exceeded();
                warn!(
                    calling_ae_title = %rq.calling_ae_title,
                    called_ae_title = %rq.called_ae_title,
                    max_associations = shared.config.max_associations,
                    "Association rejected: {rejection}."
                );
                if stream
                    .write_pdu(&Pdu::AssociationRJ(rejection.to_pdu()))
                    .await
                    .is_ok()
                {
                    wait_for_close(&mut stream, artim, &abort).await;
                }
            }
            _ => debug!("Connection over the limit closed without an A-ASSOCIATE-RQ."),
        }
    }
    .instrument(span)
    .await
}

/// Reads until the peer closes, at most `artim` (after RJ or RP) and never
/// past the service's final abort.
async fn wait_for_close<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut PduStream<S>,
    artim: Duration,
    abort: &CancellationToken,
) {
    tokio::select! {
        () = abort.cancelled() => {}
        _elapsed = tokio::time::timeout(artim, async {
            while stream.read_pdu().await.is_ok() {}
        }) => {}
    }
    stream.shutdown().await;
}

async fn serve_association(
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: Arc<Shared>,
    abort: CancellationToken,
) {
    let span = info_span!(
        "association",
        id,
        service = %shared.cx.name,
        namespace = %shared.cx.namespace,
        %peer,
        calling_ae_title = tracing::field::Empty,
        called_ae_title = tracing::field::Empty,
    );
    Association::new(socket, peer, id, shared, abort)
        .serve()
        .instrument(span)
        .await;
}

/// A C-STORE whose data set is arriving.
struct StoreInProgress {
    rq: CStoreRq,
    presentation_context_id: u8,
    transfer_syntax: String,
    /// Where the data set goes; `None` when it is being discarded because
    /// the store will be refused (`refusal`).
    spool: Option<(PathBuf, SpoolWriter)>,
    /// The spool file came from [`ScpContext::spool_files`].
    spool_entry_durable: bool,
    size: u64,
    /// The status to answer with instead of ingesting.
    refusal: Option<Status>,
    /// When the command arrived, for the timing trace.
    started: std::time::Instant,
}

/// A DIMSE request with a data set this service does not handle: the data
/// is read and dropped, then the failure response is sent.
struct DiscardInProgress {
    request: OtherCommand,
    presentation_context_id: u8,
}

enum InProgress {
    Store(Box<StoreInProgress>),
    Discard(DiscardInProgress),
}

/// One inbound association.
///
/// Lifecycle: created per accepted connection; `serve` runs establishment
/// (ARTIM), negotiation, data transfer (idle timeout) and release or abort,
/// and always ends with the connection closed and any partial spool file
/// removed.
struct Association<S> {
    stream: PduStream<S>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    abort: CancellationToken,
    /// `#5:ENS-SCP`, the reference trace prefix.
    label: String,
    accepted: Option<Accepted>,
    reassembler: Reassembler,
    in_progress: Option<InProgress>,
}

/// How the association ends after handling a PDU.
enum Flow {
    Continue,
    Done,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Association<S> {
    fn new(
        stream: S,
        peer: SocketAddr,
        id: u64,
        shared: Arc<Shared>,
        abort: CancellationToken,
    ) -> Self {
        let first_title = shared
            .served
            .first()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default();
        Self {
            stream: PduStream::new(stream),
            peer,
            label: format!("#{id}:{first_title}"),
            shared,
            abort,
            accepted: None,
            reassembler: Reassembler::new(),
            in_progress: None,
        }
    }

    fn trace(&self, line: &str) {
        if self.shared.config.trace {
            info!("{} {line}", self.label);
        } else {
            debug!("{} {line}", self.label);
        }
    }

    async fn serve(mut self) {
        if let Some(rq) = self.establish().await
            && self.negotiate(&rq).await
        {
            self.transfer().await;
        }
        self.discard_in_progress().await;
        self.trace("closing socket");
    }

    /// Waits for the A-ASSOCIATE-RQ under the ARTIM timer.
    async fn establish(&mut self) -> Option<AssociationRQ> {
        let artim = self.shared.config.artim_timeout;
        let first = tokio::select! {
            biased;
            () = self.abort.cancelled() => {
                self.stream.shutdown().await;
                return None;
            }
            first = tokio::time::timeout(artim, self.stream.read_pdu()) => first,
        };
        match first {
            Err(_) => {
                warn!(timeout = ?artim, "No A-ASSOCIATE-RQ before the ARTIM timeout; closing the connection.");
                self.stream.shutdown().await;
                None
            }
            Ok(Err(error)) => {
                self.read_failed(error).await;
                None
            }
            Ok(Ok(Pdu::AssociationRQ(rq))) => {
                // Name the trace after the title the peer called.
                if let Some(prefix) = self.label.split(':').next() {
                    self.label = format!("{prefix}:{}", rq.called_ae_title);
                }
                self.trace("<< A-ASSOCIATE-RQ PDU");
                Some(rq)
            }
            Ok(Ok(other)) => {
                warn!(
                    pdu = %describe_pdu(&other),
                    "Expected an A-ASSOCIATE-RQ; sending A-ABORT (unexpected PDU)."
                );
                self.abort_with(AbortRQServiceProviderReason::UnexpectedPdu)
                    .await;
                None
            }
        }
    }

    /// Negotiates and answers; true when accepted.
    async fn negotiate(&mut self, rq: &AssociationRQ) -> bool {
        let span = tracing::Span::current();
        span.record("calling_ae_title", rq.calling_ae_title.as_str());
        span.record("called_ae_title", rq.called_ae_title.as_str());
        let policy = Policy {
            served_ae_titles: &self.shared.served,
            max_pdu_length: self.shared.config.max_pdu_length,
            accepts_requestor_scp_role: false,
        };
        let lookup = &self.shared.cx.lookup;
        let decision = negotiate(rq, &policy, |calling, called| {
            let found = lookup.lookup(calling, called);
            if let Err(LookupFailed(reason)) = &found {
                warn!(%reason, "The association store could not be read.");
            }
            found
        });
        match decision {
            Negotiation::Rejected(rejection) => {
                warn!(
                    calling_ae_title = %rq.calling_ae_title,
                    called_ae_title = %rq.called_ae_title,
                    "Association rejected: {rejection}."
                );
                self.trace(&format!(">> A-ASSOCIATE-RJ PDU ({rejection})"));
                if self
                    .stream
                    .write_pdu(&Pdu::AssociationRJ(rejection.to_pdu()))
                    .await
                    .is_ok()
                {
                    wait_for_close(
                        &mut self.stream,
                        self.shared.config.artim_timeout,
                        &self.abort,
                    )
                    .await;
                }
                false
            }
            Negotiation::Accepted(accepted) => {
                let ac = accepted.to_pdu(rq);
                let accepted_count = accepted.contexts.iter().filter(|c| c.is_accepted()).count();
                debug!(
                    association = %accepted.association.key(),
                    accepted_contexts = accepted_count,
                    proposed_contexts = accepted.contexts.len(),
                    max_pdu_length = accepted.max_pdu_length,
                    peer_max_pdu_length = accepted.peer_max_pdu_length,
                    "Association accepted."
                );
                self.trace(">> A-ASSOCIATE-AC PDU");
                if let Err(error) = self.stream.write_pdu(&Pdu::AssociationAC(ac)).await {
                    warn!(%error, "Could not send the A-ASSOCIATE-AC.");
                    return false;
                }
                self.stream
                    .set_limits(accepted.max_pdu_length, accepted.peer_max_pdu_length);
                self.accepted = Some(*accepted);
                true
            }
        }
    }

    /// The data-transfer state: P-DATA, release and abort, under the idle timer.
    async fn transfer(&mut self) {
        let idle = self.shared.config.idle_timeout;
        loop {
            let next = tokio::select! {
                biased;
                () = self.abort.cancelled() => {
                    warn!("The service is shutting down; aborting the association.");
                    self.trace(">> A-ABORT PDU");
                    self.stream.abort(AbortRQSource::ServiceUser).await;
                    return;
                }
                next = tokio::time::timeout(idle, self.stream.read_incoming()) => next,
            };
            let pdu = match next {
                Err(_) => {
                    warn!(timeout = ?idle, "Association idle too long; sending A-ABORT.");
                    self.trace(">> A-ABORT PDU");
                    self.stream.abort(AbortRQSource::ServiceUser).await;
                    return;
                }
                Ok(Err(error)) => {
                    self.read_failed(error).await;
                    return;
                }
                Ok(Ok(pdu)) => pdu,
            };
            let pdu = match pdu {
                Incoming::PData(pdata) => {
                    let (pdvs, bytes) = pdata.sizes();
                    debug!(pdvs, bytes, "{} << P-DATA-TF PDU", self.label);
                    let flow = self.on_pdata(&pdata).await;
                    self.stream.recycle(pdata);
                    if let Flow::Done = flow {
                        return;
                    }
                    continue;
                }
                Incoming::Other(pdu) => pdu,
            };
            let flow = match pdu {
                Pdu::ReleaseRQ => {
                    self.trace("<< A-RELEASE-RQ PDU");
                    if self.in_progress.is_some() {
                        warn!(
                            "Release requested in the middle of a message; the partial message is dropped."
                        );
                    }
                    self.trace(">> A-RELEASE-RP PDU");
                    if self.stream.write_pdu(&Pdu::ReleaseRP).await.is_ok() {
                        wait_for_close(
                            &mut self.stream,
                            self.shared.config.artim_timeout,
                            &self.abort,
                        )
                        .await;
                    }
                    Flow::Done
                }
                Pdu::AbortRQ { source } => {
                    self.trace(&format!(
                        "<< A-ABORT PDU ({})",
                        describe_abort_source(&source)
                    ));
                    info!(source = %describe_abort_source(&source), "Association aborted by the peer.");
                    Flow::Done
                }
                other => {
                    warn!(pdu = %describe_pdu(&other), "Unexpected PDU during data transfer; sending A-ABORT.");
                    self.abort_with(AbortRQServiceProviderReason::UnexpectedPdu)
                        .await;
                    Flow::Done
                }
            };
            if let Flow::Done = flow {
                return;
            }
        }
    }

    async fn read_failed(&mut self, error: PduReadError) {
        match error.abort_reason() {
            Some(reason) => {
                warn!(%error, "Invalid PDU; sending A-ABORT and closing the connection.");
                self.abort_with(reason).await;
            }
            None => match error {
                PduReadError::Closed if self.accepted.is_none() => {
                    debug!("Connection closed before an A-ASSOCIATE-RQ.");
                }
                PduReadError::Closed => {
                    warn!("The peer closed the connection without releasing the association.");
                }
                other => warn!(error = %other, "Connection lost."),
            },
        }
    }

    async fn abort_with(&mut self, reason: AbortRQServiceProviderReason) {
        self.trace(&format!(">> A-ABORT PDU (service-provider: {reason})"));
        self.stream
            .abort(AbortRQSource::ServiceProvider(reason))
            .await;
    }

    async fn on_pdata(&mut self, pdata: &PDataPdu) -> Flow {
        for pdv in pdata.pdvs() {
            let pc_id = pdv.presentation_context_id;
            let known = self
                .accepted
                .as_ref()
                .is_some_and(|a| a.accepted_context(pc_id).is_some());
            if !known {
                warn!(
                    presentation_context_id = pc_id,
                    "DIMSE message on a presentation context that was not accepted; sending A-ABORT."
                );
                self.abort_with(AbortRQServiceProviderReason::UnexpectedPduParameter)
                    .await;
                return Flow::Done;
            }
            let event = match self.reassembler.push(pdv) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(error) => {
                    warn!(%error, "Invalid DIMSE message; sending A-ABORT.");
                    self.abort_with(AbortRQServiceProviderReason::InvalidPduParameter)
                        .await;
                    return Flow::Done;
                }
            };
            let outcome = match event {
                PdvEvent::Command {
                    presentation_context_id,
                    command,
                } => self.on_command(presentation_context_id, command).await,
                PdvEvent::Data { bytes, is_last, .. } => self.on_data(bytes, is_last).await,
            };
            if let Flow::Done = outcome {
                return Flow::Done;
            }
        }
        Flow::Continue
    }

    /// The abstract and transfer syntax of an accepted context.
    fn context(&self, pc_id: u8) -> (String, String) {
        self.accepted
            .as_ref()
            .and_then(|a| a.accepted_context(pc_id))
            .map(|c| {
                (
                    c.abstract_syntax.clone(),
                    c.transfer_syntax.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_default()
    }

    async fn on_command(&mut self, pc_id: u8, command: DimseCommand) -> Flow {
        self.trace(&format!("<< {}", command.describe()));
        let (abstract_syntax, transfer_syntax) = self.context(pc_id);
        match command {
            DimseCommand::EchoRq(rq) => {
                let status = if abstract_syntax == VERIFICATION
                    && rq.affected_sop_class_uid == VERIFICATION
                {
                    Status::SUCCESS
                } else {
                    Status::SOP_CLASS_NOT_SUPPORTED
                };
                self.respond(pc_id, &DimseCommand::EchoRsp(rq.response(status)))
                    .await
            }
            DimseCommand::StoreRq(rq) => {
                let refusal = if rq.affected_sop_class_uid != abstract_syntax {
                    warn!(
                        sop_class_uid = %rq.affected_sop_class_uid,
                        presentation_context_id = pc_id,
                        "C-STORE-RQ for a SOP class other than its presentation context's; refusing."
                    );
                    Some(Status::SOP_CLASS_NOT_SUPPORTED)
                } else if self.shared.cx.ingest.is_none() {
                    warn!("C-STORE-RQ on a service that does not store; refusing.");
                    Some(Status::SOP_CLASS_NOT_SUPPORTED)
                } else {
                    None
                };
                let (spool, spool_entry_durable) = if refusal.is_none() {
                    match self.open_spool().await {
                        Ok((spool, durable)) => (Some(spool), durable),
                        Err(error) => {
                            warn!(%error, "Could not create a spool file; refusing the C-STORE.");
                            (None, false)
                        }
                    }
                } else {
                    (None, false)
                };
                let refusal = match (&spool, refusal) {
                    (None, None) => Some(Status::OUT_OF_RESOURCES),
                    (_, refusal) => refusal,
                };
                self.in_progress = Some(InProgress::Store(Box::new(StoreInProgress {
                    rq,
                    presentation_context_id: pc_id,
                    transfer_syntax,
                    spool,
                    spool_entry_durable,
                    size: 0,
                    refusal,
                    started: std::time::Instant::now(),
                })));
                Flow::Continue
            }
            DimseCommand::Other(other) => {
                if other.command_field == command_field::C_CANCEL_RQ {
                    // Nothing of ours is cancellable: there is no pending operation.
                    return Flow::Continue;
                }
                let is_request = other.command_field & 0x8000 == 0;
                if !is_request
                    || command_name(other.command_field).is_none()
                    || other.message_id.is_none()
                {
                    warn!(
                        command_field = format_args!("{:04X}H", other.command_field),
                        "Unexpected DIMSE command; sending A-ABORT."
                    );
                    self.abort_with(AbortRQServiceProviderReason::UnexpectedPduParameter)
                        .await;
                    return Flow::Done;
                }
                warn!(
                    command = command_name(other.command_field).unwrap_or("unknown"),
                    "This service does not offer that operation; answering with a failure status."
                );
                if other.has_data_set {
                    self.in_progress = Some(InProgress::Discard(DiscardInProgress {
                        request: other,
                        presentation_context_id: pc_id,
                    }));
                    Flow::Continue
                } else {
                    self.respond_unsupported(pc_id, &other).await
                }
            }
            response @ (DimseCommand::EchoRsp(_) | DimseCommand::StoreRsp(_)) => {
                warn!(
                    command = %response.describe(),
                    "A response with no request outstanding; sending A-ABORT."
                );
                self.abort_with(AbortRQServiceProviderReason::UnexpectedPduParameter)
                    .await;
                Flow::Done
            }
        }
    }

    /// Opens a spool file: one of the pre-created files when available
    /// (`true`: its folder entry is durable), else a new one.
    async fn open_spool(&self) -> std::io::Result<((PathBuf, SpoolWriter), bool)> {
        if let Some(path) = self.shared.cx.spool_files.as_ref().and_then(|f| f.take()) {
            // Opening an existing, empty file does no disk I/O: done here
            // rather than on the blocking pool.
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(file) => {
                    return Ok(((path, SpoolWriter::new(file)), true));
                }
                Err(error) => {
                    warn!(%error, path = %path.display(), "Could not open a pre-created spool file; creating one.");
                    remove_quietly(&path).await;
                }
            }
        }
        let n = self.shared.next_spool.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = self
            .shared
            .cx
            .spool_dir
            .join(format!("{nanos}-{}-{n}.part", std::process::id()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(((path, SpoolWriter::new(file.into_std().await)), false))
    }

    async fn on_data(&mut self, bytes: &[u8], is_last: bool) -> Flow {
        match self.in_progress.as_mut() {
            Some(InProgress::Store(store)) => {
                store.size += bytes.len() as u64;
                if let Some((path, writer)) = store.spool.as_mut()
                    && let Err(error) = writer.write(bytes)
                {
                    warn!(%error, path = %path.display(), "Could not write the spool file; the C-STORE will be refused.");
                    remove_spool(store.spool.take().map(|(p, _)| p)).await;
                    store.refusal = Some(Status::OUT_OF_RESOURCES);
                }
                if !is_last {
                    return Flow::Continue;
                }
                let Some(InProgress::Store(store)) = self.in_progress.take() else {
                    return Flow::Continue;
                };
                let pc_id = store.presentation_context_id;
                let (rq, status) = self.finish_store(*store).await;
                self.respond(pc_id, &DimseCommand::StoreRsp(rq.response(status)))
                    .await
            }
            Some(InProgress::Discard(_)) => {
                if !is_last {
                    return Flow::Continue;
                }
                let Some(InProgress::Discard(discard)) = self.in_progress.take() else {
                    return Flow::Continue;
                };
                self.respond_unsupported(discard.presentation_context_id, &discard.request)
                    .await
            }
            // The reassembler only yields data after a command with a data set.
            None => Flow::Continue,
        }
    }

    /// Closes the spool file and hands it to the ingest hook.
    async fn finish_store(&mut self, store: StoreInProgress) -> (CStoreRq, Status) {
        let StoreInProgress {
            rq,
            transfer_syntax,
            spool,
            spool_entry_durable,
            size,
            refusal,
            started,
            ..
        } = store;
        let received = started.elapsed();
        if let Some(status) = refusal {
            remove_spool(spool.map(|(p, _)| p)).await;
            return (rq, status);
        }
        let Some((path, writer)) = spool else {
            return (rq, Status::OUT_OF_RESOURCES);
        };
        let data = writer.finish();
        let Some(ingest) = self.shared.cx.ingest.clone() else {
            remove_spool(Some(path)).await;
            return (rq, Status::SOP_CLASS_NOT_SUPPORTED);
        };
        let Some(accepted) = self.accepted.as_ref() else {
            remove_spool(Some(path)).await;
            return (rq, Status::PROCESSING_FAILURE);
        };
        let instance = ReceivedInstance {
            spool_path: path.clone(),
            spool_entry_durable,
            size,
            sop_class_uid: rq.affected_sop_class_uid.clone(),
            sop_instance_uid: rq.affected_sop_instance_uid.clone(),
            transfer_syntax,
            calling_ae_title: accepted.calling_ae_title.clone(),
            called_ae_title: accepted.called_ae_title.clone(),
            peer: self.peer,
            namespace: self.shared.cx.namespace.clone(),
            service: self.shared.cx.name.clone(),
            message_id: rq.message_id,
            priority: rq.priority,
            move_originator_ae_title: rq.move_originator_ae_title.clone(),
            move_originator_message_id: rq.move_originator_message_id,
        };
        let ingest_started = std::time::Instant::now();
        match ingest.ingest(instance, data).await {
            Ok(()) => {
                debug!(sop_instance_uid = %rq.affected_sop_instance_uid, size, "Instance received.");
                tracing::trace!(?received, ingest = ?ingest_started.elapsed(), "C-STORE timing.");
                (rq, Status::SUCCESS)
            }
            Err(error) => {
                warn!(%error, sop_instance_uid = %rq.affected_sop_instance_uid, "Could not take the instance in; answering A700H.");
                remove_spool(Some(path)).await;
                (rq, Status::OUT_OF_RESOURCES)
            }
        }
    }

    async fn respond(&mut self, pc_id: u8, response: &DimseCommand) -> Flow {
        let bytes = match response.to_bytes() {
            Ok(bytes) => bytes,
            Err(error) => {
                warn!(%error, "Could not encode a response; sending A-ABORT.");
                self.abort_with(AbortRQServiceProviderReason::ReasonNotSpecified)
                    .await;
                return Flow::Done;
            }
        };
        self.trace(&format!(">> {}", response.describe()));
        self.send(pc_id, &bytes).await
    }

    async fn respond_unsupported(&mut self, pc_id: u8, request: &OtherCommand) -> Flow {
        let status = Status::UNRECOGNIZED_OPERATION;
        let Ok(bytes) = encode_failure_response(request, status) else {
            self.abort_with(AbortRQServiceProviderReason::ReasonNotSpecified)
                .await;
            return Flow::Done;
        };
        let name = command_name(request.command_field | 0x8000).unwrap_or("response");
        self.trace(&format!(">> {name}, status {status}"));
        self.send(pc_id, &bytes).await
    }

    async fn send(&mut self, pc_id: u8, bytes: &[u8]) -> Flow {
        match send_command(&mut self.stream, pc_id, bytes).await {
            Ok(()) => Flow::Continue,
            Err(error) => {
                warn!(%error, "Could not send a response; closing.");
                Flow::Done
            }
        }
    }

    /// Removes a partial spool file when the association ends mid-message.
    async fn discard_in_progress(&mut self) {
        if let Some(InProgress::Store(store)) = self.in_progress.take()
            && let Some((path, writer)) = store.spool
        {
            drop(writer);
            warn!(
                sop_instance_uid = %store.rq.affected_sop_instance_uid,
                "Association ended in the middle of a C-STORE; the partial data set is dropped."
            );
            remove_spool(Some(path)).await;
        }
    }
}

async fn remove_spool(path: Option<PathBuf>) {
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
