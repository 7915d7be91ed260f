//! C-MOVE (PS3.4 Annex C.4.2): the instances go to the Move Destination;
//! the requester hears progress (see `retrieve.rs`).

use super::retrieve::{self, Requested};
use super::{Handler, HandlerFuture, Request, Start, unsupported};
use crate::dimse::commands::DimseCommand;

/// The handler of C-MOVE-RQ.
pub(super) struct CMove;

impl Handler for CMove {
    fn start<'a>(
        &'a self,
        request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start> {
        match command {
            DimseCommand::MoveRq(rq) => retrieve::start(request, Requested::Move(rq)),
            other => Box::pin(std::future::ready(Start::Reply(unsupported::failure(
                other,
            )))),
        }
    }
}
