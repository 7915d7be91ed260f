//! One handler per DIMSE service this SCP offers, looked up by the command
//! field of the request in [`HANDLERS`]; a request no handler takes is
//! answered by [`unsupported`] (0211H, unrecognized operation). A new
//! service (C-FIND, N-ACTION, …) is a new file here and one entry in the
//! table.
//!
//! The association (`association.rs`) decodes the command set, checks that
//! it is a request on an accepted presentation context, and hands it to the
//! handler's [`Handler::start`]. The handler answers at once, or, when a
//! data set follows, returns a [`Receive`] that gets the data set's
//! fragments as they arrive and then gives the answer: one response, or a
//! stream of them ([`Reply::Stream`]).

mod c_echo;
mod c_find;
mod c_get;
mod c_move;
mod c_store;
mod identifier;
mod retrieve;
mod unsupported;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use crate::association::negotiation::{Accepted, ContextResult};
use crate::dimse::commands::{CFindRq, DimseCommand, OtherCommand, RetrieveRsp, command_field};
use crate::dimse::status::Status;

use super::hooks::{FindAnswer, GetInstance, RetrieveAnswer, ScpContext};

/// The DIMSE services this SCP answers, by the command field of their
/// request.
static HANDLERS: &[(u16, &dyn Handler)] = &[
    (command_field::C_ECHO_RQ, &c_echo::CEcho),
    (command_field::C_STORE_RQ, &c_store::CStore),
    (command_field::C_FIND_RQ, &c_find::CFind),
    (command_field::C_MOVE_RQ, &c_move::CMove),
    (command_field::C_GET_RQ, &c_get::CGet),
];

/// The handler of a request's command field.
pub(super) fn for_request(field: u16) -> &'static dyn Handler {
    HANDLERS
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(&unsupported::Unsupported, |(_, h)| *h)
}

/// What a handler knows of the request it answers.
pub(super) struct Request<'a> {
    /// The service the association came in on.
    pub service: &'a ScpContext,
    /// The negotiated association.
    pub association: &'a Accepted,
    /// The accepted presentation context the request came on.
    pub context: &'a ContextResult,
    pub peer: SocketAddr,
    /// The service's `max_object_size`.
    pub max_object_size: Option<u64>,
    /// The service's `cut_through_above`.
    pub cut_through_above: u64,
}

impl Request<'_> {
    /// The abstract syntax of the request's presentation context.
    pub fn abstract_syntax(&self) -> &str {
        &self.context.abstract_syntax
    }

    /// The transfer syntax accepted on the request's presentation context.
    pub fn transfer_syntax(&self) -> &str {
        self.context.transfer_syntax.as_deref().unwrap_or_default()
    }
}

/// The answer to a request.
#[derive(Debug)]
pub(super) enum Reply {
    /// A modelled response (C-ECHO-RSP, C-STORE-RSP, …).
    Command(DimseCommand),
    /// The failure response to a request this service does not model.
    Failure {
        request: OtherCommand,
        status: Status,
    },
    /// A request answered by a stream of responses (C-FIND, C-MOVE, C-GET): the
    /// association relays the answers as they come and fires `cancel` on
    /// C-CANCEL or when it ends.
    Stream {
        answers: Answers,
        cancel: tokio_util::sync::CancellationToken,
    },
}

/// The answers of a request answered by a stream, with what makes its
/// responses.
#[derive(Debug)]
pub(super) enum Answers {
    Find {
        request: CFindRq,
        answers: tokio::sync::mpsc::Receiver<FindAnswer>,
    },
    Retrieve {
        /// Its response, to which each answer gives a status and counts.
        response: RetrieveRsp,
        answers: tokio::sync::mpsc::Receiver<RetrieveAnswer>,
        /// C-GET: the instances to send to the requester.
        instances: Option<tokio::sync::mpsc::Receiver<GetInstance>>,
    },
}

impl Answers {
    /// The Message ID of the request, which a C-CANCEL names.
    pub fn message_id(&self) -> u16 {
        match self {
            Answers::Find { request, .. } => request.message_id,
            Answers::Retrieve { response, .. } => response.message_id_being_responded_to,
        }
    }

    /// The refusal of a request that came while another was answered: no
    /// asynchronous operations were negotiated.
    pub fn busy(self) -> DimseCommand {
        const BUSY: &str = "another request is outstanding on this association";
        match self {
            Answers::Find { request, .. } => {
                let mut rsp = request.response(Status::OUT_OF_RESOURCES);
                rsp.error_comment = Some(BUSY.into());
                DimseCommand::FindRsp(rsp)
            }
            Answers::Retrieve { mut response, .. } => {
                response.status = Status(0xA702);
                response.error_comment = Some(BUSY.into());
                DimseCommand::RetrieveRsp(response)
            }
        }
    }
}

/// What a handler does with a request.
pub(super) enum Start {
    /// Answer now.
    Reply(Reply),
    /// A data set follows: its fragments go to this, which then answers.
    Receive(Box<dyn Receive>),
}

/// A future a handler returns.
pub(super) type HandlerFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One DIMSE service.
pub(super) trait Handler: Sync {
    /// A request arrived (`command`, on `request.context`).
    fn start<'a>(
        &'a self,
        request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start>;
}

/// Takes the data set of a request as it arrives.
pub(super) trait Receive: Send + Sync {
    /// One fragment, in order.
    fn data(&mut self, bytes: &[u8]);

    /// The last fragment came: answer.
    fn finish<'a>(self: Box<Self>, request: &'a Request<'a>) -> HandlerFuture<'a, Reply>;

    /// The association ended before the last fragment: drop what was
    /// received.
    fn abandon(self: Box<Self>) -> HandlerFuture<'static, ()>;
}
