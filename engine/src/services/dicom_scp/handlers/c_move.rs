//! C-MOVE (PS3.4 Annex C.4.2): the identifier is read, then handed to the
//! service's [`Query`](super::super::hooks::Query) route, whose progress
//! the association relays as it comes (pending responses with counts, then
//! the final one) while it goes on reading, so that a C-CANCEL reaches the
//! retrieve.

use tokio_util::sync::CancellationToken;

use super::identifier::Identifier;
use super::{Answers, Handler, HandlerFuture, Receive, Reply, Request, Start, unsupported};
use crate::dimse::commands::{CMoveRq, DimseCommand, SubOperations};
use crate::dimse::status::Status;
use crate::services::dicom_scp::hooks::{RetrieveAnswers, RetrieveRequest};

/// Answers queued between the retrieve and the requester.
const ANSWERS_IN_FLIGHT: usize = 16;

/// The handler of C-MOVE-RQ.
pub(super) struct CMove;

impl Handler for CMove {
    fn start<'a>(
        &'a self,
        request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start> {
        let DimseCommand::MoveRq(rq) = command else {
            return Box::pin(std::future::ready(Start::Reply(unsupported::failure(
                command,
            ))));
        };
        if request.service.query.is_none() {
            return unsupported::Unsupported.start(request, DimseCommand::MoveRq(rq));
        }
        Box::pin(std::future::ready(Start::Receive(Box::new(Move {
            rq,
            identifier: Identifier::default(),
        }))))
    }
}

/// A C-MOVE whose identifier arrives.
struct Move {
    rq: CMoveRq,
    identifier: Identifier,
}

impl Receive for Move {
    fn data(&mut self, bytes: &[u8]) {
        self.identifier.push(bytes);
    }

    fn finish<'a>(self: Box<Self>, request: &'a Request<'a>) -> HandlerFuture<'a, Reply> {
        let Move { rq, identifier } = *self;
        let reply = match (&request.service.query, identifier.take()) {
            (_, Err(too_large)) => {
                let mut rsp = rq.response(Status(0xA701), SubOperations::default());
                rsp.error_comment = Some(too_large);
                Reply::Command(DimseCommand::RetrieveRsp(rsp))
            }
            (None, _) => unsupported::failure(DimseCommand::MoveRq(rq)),
            (Some(query), Ok(bytes)) => {
                let (tx, answers) = tokio::sync::mpsc::channel(ANSWERS_IN_FLIGHT);
                let cancel = CancellationToken::new();
                let association = request.association;
                query.retrieve(
                    RetrieveRequest {
                        message_id: rq.message_id,
                        sop_class_uid: rq.affected_sop_class_uid.clone(),
                        priority: rq.priority,
                        move_destination: Some(rq.move_destination.clone()),
                        identifier: bytes,
                        transfer_syntax: request.transfer_syntax().to_string(),
                        calling_ae_title: association.calling_ae_title.clone(),
                        called_ae_title: association.called_ae_title.clone(),
                        peer: request.peer,
                        namespace: request.service.namespace.clone(),
                        service: request.service.name.clone(),
                    },
                    RetrieveAnswers(tx),
                    cancel.clone(),
                );
                Reply::Stream {
                    answers: Answers::Retrieve {
                        response: rq.response(Status::PENDING, SubOperations::default()),
                        answers,
                    },
                    cancel,
                }
            }
        };
        Box::pin(std::future::ready(reply))
    }

    fn abandon(self: Box<Self>) -> HandlerFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}
