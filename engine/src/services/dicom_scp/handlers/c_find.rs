//! C-FIND (PS3.4 Annex C, K): the identifier is read, then handed to the
//! service's [`Query`](super::super::hooks::Query), whose answers the
//! association relays as they come (pending matches, then the final
//! status) while it goes on reading, so that a C-CANCEL reaches the query.

use tokio_util::sync::CancellationToken;

use super::identifier::Identifier;
use super::{Answers, Handler, HandlerFuture, Receive, Reply, Request, Start, unsupported};
use crate::dimse::commands::{CFindRq, DimseCommand};
use crate::dimse::status::Status;
use crate::services::dicom_scp::hooks::{FindAnswers, FindRequest};

/// Answers queued between the query and the requester: the query waits
/// when they are full, so memory stays flat in the number of matches.
const ANSWERS_IN_FLIGHT: usize = 16;

/// The handler of C-FIND-RQ.
pub(super) struct CFind;

impl Handler for CFind {
    fn start<'a>(
        &'a self,
        request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start> {
        let DimseCommand::FindRq(rq) = command else {
            return Box::pin(std::future::ready(Start::Reply(unsupported::failure(
                command,
            ))));
        };
        if request.service.query.is_none() {
            return unsupported::Unsupported.start(request, DimseCommand::FindRq(rq));
        }
        Box::pin(std::future::ready(Start::Receive(Box::new(Find {
            rq,
            identifier: Identifier::default(),
        }))))
    }
}

/// A C-FIND whose identifier arrives.
struct Find {
    rq: CFindRq,
    identifier: Identifier,
}

impl Receive for Find {
    fn data(&mut self, bytes: &[u8]) {
        self.identifier.push(bytes);
    }

    fn finish<'a>(self: Box<Self>, request: &'a Request<'a>) -> HandlerFuture<'a, Reply> {
        let Find { rq, identifier } = *self;
        let reply = match (&request.service.query, identifier.take()) {
            (_, Err(too_large)) => {
                let mut rsp = rq.response(Status::OUT_OF_RESOURCES);
                rsp.error_comment = Some(too_large);
                Reply::Command(DimseCommand::FindRsp(rsp))
            }
            (None, _) => unsupported::failure(DimseCommand::FindRq(rq)),
            (Some(query), Ok(bytes)) => {
                let (tx, answers) = tokio::sync::mpsc::channel(ANSWERS_IN_FLIGHT);
                let cancel = CancellationToken::new();
                let association = request.association;
                query.find(
                    FindRequest {
                        message_id: rq.message_id,
                        sop_class_uid: rq.affected_sop_class_uid.clone(),
                        priority: rq.priority,
                        identifier: bytes,
                        transfer_syntax: request.transfer_syntax().to_string(),
                        calling_ae_title: association.calling_ae_title.clone(),
                        called_ae_title: association.called_ae_title.clone(),
                        peer: request.peer,
                        namespace: request.service.namespace.clone(),
                        service: request.service.name.clone(),
                        trace_id: None,
                    },
                    FindAnswers(tx),
                    cancel.clone(),
                );
                Reply::Stream {
                    answers: Answers::Find {
                        request: rq,
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
