//! C-FIND (PS3.4 Annex C, K): the identifier is read, then handed to the
//! service's [`Query`](super::super::hooks::Query), whose answers the
//! association relays as they come (pending matches, then the final
//! status) while it goes on reading, so that a C-CANCEL reaches the query.

use tokio_util::sync::CancellationToken;

use super::{Handler, HandlerFuture, Receive, Reply, Request, Start, unsupported};
use crate::dimse::commands::{CFindRq, DimseCommand};
use crate::dimse::status::Status;
use crate::services::dicom_scp::hooks::{FindAnswers, FindRequest};

/// The largest identifier taken: query keys are a few hundred bytes; this
/// bounds what a peer can make the service hold.
const MAX_IDENTIFIER: usize = 1 << 20;

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
        Box::pin(std::future::ready(Start::Receive(Box::new(Identifier {
            rq,
            bytes: Vec::new(),
            too_large: false,
        }))))
    }
}

/// The identifier as it arrives.
struct Identifier {
    rq: CFindRq,
    bytes: Vec<u8>,
    too_large: bool,
}

impl Receive for Identifier {
    fn data(&mut self, bytes: &[u8]) {
        if self.bytes.len() + bytes.len() > MAX_IDENTIFIER {
            self.too_large = true;
            self.bytes = Vec::new();
        }
        if !self.too_large {
            self.bytes.extend_from_slice(bytes);
        }
    }

    fn finish<'a>(self: Box<Self>, request: &'a Request<'a>) -> HandlerFuture<'a, Reply> {
        let Identifier {
            rq,
            bytes,
            too_large,
        } = *self;
        let reply = match &request.service.query {
            _ if too_large => {
                let mut rsp = rq.response(Status::OUT_OF_RESOURCES);
                rsp.error_comment = Some(format!(
                    "the identifier is larger than {} KiB",
                    MAX_IDENTIFIER >> 10
                ));
                Reply::Command(DimseCommand::FindRsp(rsp))
            }
            None => unsupported::failure(DimseCommand::FindRq(rq)),
            Some(query) => {
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
                Reply::Find {
                    request: rq,
                    answers,
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
