//! One inbound association (PS3.8 §9.2): establishment under the ARTIM
//! timer, negotiation from the namespace's stored association contexts,
//! then data transfer under the idle timer: P-DATA reassembled into DIMSE
//! commands, each request handed to its handler (`handlers/`), release and
//! abort. Generic over the stream, so TLS can be layered in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use dicom_ul::pdu::{AbortRQServiceProviderReason, AbortRQSource, AssociationRQ, Pdu};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::admission::Admission;
use super::config::DicomScpConfig;
use super::handlers::{self, Answers, Receive, Reply, Request, Start};
use super::hooks::{FindAnswer, GetInstance, RetrieveAnswer, ScpContext};
use crate::association::binding::{self, PeerCertificate};
use crate::association::model::AeTitle;
use crate::association::negotiation::{
    Accepted, Negotiation, Policy, Rejection, RequestorScpRole, negotiate,
};
use crate::dimse::commands::{
    CStoreRq, CommandError, DimseCommand, command_name, encode_failure_response,
};
use crate::dimse::pdata::{PdvEvent, Reassembler, send_command, send_data};
use crate::dimse::pdu::{
    Incoming, PDataPdu, PduReadError, PduStream, describe_abort_source, describe_pdu,
};
use crate::dimse::status::Status;
use crate::ids::NamespaceId;

/// State shared by the listener and its associations.
pub(super) struct Shared {
    pub(super) config: DicomScpConfig,
    /// The handshake budget and the association slots.
    pub(super) admission: Admission,
    /// The AE titles this listener answers to.
    pub(super) served: Vec<AeTitle>,
    pub(super) cx: ScpContext,
    /// DICOM TLS, when the service requires it.
    pub(super) tls: Option<crate::dimse::tls::Reloading<crate::dimse::tls::ServerTls>>,
    /// Numbers associations for the trace (`#5:ENS-SCP`).
    pub(super) next_id: AtomicU64,
}

/// Reads until the peer closes, at most `artim` (after RJ or RP) and never
/// past the service's final abort.
pub(super) async fn wait_for_close<S: AsyncRead + AsyncWrite + Unpin>(
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

/// One inbound association.
///
/// Lifecycle: created per accepted connection; `serve` runs establishment
/// (ARTIM), negotiation, data transfer (idle timeout) and release or abort,
/// and always ends with the connection closed and any partial spool file
/// removed.
pub(super) struct Association<S> {
    stream: PduStream<S>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    abort: CancellationToken,
    /// Numbers the association (the handshake budget knows it by it).
    id: u64,
    /// `#5:ENS-SCP`, the reference trace prefix.
    label: String,
    accepted: Option<Accepted>,
    reassembler: Reassembler,
    /// The request whose data set is arriving, on its presentation context.
    in_progress: Option<(u8, Box<dyn Receive>)>,
    /// When that data set must be complete (`data_set_timeout`).
    data_set_deadline: Option<tokio::time::Instant>,
    /// The C-FIND being answered: with no asynchronous operations
    /// negotiated, a peer has at most one request outstanding.
    outstanding: Option<Outstanding>,
    /// The Message ID of our next request (a C-GET's C-STORE
    /// sub-operations).
    next_message_id: u16,
    /// The requester's TLS client certificate, for AE-title bindings.
    certificate: Option<PeerCertificate>,
}

/// A request whose answers are still coming.
struct Outstanding {
    pc_id: u8,
    message_id: u16,
    answers: Answers,
    /// Fired on the requester's C-CANCEL, and when the association ends.
    cancel: CancellationToken,
    /// For the log line that ends it.
    started: tokio::time::Instant,
    /// Matches (C-FIND) or progress responses (C-MOVE, C-GET) relayed.
    relayed: usize,
    /// The C-GET instance sent to the requester, awaiting its C-STORE-RSP.
    sub_store: Option<SubStore>,
}

/// A C-STORE sub-operation sent, by its Message ID.
struct SubStore {
    message_id: u16,
    stored: tokio::sync::oneshot::Sender<Status>,
}

/// One answer of the outstanding request; `None` when its sender stopped.
enum Answer {
    Find(Option<FindAnswer>),
    Retrieve(Option<RetrieveAnswer>),
    /// A C-GET instance to send; `None` when the retrieve sends no more.
    Instance(Option<GetInstance>),
}

/// How the association ends after handling a PDU.
enum Flow {
    Continue,
    Done,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Association<S> {
    pub(super) fn new(
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
        let mut stream = PduStream::new(stream);
        stream.set_write_timeout(shared.config.write_timeout);
        Self {
            stream,
            peer,
            id,
            label: format!("#{id}:{first_title}"),
            shared,
            abort,
            accepted: None,
            reassembler: Reassembler::new(),
            in_progress: None,
            data_set_deadline: None,
            outstanding: None,
            next_message_id: 1,
            certificate: None,
        }
    }

    /// The client certificate the requester presented over TLS.
    pub(super) fn with_certificate(mut self, certificate: Option<PeerCertificate>) -> Self {
        self.certificate = certificate;
        self
    }

    /// Formatted only when traced or logged (`line` is lazy: a
    /// command's description costs more than its encoding).
    fn trace(&self, line: impl std::fmt::Display) {
        if self.shared.config.trace {
            info!("{} {line}", self.label);
        } else {
            debug!("{} {line}", self.label);
        }
    }

    /// Runs the association; `handshake` closes it while it has not sent
    /// its A-ASSOCIATE-RQ (see [`Admission`]).
    pub(super) async fn serve(mut self, handshake: CancellationToken) {
        let rq = self.establish(&handshake).await;
        self.shared.admission.handshake_done(self.id);
        if let Some(rq) = rq {
            match self.shared.admission.slot() {
                Some(slot) => {
                    if self.negotiate(&rq).await {
                        self.transfer().await;
                    }
                    drop(slot);
                }
                None => self.reject_over_limit(&rq).await,
            }
        }
        self.discard_in_progress().await;
        if let Some(outstanding) = self.outstanding.take() {
            // The answers' receiver goes first, so that the request sees
            // its requester gone when it sees the cancel.
            let Outstanding {
                answers, cancel, ..
            } = outstanding;
            drop(answers);
            cancel.cancel();
        }
        self.trace("closing socket");
    }

    /// Answers a requester past `max_associations` with A-ASSOCIATE-RJ
    /// rejected-transient, service-provider, local-limit-exceeded.
    async fn reject_over_limit(&mut self, rq: &AssociationRQ) {
        let rejection = Rejection::local_limit_exceeded();
        warn!(
            calling_ae_title = %rq.calling_ae_title,
            called_ae_title = %rq.called_ae_title,
            max_associations = self.shared.config.max_associations,
            "Association rejected: {rejection}."
        );
        self.trace(format_args!(">> A-ASSOCIATE-RJ PDU ({rejection})"));
        let sent = self
            .stream
            .write_pdu(&Pdu::AssociationRJ(rejection.to_pdu()))
            .await;
        match self.shared.admission.rejection() {
            Some(_waiting) if sent.is_ok() => {
                wait_for_close(
                    &mut self.stream,
                    self.shared.config.artim_timeout,
                    &self.abort,
                )
                .await;
            }
            _ => self.stream.shutdown().await,
        }
    }

    /// Waits for the A-ASSOCIATE-RQ under the ARTIM timer, unless the
    /// handshake budget closes the connection first.
    async fn establish(&mut self, handshake: &CancellationToken) -> Option<AssociationRQ> {
        let artim = self.shared.config.artim_timeout;
        let first = tokio::select! {
            biased;
            () = self.abort.cancelled() => {
                self.stream.shutdown().await;
                return None;
            }
            () = handshake.cancelled() => {
                // One line per connection would flood the log in a flood.
                debug!("Closing a connection that sent no A-ASSOCIATE-RQ, to admit a newer one (too many connections in the handshake).");
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
            Ok(Ok(Pdu::AbortRQ { .. })) => {
                // An A-ABORT is never answered (PS3.8 §9.2, AA-2).
                info!(
                    "The requester sent A-ABORT instead of an A-ASSOCIATE-RQ; closing the connection."
                );
                self.stream.shutdown().await;
                None
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
            // A C-GET brings instances back to its requester.
            requestor_scp_role: if self.shared.cx.query.is_some() {
                RequestorScpRole::Storage
            } else {
                RequestorScpRole::Never
            },
        };
        let lookup = &self.shared.cx.lookup;
        let decision = negotiate(rq, &policy, |calling, called| {
            let found = lookup.lookup(calling, called);
            if let Err(reason) = &found {
                warn!(%reason, "The association store could not be read.");
            }
            found
        });
        // A calling AE title bound to certificates is refused to a requester
        // without one of them, as a title not recognised.
        let (decision, unbound) = match decision {
            Negotiation::Accepted(accepted) => match self.binding_refusal(rq, &accepted) {
                Some(why) => (
                    Negotiation::Rejected(Rejection::calling_ae_title_not_recognized()),
                    Some(why),
                ),
                None => (Negotiation::Accepted(accepted), None),
            },
            rejected @ Negotiation::Rejected(_) => (rejected, None),
        };
        match decision {
            Negotiation::Rejected(rejection) => {
                let note = match unbound {
                    Some(why) => format!(" {why}."),
                    None => self.defined_elsewhere(rq, &rejection),
                };
                warn!(
                    calling_ae_title = %rq.calling_ae_title,
                    called_ae_title = %rq.called_ae_title,
                    "Association rejected: {rejection}.{note}"
                );
                self.trace(format_args!(">> A-ASSOCIATE-RJ PDU ({rejection})"));
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
            // While a data set arrives, it must be complete by its deadline:
            // a PDU now and then does not hold a slot and a spool file.
            let deadline = self
                .in_progress
                .as_ref()
                .and(self.data_set_deadline)
                .filter(|d| *d < tokio::time::Instant::now() + idle);
            let wait = deadline.map_or(idle, |d| {
                d.saturating_duration_since(tokio::time::Instant::now())
            });
            let next = tokio::select! {
                biased;
                () = self.abort.cancelled() => {
                    warn!("The service is shutting down; aborting the association.");
                    self.trace(">> A-ABORT PDU");
                    self.stream.abort(AbortRQSource::ServiceUser).await;
                    return;
                }
                // Cancellation-safe: an answer to relay abandons the read,
                // and the next one resumes it.
                next = tokio::time::timeout(wait, self.stream.read_incoming()) => next,
                answer = next_answer(&mut self.outstanding) => {
                    if let Flow::Done = self.on_answer(answer).await {
                        return;
                    }
                    continue;
                }
            };
            let pdu = match next {
                Err(_) if deadline.is_some() => {
                    let timeout = self.shared.config.data_set_timeout;
                    warn!(
                        ?timeout,
                        "The data set did not arrive within data_set_timeout; sending A-ABORT."
                    );
                    self.trace(">> A-ABORT PDU");
                    self.stream.abort(AbortRQSource::ServiceUser).await;
                    return;
                }
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
                    self.trace(format_args!(
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
        self.trace(format_args!(">> A-ABORT PDU (service-provider: {reason})"));
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

    /// Why the requester may not use its calling AE title with the
    /// certificate it presented (or none), if so.
    fn binding_refusal(&self, rq: &AssociationRQ, accepted: &Accepted) -> Option<String> {
        let calling = AeTitle::new(&rq.calling_ae_title).ok()?;
        binding::refusal(
            &calling,
            &accepted.association,
            self.certificate.as_ref(),
            |certificate| {
                self.shared
                    .cx
                    .lookup
                    .bound_to(certificate)
                    .unwrap_or_else(|reason| {
                        warn!(%reason, "The association store could not be read.");
                        Vec::new()
                    })
            },
        )
    }

    /// When the pair is not stored in this service's namespace but in
    /// others, a sentence saying so (else nothing).
    fn defined_elsewhere(&self, rq: &AssociationRQ, rejection: &Rejection) -> String {
        if *rejection != Rejection::calling_ae_title_not_recognized() {
            return String::new();
        }
        let (Ok(calling), Ok(called)) = (
            AeTitle::new(&rq.calling_ae_title),
            AeTitle::new(&rq.called_ae_title),
        ) else {
            return String::new();
        };
        let others = self.shared.cx.lookup.defined_elsewhere(&calling, &called);
        elsewhere_note(&calling, &called, &others, &self.shared.cx.namespace)
    }

    /// A command set arrived: a request goes to its handler; C-CANCEL
    /// reaches the request it names (one that is over or unknown is
    /// ignored); a C-STORE-RSP answers the C-GET sub-operation sent; any
    /// other response is ignored; anything else ends the association.
    async fn on_command(&mut self, pc_id: u8, command: DimseCommand) -> Flow {
        self.trace(format_args!("<< {}", command.described()));
        if let DimseCommand::CancelRq(cancel) = &command {
            match &self.outstanding {
                Some(o) if o.message_id == cancel.message_id_being_responded_to => {
                    o.cancel.cancel();
                }
                _ => debug!(
                    message_id = cancel.message_id_being_responded_to,
                    "C-CANCEL for no outstanding request; ignored."
                ),
            }
            return Flow::Continue;
        }
        if let DimseCommand::StoreRsp(rsp) = &command
            && let Some(o) = self.outstanding.as_mut()
            && o.sub_store.as_ref().map(|s| s.message_id) == Some(rsp.message_id_being_responded_to)
            && let Some(sub_store) = o.sub_store.take()
        {
            sub_store.stored.send(rsp.status).ok();
            return Flow::Continue;
        }
        if !command.is_request() && command_name(command.command_field()).is_some() {
            // A response to no request of ours. Its data set,
            // if any, is dropped as it arrives; the association goes on.
            warn!(
                command = %command.describe(),
                "A DIMSE response to no request of ours; ignored."
            );
            return Flow::Continue;
        }
        if !command.is_request()
            || command_name(command.command_field()).is_none()
            || command.message_id().is_none()
        {
            warn!(
                command = %command.describe(),
                "A DIMSE command that is not a request we can answer; sending A-ABORT."
            );
            self.abort_with(AbortRQServiceProviderReason::UnexpectedPduParameter)
                .await;
            return Flow::Done;
        }
        let has_data_set = command.has_data_set();
        let handler = handlers::for_request(command.command_field());
        let Some(start) = self
            .with_request(pc_id, |request| handler.start(request, command))
            .await
        else {
            return Flow::Done;
        };
        match start {
            Start::Reply(reply) => self.respond(pc_id, reply).await,
            Start::Receive(receive) if has_data_set => {
                self.in_progress = Some((pc_id, receive));
                self.data_set_deadline =
                    Some(tokio::time::Instant::now() + self.shared.config.data_set_timeout);
                Flow::Continue
            }
            // A handler that expects a data set the command does not have.
            Start::Receive(receive) => self.finish(pc_id, receive).await,
        }
    }

    /// Runs `f` with the request context of presentation context `pc_id`
    /// (accepted: the reassembler only passes on PDVs of accepted ones).
    async fn with_request<T>(
        &self,
        pc_id: u8,
        f: impl for<'r> FnOnce(&'r Request<'r>) -> handlers::HandlerFuture<'r, T>,
    ) -> Option<T> {
        let accepted = self.accepted.as_ref()?;
        let context = accepted.accepted_context(pc_id)?;
        let request = Request {
            service: &self.shared.cx,
            association: accepted,
            context,
            peer: self.peer,
            max_object_size: self.shared.config.max_object_size,
            cut_through_above: self.shared.config.cut_through_above,
        };
        Some(f(&request).await)
    }

    async fn on_data(&mut self, bytes: &[u8], is_last: bool) -> Flow {
        // The reassembler only yields data after a command with a data set.
        let Some((_, receive)) = self.in_progress.as_mut() else {
            return Flow::Continue;
        };
        receive.data(bytes);
        if !is_last {
            return Flow::Continue;
        }
        match self.in_progress.take() {
            Some((pc_id, receive)) => self.finish(pc_id, receive).await,
            None => Flow::Continue,
        }
    }

    /// The data set is complete: the handler answers.
    async fn finish(&mut self, pc_id: u8, receive: Box<dyn Receive>) -> Flow {
        match self
            .with_request(pc_id, |request| receive.finish(request))
            .await
        {
            Some(reply) => self.respond(pc_id, reply).await,
            None => Flow::Done,
        }
    }

    async fn respond(&mut self, pc_id: u8, reply: Reply) -> Flow {
        let reply = match reply {
            Reply::Stream { answers, cancel } => {
                if self.outstanding.is_none() {
                    let message_id = answers.message_id();
                    self.outstanding = Some(Outstanding::new(pc_id, message_id, answers, cancel));
                    return Flow::Continue;
                }
                cancel.cancel();
                Reply::Command(answers.busy())
            }
            other => other,
        };
        match &reply {
            Reply::Command(response) => {
                let encoded = response.to_bytes();
                self.send_command_set(pc_id, encoded, response.described(), "response")
                    .await
            }
            Reply::Failure { request, status } => {
                let described = format!(
                    "{}, status {status}",
                    command_name(request.command_field | 0x8000).unwrap_or("response")
                );
                let encoded = encode_failure_response(request, *status);
                self.send_command_set(pc_id, encoded, described, "response")
                    .await
            }
            Reply::Stream { .. } => Flow::Continue,
        }
    }

    /// Sends a command set of ours (`what`: a response, or a C-GET's
    /// C-STORE sub-operation), traced as `described`; one that could not be
    /// encoded aborts the association.
    async fn send_command_set(
        &mut self,
        pc_id: u8,
        encoded: Result<Vec<u8>, CommandError>,
        described: impl std::fmt::Display,
        what: &str,
    ) -> Flow {
        let bytes = match encoded {
            Ok(bytes) => bytes,
            Err(error) => {
                warn!(%error, "Could not encode a {what}; sending A-ABORT.");
                self.abort_with(AbortRQServiceProviderReason::ReasonNotSpecified)
                    .await;
                return Flow::Done;
            }
        };
        self.trace(format_args!(">> {described}"));
        match send_command(&mut self.stream, pc_id, &bytes).await {
            Ok(()) => Flow::Continue,
            Err(error) => {
                warn!(%error, "Could not send a {what}; closing.");
                Flow::Done
            }
        }
    }

    /// Relays one answer of the outstanding request.
    async fn on_answer(&mut self, answer: Answer) -> Flow {
        match answer {
            Answer::Find(answer) => self.on_find_answer(answer).await,
            Answer::Retrieve(answer) => self.on_retrieve_answer(answer).await,
            Answer::Instance(instance) => self.on_instance(instance).await,
        }
    }

    /// Sends one C-GET instance to the requester as a C-STORE sub-operation
    /// on a context it took the SCP role for; its C-STORE-RSP comes back in
    /// [`Self::on_command`]. One it has no context for is refused (0122H).
    async fn on_instance(&mut self, instance: Option<GetInstance>) -> Flow {
        let Some(outstanding) = self.outstanding.as_mut() else {
            return Flow::Continue;
        };
        let Some(instance) = instance else {
            if let Answers::Retrieve { instances, .. } = &mut outstanding.answers {
                *instances = None;
            }
            return Flow::Continue;
        };
        let pc_id = self.accepted.as_ref().and_then(|a| {
            a.requestor_scp_context(&instance.sop_class_uid, &instance.transfer_syntax)
        });
        let Some(pc_id) = pc_id else {
            warn!(
                sop_class = %crate::dimse::uids::uid_name_or_uid(&instance.sop_class_uid),
                transfer_syntax = %crate::dimse::uids::uid_name_or_uid(&instance.transfer_syntax),
                "A C-GET instance the requester took no SCP role or context for; counted failed."
            );
            instance.stored.send(Status::SOP_CLASS_NOT_SUPPORTED).ok();
            return Flow::Continue;
        };
        let message_id = self.next_message_id;
        self.next_message_id = message_id.wrapping_add(1).max(1);
        let rq = DimseCommand::StoreRq(CStoreRq {
            message_id,
            affected_sop_class_uid: instance.sop_class_uid,
            affected_sop_instance_uid: instance.sop_instance_uid,
            priority: crate::dimse::Priority::Medium,
            move_originator_ae_title: None,
            move_originator_message_id: None,
        });
        outstanding.sub_store = Some(SubStore {
            message_id,
            stored: instance.stored,
        });
        let what = "C-GET sub-operation";
        let flow = self
            .send_command_set(pc_id, rq.to_bytes(), rq.described(), what)
            .await;
        self.send_data_set(flow, pc_id, Some(instance.data_set))
            .await
    }

    /// Relays one answer of the outstanding C-FIND: a match (its
    /// identifier as the data set), or the final status, which ends the
    /// request. A query that stopped without a final status ends with A700H.
    async fn on_find_answer(&mut self, answer: Option<FindAnswer>) -> Flow {
        let Some(outstanding) = self.outstanding.as_mut() else {
            return Flow::Continue;
        };
        let Answers::Find { request, .. } = &outstanding.answers else {
            return Flow::Continue;
        };
        let request = request.clone();
        let pc_id = outstanding.pc_id;
        let (rsp, identifier) = match answer {
            Some(FindAnswer::Match { status, identifier }) => {
                outstanding.relayed += 1;
                (request.response(status), Some(identifier))
            }
            Some(FindAnswer::Done {
                status,
                error_comment,
            }) => {
                let mut rsp = request.response(status);
                rsp.has_identifier = false;
                rsp.error_comment = error_comment;
                (rsp, None)
            }
            None => {
                let mut rsp = request.response(Status::OUT_OF_RESOURCES);
                rsp.error_comment = Some("the query ended without a final status".into());
                (rsp, None)
            }
        };
        if identifier.is_none() {
            // One line per query: who asked what, how it ended (no keys,
            // which may be patient data).
            info!(
                information_model = %crate::dimse::uids::uid_name_or_uid(&request.affected_sop_class_uid),
                matches = outstanding.relayed,
                status = %rsp.status,
                error_comment = rsp.error_comment.as_deref().unwrap_or(""),
                took_ms = outstanding.started.elapsed().as_millis(),
                "Query answered."
            );
            self.outstanding = None;
        }
        let flow = self
            .respond(pc_id, Reply::Command(DimseCommand::FindRsp(rsp)))
            .await;
        self.send_data_set(flow, pc_id, identifier).await
    }

    /// Relays one answer of the outstanding C-MOVE or C-GET: progress, or
    /// the end (with the Failed SOP Instance UID List as its data set). A
    /// retrieve that stopped without an end ends with A702H.
    async fn on_retrieve_answer(&mut self, answer: Option<RetrieveAnswer>) -> Flow {
        let Some(outstanding) = self.outstanding.as_mut() else {
            return Flow::Continue;
        };
        let Answers::Retrieve { response, .. } = &outstanding.answers else {
            return Flow::Continue;
        };
        let mut rsp = response.clone();
        let pc_id = outstanding.pc_id;
        let data_set = match answer {
            Some(RetrieveAnswer::Progress(counts)) => {
                outstanding.relayed += 1;
                rsp.status = Status::PENDING;
                rsp.sub_operations = counts;
                None
            }
            Some(RetrieveAnswer::Done {
                status,
                sub_operations,
                failed_uids,
                error_comment,
            }) => {
                rsp.status = status;
                rsp.sub_operations = sub_operations;
                rsp.error_comment = error_comment;
                failed_uids
            }
            None => {
                rsp.status = Status(0xA702);
                rsp.error_comment = Some("the retrieve ended without a final status".into());
                None
            }
        };
        rsp.has_data_set = data_set.is_some();
        if !rsp.is_pending() {
            // One line per retrieve: who asked what, how it ended.
            let counts = rsp.sub_operations;
            info!(
                information_model = %crate::dimse::uids::uid_name_or_uid(&rsp.affected_sop_class_uid),
                completed = counts.completed.unwrap_or(0),
                failed = counts.failed.unwrap_or(0),
                warning = counts.warning.unwrap_or(0),
                status = %format!("{:04X}H", rsp.status.code()),
                error_comment = rsp.error_comment.as_deref().unwrap_or(""),
                took_ms = outstanding.started.elapsed().as_millis(),
                "{} answered.", rsp.retrieve.name()
            );
            self.outstanding = None;
        }
        let flow = self
            .respond(pc_id, Reply::Command(DimseCommand::RetrieveRsp(rsp)))
            .await;
        self.send_data_set(flow, pc_id, data_set).await
    }

    /// Sends the data set of a response just sent, if it has one.
    async fn send_data_set(&mut self, flow: Flow, pc_id: u8, data_set: Option<Vec<u8>>) -> Flow {
        match (flow, data_set) {
            (Flow::Continue, Some(data_set)) => {
                match send_data(&mut self.stream, pc_id, &data_set).await {
                    Ok(()) => Flow::Continue,
                    Err(error) => {
                        warn!(%error, "Could not send a data set; closing.");
                        Flow::Done
                    }
                }
            }
            (flow, _) => flow,
        }
    }

    /// Drops a request whose data set was still arriving when the
    /// association ended.
    async fn discard_in_progress(&mut self) {
        if let Some((_, receive)) = self.in_progress.take() {
            receive.abandon().await;
        }
    }
}

/// " A → B is defined in namespace X, this service is in namespace Y", or
/// nothing when no other namespace defines the pair.
pub(super) fn elsewhere_note(
    calling: &AeTitle,
    called: &AeTitle,
    others: &[NamespaceId],
    here: &NamespaceId,
) -> String {
    if others.is_empty() {
        return String::new();
    }
    let others: Vec<&str> = others.iter().map(NamespaceId::as_str).collect();
    format!(
        " {calling} → {called} is defined in namespace {}, this service is in namespace {here}",
        others.join(", ")
    )
}

impl Outstanding {
    fn new(pc_id: u8, message_id: u16, answers: Answers, cancel: CancellationToken) -> Self {
        Self {
            pc_id,
            message_id,
            answers,
            cancel,
            started: tokio::time::Instant::now(),
            relayed: 0,
            sub_store: None,
        }
    }
}

/// The next answer of the outstanding request; never, when there is none.
/// A C-GET's next instance is taken once the one sent was answered.
async fn next_answer(outstanding: &mut Option<Outstanding>) -> Answer {
    let Some(Outstanding {
        answers, sub_store, ..
    }) = outstanding.as_mut()
    else {
        return std::future::pending().await;
    };
    match answers {
        Answers::Find { answers, .. } => Answer::Find(answers.recv().await),
        Answers::Retrieve {
            answers,
            instances: Some(instances),
            ..
        } if sub_store.is_none() => tokio::select! {
            answer = answers.recv() => Answer::Retrieve(answer),
            instance = instances.recv() => Answer::Instance(instance),
        },
        Answers::Retrieve { answers, .. } => Answer::Retrieve(answers.recv().await),
    }
}
