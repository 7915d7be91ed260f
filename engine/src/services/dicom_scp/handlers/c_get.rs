//! C-GET (PS3.4 Annex C.4.3): the instances come back to the requester as
//! C-STORE sub-operations on its own association, for the storage SOP
//! classes it took the SCP role for (see `retrieve.rs`).

use super::retrieve::{self, Requested};
use super::{Handler, HandlerFuture, Request, Start, unsupported};
use crate::dimse::commands::DimseCommand;

/// The handler of C-GET-RQ.
pub(super) struct CGet;

impl Handler for CGet {
    fn start<'a>(
        &'a self,
        request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start> {
        match command {
            DimseCommand::GetRq(rq) => retrieve::start(request, Requested::Get(rq)),
            other => Box::pin(std::future::ready(Start::Reply(unsupported::failure(
                other,
            )))),
        }
    }
}
