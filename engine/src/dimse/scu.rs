//! The association requestor (SCU): connect, propose presentation contexts,
//! read the A-ASSOCIATE-AC/RJ, send C-ECHO, C-STORE (streamed from a
//! reader or a Part-10 file, fragmented to the peer's maximum PDU length)
//! and C-FIND (its responses read one by one as they come, C-CANCEL),
//! release and abort. An optional trace callback receives one line per PDU
//! and DIMSE message (`>> A-ASSOCIATE-RQ PDU`, `<< C-ECHO-RSP …`).
//!
//! Used by `switchboard echo`, `switchboard association test`, the outbound
//! DICOM operation and the benchmarks. What goes into the A-ASSOCIATE-RQ and
//! how the AC is read is pure logic in [`crate::association::request`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dicom_ul::pdu::{AbortRQSource, PDataValue, Pdu};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::tls::Stream;

use super::commands::{
    CCancelRq, CEchoRq, CFindRq, CFindRsp, CGetRq, CMoveRq, CStoreRq, CStoreRsp, CommandError,
    DimseCommand, Priority, RetrieveRsp,
};
use super::pdata::{
    GrowingFile, PdvError, PdvEvent, Reassembler, SendFileError, send_command, send_data_from,
    send_data_from_file, send_data_growing,
};
use super::pdu::{
    DEFAULT_WRITE_TIMEOUT, PduReadError, PduStream, PduWriteError, PdvRef, ReadWithinError,
    describe_abort_source, describe_pdu,
};
use super::status::Status;
use super::uids::VERIFICATION;
use crate::association::negotiation::Rejection;
pub use crate::association::request::{
    MAX_PRESENTATION_CONTEXTS, NegotiatedContext, ProposalError, ProposedContext,
};
use crate::association::request::{association_rq, read_ac};
use crate::part10::{self, Part10Error};

/// A trace sink: receives lines such as `>> A-ASSOCIATE-RQ PDU`.
pub type Trace = Arc<dyn Fn(&str) + Send + Sync>;

/// Our default maximum PDU length as a requestor.
pub const DEFAULT_MAX_PDU_LENGTH: u32 = 65536;

/// How to request an association.
#[derive(Clone)]
pub struct ScuOptions {
    pub calling_ae_title: String,
    pub called_ae_title: String,
    /// Proposed in this order, with IDs 1, 3, 5, …
    pub presentation_contexts: Vec<ProposedContext>,
    /// The maximum PDU length we announce.
    pub max_pdu_length: u32,
    /// SOP classes for which we propose to be SCP as well as SCU (role
    /// selection): what a C-GET retrieves comes back as C-STOREs.
    pub scp_roles: Vec<String>,
    pub connect_timeout: Duration,
    /// How long to wait for the AC/RJ, a response or the release reply.
    pub response_timeout: Duration,
    /// How long one write may wait for a peer that stops reading.
    pub write_timeout: Duration,
    pub trace: Option<Trace>,
    /// DICOM TLS, when the remote requires it.
    pub tls: Option<super::tls::ClientTls>,
}

impl std::fmt::Debug for ScuOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScuOptions")
            .field("calling_ae_title", &self.calling_ae_title)
            .field("called_ae_title", &self.called_ae_title)
            .field("presentation_contexts", &self.presentation_contexts)
            .field("max_pdu_length", &self.max_pdu_length)
            .finish_non_exhaustive()
    }
}

impl ScuOptions {
    /// Options with no contexts, our default maximum PDU length and 30 s
    /// timeouts.
    pub fn new(calling_ae_title: &str, called_ae_title: &str) -> Self {
        Self {
            calling_ae_title: calling_ae_title.to_string(),
            called_ae_title: called_ae_title.to_string(),
            presentation_contexts: Vec::new(),
            max_pdu_length: DEFAULT_MAX_PDU_LENGTH,
            scp_roles: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            response_timeout: Duration::from_secs(30),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            trace: None,
            tls: None,
        }
    }

    /// Adds a presentation context.
    pub fn with_context(mut self, abstract_syntax: &str, transfer_syntaxes: &[&str]) -> Self {
        self.presentation_contexts.push(ProposedContext {
            abstract_syntax: abstract_syntax.to_string(),
            transfer_syntaxes: transfer_syntaxes.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    /// Sets the trace sink.
    pub fn with_trace(mut self, trace: Trace) -> Self {
        self.trace = Some(trace);
        self
    }
}

/// Why an SCU operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    #[error("could not connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("timed out after {0:?} {1}")]
    Timeout(Duration, &'static str),
    #[error("TLS with {address} failed: {source}")]
    Tls {
        address: String,
        source: std::io::Error,
    },
    #[error("association rejected: {0}")]
    Rejected(Rejection),
    #[error("association aborted by the peer ({0})")]
    Aborted(String),
    #[error("the peer sent an unexpected {0}")]
    Unexpected(String),
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    #[error("no accepted presentation context for {abstract_syntax} with {transfer_syntax}")]
    NoAcceptedContext {
        abstract_syntax: String,
        transfer_syntax: String,
    },
    #[error("response to message {expected} answered message {found}")]
    WrongResponse { expected: u16, found: u16 },
    #[error(transparent)]
    File(#[from] Part10Error),
    #[error(transparent)]
    Read(#[from] PduReadError),
    #[error(transparent)]
    Write(#[from] PduWriteError),
    #[error(transparent)]
    Pdv(#[from] PdvError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The data set's own file could not be read: a local fault, which no
    /// retry towards the peer mends.
    #[error(transparent)]
    Body(SendFileError),
}

/// An established association, as requestor.
///
/// Lifecycle: created by [`connect`] or [`associate`]; ended by
/// [`ScuAssociation::release`] or [`ScuAssociation::abort`]. Dropping it
/// closes the connection without a release.
pub struct ScuAssociation<S> {
    stream: PduStream<S>,
    contexts: Vec<NegotiatedContext>,
    next_message_id: u16,
    reassembler: Reassembler,
    /// Reused by every C-STORE from a file (one chunk of PDUs).
    send_buffer: Vec<u8>,
    trace: Option<Trace>,
    response_timeout: Duration,
    peer_max_pdu_length: u32,
    peer_implementation_class_uid: Option<String>,
    peer_implementation_version_name: Option<String>,
    /// C-FIND, C-MOVE and C-GET responses (and a C-GET's C-STORE
    /// sub-operations) read but not yet taken, in order, with their data
    /// sets.
    responses: std::collections::VecDeque<Streamed>,
    /// One whose data set is still arriving.
    partial: Option<(u8, DimseCommand, Vec<u8>)>,
    /// The Move Originator (AE title, Message ID) the next C-STOREs carry:
    /// they are sub-operations of that C-MOVE.
    move_originator: Option<(String, u16)>,
}

/// One C-FIND response: a match (pending, with its identifier) or the
/// final status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindResponse {
    pub message_id_being_responded_to: u16,
    pub status: Status,
    /// The match, encoded in the context's transfer syntax.
    pub identifier: Option<Vec<u8>>,
    pub error_comment: Option<String>,
}

impl FindResponse {
    fn new(rsp: CFindRsp, identifier: Option<Vec<u8>>) -> Self {
        Self {
            message_id_being_responded_to: rsp.message_id_being_responded_to,
            status: rsp.status,
            identifier,
            error_comment: rsp.error_comment,
        }
    }
}

/// A message of a request answered by a stream of them: its presentation
/// context, command and data set.
type Streamed = (u8, DimseCommand, Option<Vec<u8>>);

/// What a C-GET brings as it goes: a response, or an instance (a C-STORE
/// sub-operation, to answer with [`ScuAssociation::answer_store`]).
#[derive(Debug)]
pub enum RetrieveEvent {
    Response(RetrieveResponse),
    Store(IncomingStore),
}

/// A C-STORE sub-operation of a C-GET, received.
#[derive(Debug)]
pub struct IncomingStore {
    pub presentation_context_id: u8,
    pub rq: CStoreRq,
    /// The transfer syntax of its context, which `data_set` is encoded in.
    pub transfer_syntax: String,
    pub data_set: Vec<u8>,
}

/// One C-MOVE or C-GET response: pending with the counts so far, or the
/// final one, with the Failed SOP Instance UID List as its data set when
/// the performer sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveResponse {
    pub rsp: RetrieveRsp,
    /// Encoded in the context's transfer syntax.
    pub data_set: Option<Vec<u8>>,
}

impl<S> std::fmt::Debug for ScuAssociation<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScuAssociation")
            .field("contexts", &self.contexts)
            .field("peer_max_pdu_length", &self.peer_max_pdu_length)
            .finish_non_exhaustive()
    }
}

/// Connects over TCP (with TCP_NODELAY), with TLS when the options say so,
/// and requests an association.
///
/// # Errors
/// [`ScuError::Connect`], [`ScuError::Tls`], [`ScuError::Timeout`],
/// [`ScuError::Rejected`] and protocol errors.
pub async fn connect(
    address: &str,
    options: &ScuOptions,
) -> Result<ScuAssociation<Stream>, ScuError> {
    let stream =
        match tokio::time::timeout(options.connect_timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(ScuError::Connect {
                    address: address.to_string(),
                    source,
                });
            }
            Err(_) => return Err(ScuError::Timeout(options.connect_timeout, "connecting")),
        };
    stream.set_nodelay(true)?;
    let stream = match &options.tls {
        None => Stream::Plain(stream),
        Some(tls) => {
            let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let handshake =
                tokio::time::timeout(options.response_timeout, tls.connect(stream, host));
            let (stream, described) = match handshake.await {
                Ok(Ok(done)) => done,
                Ok(Err(source)) => {
                    return Err(ScuError::Tls {
                        address: address.to_string(),
                        source,
                    });
                }
                Err(_) => {
                    return Err(ScuError::Timeout(
                        options.response_timeout,
                        "in the TLS handshake",
                    ));
                }
            };
            trace(&options.trace, format_args!("TLS: {described}"));
            stream
        }
    };
    // With TLS 1.3 the server judges our certificate after the handshake:
    // its refusal comes as an alert on the first read.
    associate(stream, options).await.map_err(|e| match e {
        ScuError::Read(PduReadError::Io(source))
            if source
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            ScuError::Tls {
                address: address.to_string(),
                source,
            }
        }
        other => other,
    })
}

/// Requests an association over an already connected stream.
///
/// # Errors
/// As [`connect`].
pub async fn associate<S>(stream: S, options: &ScuOptions) -> Result<ScuAssociation<S>, ScuError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let rq = association_rq(
        &options.calling_ae_title,
        &options.called_ae_title,
        &options.presentation_contexts,
        options.max_pdu_length,
        &options.scp_roles,
    )?;
    let proposed = rq.presentation_contexts.clone();
    let mut stream = PduStream::new(stream);
    stream.set_write_timeout(options.write_timeout);
    let rq_pdu = Pdu::AssociationRQ(rq);
    trace(&options.trace, format_args!(">> {}", describe_pdu(&rq_pdu)));
    stream.write_pdu(&rq_pdu).await?;
    let reply = read_within(
        &mut stream,
        options.response_timeout,
        "waiting for A-ASSOCIATE-AC",
    )
    .await?;
    trace(&options.trace, format_args!("<< {}", describe_pdu(&reply)));
    let ac = match reply {
        Pdu::AssociationAC(ac) => ac,
        Pdu::AssociationRJ(rj) => {
            stream.shutdown().await;
            return Err(ScuError::Rejected(Rejection(rj)));
        }
        Pdu::AbortRQ { source } => return Err(ScuError::Aborted(describe_abort_source(&source))),
        other => {
            stream.abort(AbortRQSource::ServiceUser).await;
            return Err(ScuError::Unexpected(describe_pdu(&other)));
        }
    };
    let accepted = read_ac(&proposed, &ac);
    let peer_max_pdu_length = accepted.peer_max_pdu_length;
    stream.set_limits(options.max_pdu_length, peer_max_pdu_length);
    Ok(ScuAssociation {
        stream,
        contexts: accepted.contexts,
        next_message_id: 1,
        reassembler: Reassembler::new(),
        send_buffer: Vec::new(),
        trace: options.trace.clone(),
        response_timeout: options.response_timeout,
        peer_max_pdu_length,
        peer_implementation_class_uid: accepted.peer_implementation_class_uid,
        peer_implementation_version_name: accepted.peer_implementation_version_name,
        responses: std::collections::VecDeque::new(),
        partial: None,
        move_originator: None,
    })
}

/// Reads one PDU within `timeout`, else aborts (see
/// [`PduStream::read_pdu_within`]); `waiting_for` says what for.
async fn read_within<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut PduStream<S>,
    timeout: Duration,
    waiting_for: &'static str,
) -> Result<Pdu, ScuError> {
    stream.read_pdu_within(timeout).await.map_err(|e| match e {
        ReadWithinError::TimedOut(after) => ScuError::Timeout(after, waiting_for),
        ReadWithinError::Read(e) => ScuError::Read(e),
    })
}

fn trace(trace: &Option<Trace>, line: impl std::fmt::Display) {
    // Formatted only when traced: a command's description costs more than
    // its encoding.
    if let Some(trace) = trace {
        trace(&line.to_string());
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ScuAssociation<S> {
    /// The result of every proposed context, in proposed order.
    pub fn contexts(&self) -> &[NegotiatedContext] {
        &self.contexts
    }

    /// The maximum PDU length the acceptor announced (0: unlimited).
    pub fn peer_max_pdu_length(&self) -> u32 {
        self.peer_max_pdu_length
    }

    /// The acceptor's implementation class UID and version name.
    pub fn peer_implementation(&self) -> (Option<&str>, Option<&str>) {
        (
            self.peer_implementation_class_uid.as_deref(),
            self.peer_implementation_version_name.as_deref(),
        )
    }

    /// The first accepted context for an abstract syntax, optionally with a
    /// given transfer syntax.
    pub fn accepted_context(
        &self,
        abstract_syntax: &str,
        transfer_syntax: Option<&str>,
    ) -> Option<&NegotiatedContext> {
        self.contexts.iter().find(|c| {
            c.is_accepted()
                && c.abstract_syntax == abstract_syntax
                && transfer_syntax.is_none_or(|ts| c.transfer_syntax.as_deref() == Some(ts))
        })
    }

    /// The Move Originator the next C-STOREs carry (PS3.7 §9.1.1.1.8):
    /// they are sub-operations of the C-MOVE `message_id` of `ae_title`;
    /// `None`: plain stores.
    pub fn set_move_originator(&mut self, originator: Option<(String, u16)>) {
        self.move_originator = originator;
    }

    /// The Message ID the next request gets (one a caller chose, unique
    /// among its requests in flight elsewhere); then they count on from it.
    pub fn set_next_message_id(&mut self, message_id: u16) {
        self.next_message_id = message_id.max(1);
    }

    fn next_message_id(&mut self) -> u16 {
        let id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        id
    }

    /// Sends a C-ECHO-RQ on the accepted Verification context and returns
    /// the response status.
    ///
    /// # Errors
    /// [`ScuError::NoAcceptedContext`] when Verification was not accepted,
    /// and protocol errors.
    pub async fn echo(&mut self) -> Result<Status, ScuError> {
        let pc_id = self.context_id(VERIFICATION, None)?;
        let id = self.next_message_id();
        let rq = DimseCommand::EchoRq(CEchoRq::new(id));
        self.send_command(pc_id, &rq).await?;
        let rsp = self.read_response(id).await?;
        rsp.status()
            .ok_or_else(|| ScuError::Unexpected(rsp.describe()))
    }

    /// Sends a C-STORE-RQ and streams the data set (encoded in
    /// `transfer_syntax`, no preamble or meta group) from `data`. No
    /// transcoding: a context accepted with that transfer syntax is needed.
    ///
    /// # Errors
    /// [`ScuError::NoAcceptedContext`] and protocol or I/O errors.
    pub async fn store<R: AsyncRead + Unpin>(
        &mut self,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        transfer_syntax: &str,
        data: R,
    ) -> Result<Status, ScuError> {
        let (pc_id, id) = self
            .request(sop_class_uid, sop_instance_uid, transfer_syntax)
            .await?;
        let sent = send_data_from(&mut self.stream, pc_id, data).await?;
        self.store_response(id, sent).await
    }

    /// Sends a C-STORE-RQ on the context accepted for the SOP class and
    /// transfer syntax; returns the context's id for the data set and the
    /// request's message id.
    async fn request(
        &mut self,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        transfer_syntax: &str,
    ) -> Result<(u8, u16), ScuError> {
        let pc_id = self.context_id(sop_class_uid, Some(transfer_syntax))?;
        let id = self.next_message_id();
        let rq = DimseCommand::StoreRq(CStoreRq {
            message_id: id,
            affected_sop_class_uid: sop_class_uid.to_string(),
            affected_sop_instance_uid: sop_instance_uid.to_string(),
            priority: Priority::Medium,
            move_originator_ae_title: self.move_originator.as_ref().map(|(ae, _)| ae.clone()),
            move_originator_message_id: self.move_originator.as_ref().map(|(_, id)| *id),
        });
        self.send_command(pc_id, &rq).await?;
        Ok((pc_id, id))
    }

    /// Reads the C-STORE-RSP of the request just sent.
    async fn store_response(&mut self, id: u16, sent: u64) -> Result<Status, ScuError> {
        trace(&self.trace, format_args!(">> data set, {sent} bytes"));
        let rsp = self.read_response(id).await?;
        rsp.status()
            .ok_or_else(|| ScuError::Unexpected(rsp.describe()))
    }

    /// Sends `len` bytes of a file, from `offset`, as the data set of a
    /// C-STORE; as [`Self::store`] otherwise. The file is read in large
    /// chunks straight into the outgoing PDUs.
    ///
    /// # Errors
    /// As [`Self::store`].
    pub async fn store_from_file(
        &mut self,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        transfer_syntax: &str,
        file: std::sync::Arc<std::fs::File>,
        offset: u64,
        len: u64,
    ) -> Result<Status, ScuError> {
        let (pc_id, id) = self
            .request(sop_class_uid, sop_instance_uid, transfer_syntax)
            .await?;
        let sent = send_data_from_file(
            &mut self.stream,
            pc_id,
            file,
            offset,
            len,
            &mut self.send_buffer,
        )
        .await
        .map_err(body_or_stream)?;
        self.store_response(id, sent).await
    }

    /// Sends a data set while it is written to its file (cut-through), as
    /// the data set of a C-STORE; as [`Self::store_from_file`] otherwise.
    ///
    /// # Errors
    /// As [`Self::store`]; [`ScuError::Body`] when the data set will not
    /// become whole: the caller aborts the association then.
    pub async fn store_growing<G: GrowingFile>(
        &mut self,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        transfer_syntax: &str,
        data: &mut G,
    ) -> Result<Status, ScuError> {
        let (pc_id, id) = self
            .request(sop_class_uid, sop_instance_uid, transfer_syntax)
            .await?;
        let sent = send_data_growing(&mut self.stream, pc_id, data, &mut self.send_buffer)
            .await
            .map_err(body_or_stream)?;
        self.store_response(id, sent).await
    }

    /// Sends a DICOM Part-10 file with C-STORE, streaming the data set after
    /// the meta group. The SOP class, instance and transfer syntax come from
    /// the meta group.
    ///
    /// # Errors
    /// [`ScuError::File`] when the file is not Part-10, else as [`Self::store`].
    pub async fn store_file(&mut self, path: &Path) -> Result<Status, ScuError> {
        let owned = path.to_path_buf();
        let (meta, file) = tokio::task::spawn_blocking(move || part10::open_data_set(&owned))
            .await
            .map_err(std::io::Error::other)??;
        let len = file.metadata()?.len();
        self.store_from_file(
            &meta.sop_class_uid,
            &meta.sop_instance_uid,
            &meta.transfer_syntax,
            std::sync::Arc::new(file),
            meta.data_set_offset,
            len.saturating_sub(meta.data_set_offset),
        )
        .await
    }

    /// Sends a C-FIND-RQ with `identifier` (encoded in `transfer_syntax`)
    /// on the context accepted for the information model with that transfer
    /// syntax; returns its message id. Read the responses with
    /// [`Self::find_response`].
    ///
    /// # Errors
    /// [`ScuError::NoAcceptedContext`] and protocol or I/O errors.
    pub async fn find(
        &mut self,
        sop_class_uid: &str,
        transfer_syntax: &str,
        priority: Priority,
        identifier: &[u8],
    ) -> Result<u16, ScuError> {
        let pc_id = self.context_id(sop_class_uid, Some(transfer_syntax))?;
        let id = self.next_message_id();
        let rq = DimseCommand::FindRq(CFindRq {
            message_id: id,
            affected_sop_class_uid: sop_class_uid.to_string(),
            priority,
        });
        self.send_command(pc_id, &rq).await?;
        super::pdata::send_data(&mut self.stream, pc_id, identifier).await?;
        Ok(id)
    }

    /// The next response to the C-FIND `message_id`: a match, or the final
    /// status (then the request is over). Waits as long as the peer takes
    /// (time it out around the call); cancellation-safe, so a `select!`
    /// may abandon it and call it again.
    ///
    /// # Errors
    /// An A-ABORT, an unexpected PDU or DIMSE message, or I/O errors.
    pub async fn find_response(&mut self, message_id: u16) -> Result<FindResponse, ScuError> {
        match self.streamed(message_id).await? {
            (_, DimseCommand::FindRsp(rsp), identifier) => Ok(FindResponse::new(rsp, identifier)),
            (_, other, _) => Err(self.unexpected(&other).await),
        }
    }

    /// Sends a C-MOVE-RQ (to `move_destination`) or, without one, a
    /// C-GET-RQ with `identifier` (encoded in `transfer_syntax`) on the
    /// context accepted for the information model with that transfer
    /// syntax; returns its message id. Read the responses with
    /// [`Self::retrieve_response`].
    ///
    /// # Errors
    /// [`ScuError::NoAcceptedContext`] and protocol or I/O errors.
    pub async fn retrieve(
        &mut self,
        sop_class_uid: &str,
        transfer_syntax: &str,
        priority: Priority,
        move_destination: Option<&str>,
        identifier: &[u8],
    ) -> Result<u16, ScuError> {
        let pc_id = self.context_id(sop_class_uid, Some(transfer_syntax))?;
        let message_id = self.next_message_id();
        let affected_sop_class_uid = sop_class_uid.to_string();
        let rq = match move_destination {
            Some(destination) => DimseCommand::MoveRq(CMoveRq {
                message_id,
                affected_sop_class_uid,
                priority,
                move_destination: destination.to_string(),
            }),
            None => DimseCommand::GetRq(CGetRq {
                message_id,
                affected_sop_class_uid,
                priority,
            }),
        };
        self.send_command(pc_id, &rq).await?;
        super::pdata::send_data(&mut self.stream, pc_id, identifier).await?;
        Ok(message_id)
    }

    /// The next response to the C-MOVE or C-GET `message_id`, as
    /// [`Self::find_response`] reads one.
    ///
    /// # Errors
    /// An A-ABORT, an unexpected PDU or DIMSE message, or I/O errors.
    pub async fn retrieve_response(
        &mut self,
        message_id: u16,
    ) -> Result<RetrieveResponse, ScuError> {
        match self.streamed(message_id).await? {
            (_, DimseCommand::RetrieveRsp(rsp), data_set) => Ok(RetrieveResponse { rsp, data_set }),
            (_, other, _) => Err(self.unexpected(&other).await),
        }
    }

    /// The next message of the C-GET `message_id`: a response, or an
    /// instance to answer with [`Self::answer_store`]; cancellation-safe.
    ///
    /// # Errors
    /// As [`Self::retrieve_response`].
    pub async fn retrieve_event(&mut self, message_id: u16) -> Result<RetrieveEvent, ScuError> {
        match self.streamed(message_id).await? {
            (_, DimseCommand::RetrieveRsp(rsp), data_set) => {
                Ok(RetrieveEvent::Response(RetrieveResponse { rsp, data_set }))
            }
            (pc_id, DimseCommand::StoreRq(rq), Some(data_set)) => {
                let transfer_syntax = self
                    .contexts
                    .iter()
                    .find(|c| c.id == pc_id)
                    .and_then(|c| c.transfer_syntax.clone())
                    .unwrap_or_default();
                Ok(RetrieveEvent::Store(IncomingStore {
                    presentation_context_id: pc_id,
                    rq,
                    transfer_syntax,
                    data_set,
                }))
            }
            (_, other, _) => Err(self.unexpected(&other).await),
        }
    }

    /// Answers a C-GET's C-STORE sub-operation with `status`.
    ///
    /// # Errors
    /// I/O errors.
    pub async fn answer_store(
        &mut self,
        store: &IncomingStore,
        status: Status,
    ) -> Result<(), ScuError> {
        let rsp = DimseCommand::StoreRsp(CStoreRsp {
            message_id_being_responded_to: store.rq.message_id,
            affected_sop_class_uid: store.rq.affected_sop_class_uid.clone(),
            affected_sop_instance_uid: store.rq.affected_sop_instance_uid.clone(),
            status,
        });
        self.send_command(store.presentation_context_id, &rsp).await
    }

    /// The next message of the request `message_id` answered by a stream
    /// of them (a response to it, or a C-STORE request on the same
    /// association), with its data set; cancellation-safe.
    async fn streamed(&mut self, message_id: u16) -> Result<Streamed, ScuError> {
        loop {
            if let Some((pc_id, rsp, data_set)) = self.responses.pop_front() {
                if let DimseCommand::StoreRq(_) = rsp {
                    return Ok((pc_id, rsp, data_set));
                }
                let found = rsp.message_id_being_responded_to().unwrap_or_default();
                if found != message_id {
                    self.stream.abort(AbortRQSource::ServiceUser).await;
                    return Err(ScuError::WrongResponse {
                        expected: message_id,
                        found,
                    });
                }
                return Ok((pc_id, rsp, data_set));
            }
            // The only await: everything after it runs to completion, so
            // an abandoned call loses nothing.
            let pdu = self.stream.read_pdu().await?;
            match pdu {
                Pdu::PData { data } => {
                    for pdv in data {
                        self.push_streamed_pdv(&pdv).await?;
                    }
                }
                other => return Err(self.not_pdata(other).await),
            }
        }
    }

    async fn push_streamed_pdv(&mut self, pdv: &PDataValue) -> Result<(), ScuError> {
        match self.reassembler.push(PdvRef::from(pdv))? {
            Some(PdvEvent::Command {
                presentation_context_id,
                command,
            }) => {
                trace(&self.trace, format_args!("<< {}", command.described()));
                if !matches!(
                    command,
                    DimseCommand::FindRsp(_)
                        | DimseCommand::RetrieveRsp(_)
                        | DimseCommand::StoreRq(_)
                ) {
                    return Err(self.unexpected(&command).await);
                }
                if command.has_data_set() {
                    self.partial = Some((presentation_context_id, command, Vec::new()));
                } else {
                    self.responses
                        .push_back((presentation_context_id, command, None));
                }
            }
            Some(PdvEvent::Data { bytes, is_last }) => {
                if let Some((_, _, data)) = self.partial.as_mut() {
                    data.extend_from_slice(bytes);
                }
                if is_last && let Some((pc_id, rsp, data)) = self.partial.take() {
                    self.responses.push_back((pc_id, rsp, Some(data)));
                }
            }
            None => {}
        }
        Ok(())
    }

    /// A DIMSE message other than the one awaited: A-ABORT, and say which.
    async fn unexpected(&mut self, command: &DimseCommand) -> ScuError {
        self.stream.abort(AbortRQSource::ServiceUser).await;
        ScuError::Unexpected(command.describe())
    }

    /// Sends C-CANCEL-RQ for the C-FIND, C-MOVE or C-GET `message_id`; its final response
    /// (FE00, or whatever it had reached) follows.
    ///
    /// # Errors
    /// Protocol or I/O errors.
    pub async fn cancel(
        &mut self,
        pc_sop_class_uid: &str,
        message_id: u16,
    ) -> Result<(), ScuError> {
        let pc_id = self.context_id(pc_sop_class_uid, None)?;
        let cancel = DimseCommand::CancelRq(CCancelRq {
            message_id_being_responded_to: message_id,
        });
        self.send_command(pc_id, &cancel).await
    }

    /// The id of the context accepted for `abstract_syntax` (with
    /// `transfer_syntax` when given).
    fn context_id(
        &self,
        abstract_syntax: &str,
        transfer_syntax: Option<&str>,
    ) -> Result<u8, ScuError> {
        self.accepted_context(abstract_syntax, transfer_syntax)
            .map(|c| c.id)
            .ok_or_else(|| ScuError::NoAcceptedContext {
                abstract_syntax: abstract_syntax.to_string(),
                transfer_syntax: transfer_syntax.unwrap_or("any transfer syntax").to_string(),
            })
    }

    /// A PDU other than P-DATA while a response is awaited: the peer's
    /// A-ABORT, or anything else, answered with ours.
    async fn not_pdata(&mut self, pdu: Pdu) -> ScuError {
        if let Pdu::AbortRQ { source } = &pdu {
            let source = describe_abort_source(source);
            trace(&self.trace, format_args!("<< A-ABORT PDU ({source})"));
            return ScuError::Aborted(source);
        }
        trace(&self.trace, format_args!("<< {}", describe_pdu(&pdu)));
        self.stream.abort(AbortRQSource::ServiceUser).await;
        ScuError::Unexpected(describe_pdu(&pdu))
    }

    async fn send_command(&mut self, pc_id: u8, command: &DimseCommand) -> Result<(), ScuError> {
        let bytes = command.to_bytes()?;
        trace(&self.trace, format_args!(">> {}", command.described()));
        send_command(&mut self.stream, pc_id, &bytes).await?;
        Ok(())
    }

    async fn read_response(&mut self, expected: u16) -> Result<DimseCommand, ScuError> {
        loop {
            let pdu = read_within(
                &mut self.stream,
                self.response_timeout,
                "waiting for the response",
            )
            .await?;
            match pdu {
                Pdu::PData { data } => {
                    for pdv in data {
                        if let Some(command) = self.push_pdv(pdv)? {
                            trace(&self.trace, format_args!("<< {}", command.described()));
                            let Some(responded) = command.message_id_being_responded_to() else {
                                self.stream.abort(AbortRQSource::ServiceUser).await;
                                return Err(ScuError::Unexpected(command.describe()));
                            };
                            if responded != expected {
                                return Err(ScuError::WrongResponse {
                                    expected,
                                    found: responded,
                                });
                            }
                            return Ok(command);
                        }
                    }
                }
                other => return Err(self.not_pdata(other).await),
            }
        }
    }

    fn push_pdv(&mut self, pdv: PDataValue) -> Result<Option<DimseCommand>, ScuError> {
        match self.reassembler.push(PdvRef::from(&pdv))? {
            Some(PdvEvent::Command { command, .. }) => Ok(Some(command)),
            // Responses we wait for carry no data set; skip any that does.
            Some(PdvEvent::Data { .. }) | None => Ok(None),
        }
    }

    /// Releases the association (A-RELEASE-RQ, wait for A-RELEASE-RP) and
    /// closes the connection.
    ///
    /// # Errors
    /// [`ScuError::Timeout`] or an unexpected PDU; the connection is closed
    /// either way.
    pub async fn release(mut self) -> Result<(), ScuError> {
        trace(&self.trace, ">> A-RELEASE-RQ PDU");
        self.stream.write_pdu(&Pdu::ReleaseRQ).await?;
        loop {
            let pdu = read_within(
                &mut self.stream,
                self.response_timeout,
                "waiting for A-RELEASE-RP",
            )
            .await?;
            trace(&self.trace, format_args!("<< {}", describe_pdu(&pdu)));
            match pdu {
                Pdu::ReleaseRP => {
                    self.stream.shutdown().await;
                    return Ok(());
                }
                // Release collision (PS3.8 §7.2.2): as requestor, answer the
                // peer's request, then keep waiting for our reply.
                Pdu::ReleaseRQ => {
                    trace(&self.trace, ">> A-RELEASE-RP PDU");
                    self.stream.write_pdu(&Pdu::ReleaseRP).await?;
                }
                // A late P-DATA (e.g. a pending response) is dropped.
                Pdu::PData { .. } => {}
                Pdu::AbortRQ { source } => {
                    return Err(ScuError::Aborted(describe_abort_source(&source)));
                }
                other => {
                    self.stream.abort(AbortRQSource::ServiceUser).await;
                    return Err(ScuError::Unexpected(describe_pdu(&other)));
                }
            }
        }
    }

    /// Aborts the association (A-ABORT, service-user) and closes the connection.
    pub async fn abort(mut self) {
        trace(&self.trace, ">> A-ABORT PDU (service-user)");
        self.stream.abort(AbortRQSource::ServiceUser).await;
    }
}

/// A data set's source failing is the body's fault; the peer's stream
/// failing, the association's.
fn body_or_stream(e: SendFileError) -> ScuError {
    match e {
        SendFileError::Stream(io) => ScuError::Io(io),
        file => ScuError::Body(file),
    }
}
