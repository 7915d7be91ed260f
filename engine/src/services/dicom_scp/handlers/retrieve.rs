//! What C-MOVE and C-GET share (PS3.4 Annex C.4.2, C.4.3): the identifier
//! is read, then handed to the service's
//! [`Query`](super::super::hooks::Query) route, whose progress the
//! association relays as it comes (pending responses with counts, then the
//! final one) while it goes on reading, so that a C-CANCEL reaches the
//! retrieve. A C-GET's instances come back to the association too, which
//! sends them to the requester as C-STORE sub-operations.

use tokio_util::sync::CancellationToken;

use super::identifier::Identifier;
use super::{Answers, Handler, HandlerFuture, Receive, Reply, Request, Start, unsupported};
use crate::dimse::commands::{CGetRq, CMoveRq, DimseCommand, RetrieveRsp, SubOperations};
use crate::dimse::status::Status;
use crate::services::dicom_scp::hooks::{GetStorage, RetrieveAnswers, RetrieveRequest};

/// Answers queued between the retrieve and the requester.
const ANSWERS_IN_FLIGHT: usize = 16;

/// A C-MOVE-RQ or a C-GET-RQ.
pub(super) enum Requested {
    Move(CMoveRq),
    Get(CGetRq),
}

impl Requested {
    fn into_command(self) -> DimseCommand {
        match self {
            Requested::Move(rq) => DimseCommand::MoveRq(rq),
            Requested::Get(rq) => DimseCommand::GetRq(rq),
        }
    }

    fn response(&self, status: Status) -> RetrieveRsp {
        match self {
            Requested::Move(rq) => rq.response(status, SubOperations::default()),
            Requested::Get(rq) => rq.response(status, SubOperations::default()),
        }
    }
}

/// Starts a retrieve: its identifier follows; a service without a query
/// route does not offer it.
pub(super) fn start<'a>(
    request: &'a Request<'a>,
    requested: Requested,
) -> HandlerFuture<'a, Start> {
    if request.service.query.is_none() {
        return unsupported::Unsupported.start(request, requested.into_command());
    }
    Box::pin(std::future::ready(Start::Receive(Box::new(Retrieving {
        requested,
        identifier: Identifier::default(),
    }))))
}

/// A retrieve whose identifier arrives.
struct Retrieving {
    requested: Requested,
    identifier: Identifier,
}

impl Receive for Retrieving {
    fn data(&mut self, bytes: &[u8]) {
        self.identifier.push(bytes);
    }

    fn finish<'a>(self: Box<Self>, request: &'a Request<'a>) -> HandlerFuture<'a, Reply> {
        let Retrieving {
            requested,
            identifier,
        } = *self;
        let refuse = |status, why: String| {
            let mut rsp = requested.response(status);
            rsp.error_comment = Some(why);
            Reply::Command(DimseCommand::RetrieveRsp(rsp))
        };
        let bytes = match identifier.take() {
            Ok(bytes) => bytes,
            Err(too_large) => {
                return Box::pin(std::future::ready(refuse(Status(0xA701), too_large)));
            }
        };
        let Some(query) = &request.service.query else {
            return Box::pin(std::future::ready(unsupported::failure(
                requested.into_command(),
            )));
        };
        let association = request.association;
        let (storage, instances) = match &requested {
            Requested::Move(_) => (None, None),
            Requested::Get(_) => {
                let contexts = association.requestor_scp_contexts();
                if contexts.is_empty() {
                    let why = "the requester took the SCP role for no storage SOP class, so no instance could come back; propose them with SCP/SCU role selection".to_string();
                    return Box::pin(std::future::ready(refuse(Status(0xA702), why)));
                }
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                let storage = GetStorage {
                    contexts,
                    instances: tx,
                };
                (Some(storage), Some(rx))
            }
        };
        let (tx, answers) = tokio::sync::mpsc::channel(ANSWERS_IN_FLIGHT);
        let cancel = CancellationToken::new();
        let (message_id, sop_class_uid, priority, move_destination) = match &requested {
            Requested::Move(rq) => (
                rq.message_id,
                &rq.affected_sop_class_uid,
                rq.priority,
                Some(rq.move_destination.clone()),
            ),
            Requested::Get(rq) => (rq.message_id, &rq.affected_sop_class_uid, rq.priority, None),
        };
        query.retrieve(
            RetrieveRequest {
                message_id,
                sop_class_uid: sop_class_uid.clone(),
                priority,
                move_destination,
                identifier: bytes,
                transfer_syntax: request.transfer_syntax().to_string(),
                calling_ae_title: association.calling_ae_title.clone(),
                called_ae_title: association.called_ae_title.clone(),
                peer: request.peer,
                namespace: request.service.namespace.clone(),
                service: request.service.name.clone(),
                storage,
            },
            RetrieveAnswers(tx),
            cancel.clone(),
        );
        Box::pin(std::future::ready(Reply::Stream {
            answers: Answers::Retrieve {
                response: requested.response(Status::PENDING),
                answers,
                instances,
            },
            cancel,
        }))
    }

    fn abandon(self: Box<Self>) -> HandlerFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}
