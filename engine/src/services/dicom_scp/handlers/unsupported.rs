//! Requests this SCP does not offer (C-FIND, C-MOVE, N-ACTION, … for now):
//! answered with 0211H (unrecognized operation) after any data set they
//! carry has been read and dropped, so the association goes on.

use tracing::warn;

use super::{Handler, HandlerFuture, Receive, Reply, Request, Start};
use crate::dimse::commands::{DimseCommand, OtherCommand, command_name};
use crate::dimse::status::Status;

/// The handler of every request no other handler takes.
pub(super) struct Unsupported;

impl Handler for Unsupported {
    fn start<'a>(
        &'a self,
        _request: &'a Request<'a>,
        command: DimseCommand,
    ) -> HandlerFuture<'a, Start> {
        let request = command.to_other();
        warn!(
            command = command_name(request.command_field).unwrap_or("unknown"),
            "This service does not offer that operation; answering with a failure status."
        );
        let start = if request.has_data_set {
            Start::Receive(Box::new(Discard { request }))
        } else {
            Start::Reply(reply(request))
        };
        Box::pin(std::future::ready(start))
    }
}

/// The failure answer to a request of any kind.
pub(super) fn failure(command: DimseCommand) -> Reply {
    reply(command.to_other())
}

fn reply(request: OtherCommand) -> Reply {
    Reply::Failure {
        request,
        status: Status::UNRECOGNIZED_OPERATION,
    }
}

/// Reads a data set nobody wants, then answers.
struct Discard {
    request: OtherCommand,
}

impl Receive for Discard {
    fn data(&mut self, _bytes: &[u8]) {}

    fn finish<'a>(self: Box<Self>, _request: &'a Request<'a>) -> HandlerFuture<'a, Reply> {
        Box::pin(std::future::ready(reply(self.request)))
    }

    fn abandon(self: Box<Self>) -> HandlerFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}
