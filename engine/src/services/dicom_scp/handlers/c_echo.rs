//! C-ECHO (PS3.7 §9.1.5): answered on the Verification presentation
//! context with 0000H, elsewhere with 0122H (SOP class not supported).

use super::{Handler, HandlerFuture, Reply, Request, Start};
use crate::dimse::commands::DimseCommand;
use crate::dimse::status::Status;
use crate::dimse::uids::VERIFICATION;

/// The C-ECHO service.
pub(super) struct CEcho;

impl Handler for CEcho {
    fn start<'a>(
        &'a self,
        request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start> {
        let reply = match command {
            DimseCommand::EchoRq(rq) => {
                let status = if request.abstract_syntax() == VERIFICATION
                    && rq.affected_sop_class_uid == VERIFICATION
                {
                    Status::SUCCESS
                } else {
                    Status::SOP_CLASS_NOT_SUPPORTED
                };
                Reply::Command(DimseCommand::EchoRsp(rq.response(status)))
            }
            other => super::unsupported::failure(other),
        };
        Box::pin(std::future::ready(Start::Reply(reply)))
    }
}
