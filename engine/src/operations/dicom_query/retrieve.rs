//! A C-MOVE relayed as it is (`move = "as-is"`), and a C-GET: the request
//! goes upstream unchanged. A C-MOVE's upstream stores to the destination
//! directly and must know it; a C-GET's upstream sends each instance back
//! on our association (we propose the requester's storage SOP classes with
//! the SCP role), and each goes on to the requester at once, on its own
//! association: the upstream hears the requester's status, so nothing is
//! acknowledged that the requester has not taken. Each response's counts
//! go to the requester as they come, C-CANCEL goes upstream, and the final
//! response (with its Failed SOP Instance UID List) ends it. An upstream
//! that is down, refuses or goes silent ends the retrieve with C001
//! (unable to process) and the reason, never a hang. The retrieve is in
//! the trace, without instances (none is kept by the engine).

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::relay::{Relay, abandon, in_their_syntax, reencode};
use super::trace::Trace;
use crate::component::Outputs;
use crate::component::query::{RetrieveAnswer, RetrieveAnswers, RetrieveRequest};
use crate::component::retrieves::{Registered, Retrieve};
use crate::dimse::Status;
use crate::dimse::scu::{self, IncomingStore, RetrieveEvent};
use crate::message::time::millis;
use crate::message::{MessageId, SubOperation, UpstreamEnd, now_ms};

/// Starts relaying `request` upstream from a task of its own.
pub(super) fn as_is(
    relay: &Relay,
    request: RetrieveRequest,
    answers: RetrieveAnswers,
    cancel: CancellationToken,
) {
    let trace = Trace::new(relay, &request);
    let id = trace.next_id();
    relayed(relay, request, None, (trace, id), answers, cancel);
}

/// A C-GET asked upstream as a C-MOVE to us (`get = "c-move"`).
struct ByMove {
    /// The C-MOVE asked: the MOVE model of the request's GET model, to
    /// `store_ae_title`.
    asked: RetrieveRequest,
    /// Its C-STOREs, found by their Move Originator, go to the requester.
    registered: Registered,
}

/// Starts a C-GET asked upstream as a C-MOVE to `store_ae_title` (`get =
/// "c-move"`), from a task of its own: the C-STOREs that come back naming
/// us as their Move Originator go on to the requester at once, and the
/// upstream hears the requester's status (see `StoreIngest`), so its
/// counts are the requester's, relayed as they come.
pub(super) fn by_move(
    relay: &Relay,
    request: RetrieveRequest,
    answers: RetrieveAnswers,
    cancel: CancellationToken,
) {
    let trace = Trace::new(relay, &request);
    let id = trace.next_id();
    let by_move = match (id, move_model(&request.sop_class_uid), &request.storage) {
        (Some(id), Some(model), Some(storage)) => {
            let config = &relay.config;
            let store_ae = config
                .store_ae_title
                .as_ref()
                .unwrap_or(&config.local_ae_title);
            let retrieve = Retrieve::new(
                SubOperation {
                    retrieve: id,
                    destination: String::new(),
                    originator_ae_title: request.calling_ae_title.to_string(),
                    originator_message_id: request.message_id,
                },
                Outputs(Vec::new()),
                config.remote_ae_title.as_str(),
            )
            .passing_to(storage.clone());
            let originator = config.local_ae_title.as_str();
            relay
                .retrieves
                .start(&relay.namespace, originator, retrieve)
                .map(|registered| ByMove {
                    asked: RetrieveRequest {
                        sop_class_uid: model.to_string(),
                        move_destination: Some(store_ae.to_string()),
                        storage: None,
                        ..request.clone()
                    },
                    registered,
                })
                .ok_or_else(|| {
                    format!("{originator} has 65,535 moves in progress; try again later")
                })
        }
        (None, _, _) => Err("cannot number the get in the trace".to_string()),
        (_, None, _) => Err(format!(
            "{} has no MOVE information model to ask it as",
            crate::dimse::uids::uid_name_or_uid(&request.sop_class_uid)
        )),
        (_, _, None) => Err("a C-MOVE has no instances to pass on".to_string()),
    };
    match by_move {
        Ok(by_move) => relayed(relay, request, Some(by_move), (trace, id), answers, cancel),
        Err(reason) => {
            answers
                .0
                .try_send(RetrieveAnswer::unable_to_process(reason))
                .ok();
        }
    }
}

/// The MOVE information model of a GET one (PS3.4 C.6).
fn move_model(get_model: &str) -> Option<&'static str> {
    const PAIRS: [(&str, &str); 3] = [
        // Patient Root, Study Root, Patient/Study Only.
        ("1.2.840.10008.5.1.4.1.2.1.3", "1.2.840.10008.5.1.4.1.2.1.2"),
        ("1.2.840.10008.5.1.4.1.2.2.3", "1.2.840.10008.5.1.4.1.2.2.2"),
        ("1.2.840.10008.5.1.4.1.2.3.3", "1.2.840.10008.5.1.4.1.2.3.2"),
    ];
    PAIRS
        .iter()
        .find(|(get, _)| *get == get_model)
        .map(|(_, move_)| *move_)
}

/// Relays `request` upstream (as `by_move` asks it, if so) from a task of
/// its own, and records it in the trace.
fn relayed(
    relay: &Relay,
    request: RetrieveRequest,
    by_move: Option<ByMove>,
    (trace, id): (Trace, Option<MessageId>),
    answers: RetrieveAnswers,
    cancel: CancellationToken,
) {
    let config = relay.config.clone();
    let asked = by_move.as_ref().map_or(&request, |b| &b.asked);
    let setup = relay.retrieve_options(asked);
    let (started, received_at) = (Instant::now(), now_ms());
    tokio::spawn(async move {
        let upstream = config.remote_ae_title.to_string();
        let asked = by_move.as_ref().map_or(&request, |b| &b.asked);
        let message_id = by_move.as_ref().map(|b| b.registered.message_id());
        let done = match setup {
            Ok((address, options)) => {
                let name = format!("{upstream}@{address}");
                match scu::connect(&address, &options).await {
                    Ok(mut assoc) => {
                        if let Some(message_id) = message_id {
                            assoc.set_next_message_id(message_id);
                        }
                        relay_move(&name, assoc, &config, asked, &answers, &cancel).await
                    }
                    Err(e) => Err(format!("{name}: {e}")),
                }
            }
            Err(reason) => Err(reason),
        };
        // The move to us is over: C-STOREs that still come are refused.
        drop(by_move);
        let mut upstream_end = UpstreamEnd {
            target: trace.target().clone(),
            status: None,
            error_comment: None,
            duration_ms: millis(started.elapsed()),
        };
        let answer = match done {
            Ok(Some(answer)) => {
                if let RetrieveAnswer::Done {
                    status,
                    error_comment,
                    ..
                } = &answer
                {
                    upstream_end.status = Some(status.code());
                    upstream_end.error_comment.clone_from(error_comment);
                }
                answer
            }
            Ok(None) => return,
            Err(reason) => {
                warn!(%upstream, %reason, "A {} could not be relayed.", request.kind().name());
                upstream_end.error_comment = Some(reason.clone());
                RetrieveAnswer::unable_to_process(reason)
            }
        };
        // No instance passes through the engine: the move has none.
        if let Some(id) = id {
            let moved = (&request, &answer);
            trace
                .record(id, received_at, started, moved, Vec::new(), upstream_end)
                .await;
        }
        answers.send(answer).await.ok();
    });
}

/// Relays one C-MOVE or C-GET on `assoc`: `Ok(Some(final answer))`,
/// `Ok(None)` when the requester went away (the retrieve is cancelled
/// upstream), `Err(reason)` when the upstream failed.
async fn relay_move(
    upstream: &str,
    mut assoc: super::pool::Upstream,
    config: &super::DicomQueryConfig,
    request: &RetrieveRequest,
    answers: &RetrieveAnswers,
    cancel: &CancellationToken,
) -> Result<Option<RetrieveAnswer>, String> {
    let deadline = Instant::now() + config.total_timeout.get();
    let requester = request.transfer_syntax.as_str();
    let sop = request.sop_class_uid.as_str();
    let (theirs, identifier) =
        in_their_syntax(upstream, &assoc, sop, requester, &request.identifier)?;
    let id = assoc
        .retrieve(
            sop,
            &theirs,
            request.priority,
            request.move_destination.as_deref(),
            &identifier,
        )
        .await
        .map_err(|e| format!("{upstream}: {e}"))?;
    let mut cancelled = false;
    loop {
        let idle = Instant::now() + config.idle_timeout.get();
        let response = tokio::select! {
            () = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                debug!(%upstream, "C-CANCEL forwarded upstream.");
                assoc.cancel(sop, id).await.map_err(|e| format!("{upstream}: {e}"))?;
                continue;
            }
            () = tokio::time::sleep_until(idle.min(deadline)) => {
                assoc.abort().await;
                return Err(if idle < deadline {
                    config.idle_reason(upstream)
                } else {
                    config.total_reason(upstream)
                });
            }
            event = assoc.retrieve_event(id) => {
                match event.map_err(|e| format!("{upstream}: {e}"))? {
                    RetrieveEvent::Response(response) => response,
                    RetrieveEvent::Store(store) => {
                        if !pass_on(upstream, &mut assoc, request, store).await? {
                            abandon(assoc, sop, id).await;
                            return Ok(None);
                        }
                        continue;
                    }
                }
            }
        };
        let rsp = response.rsp;
        if rsp.is_pending() {
            let progress = RetrieveAnswer::Progress(rsp.sub_operations);
            if answers.send(progress).await.is_err() {
                abandon(assoc, sop, id).await;
                return Ok(None);
            }
            continue;
        }
        let failed_uids = match response.data_set {
            Some(list) if theirs != requester => {
                Some(reencode(upstream, &list, &theirs, requester)?)
            }
            other => other,
        };
        // Released without making the requester wait for it.
        tokio::spawn(async move {
            assoc.release().await.ok();
        });
        return Ok(Some(RetrieveAnswer::Done {
            status: rsp.status,
            sub_operations: rsp.sub_operations,
            failed_uids,
            error_comment: rsp.error_comment,
        }));
    }
}

/// Passes an instance the upstream sent to the requester of the C-GET and
/// answers the upstream with the requester's status: `Ok(false)` when the
/// requester is gone (the upstream then hears a failure).
async fn pass_on(
    upstream: &str,
    assoc: &mut super::pool::Upstream,
    request: &RetrieveRequest,
    mut store: IncomingStore,
) -> Result<bool, String> {
    let data_set = std::mem::take(&mut store.data_set);
    let status = match &request.storage {
        Some(storage) => storage
            .store(
                store.rq.affected_sop_class_uid.clone(),
                store.rq.affected_sop_instance_uid.clone(),
                store.transfer_syntax.clone(),
                data_set,
            )
            .await
            .ok(),
        None => {
            warn!(%upstream, "A C-STORE came back on the association of a C-MOVE; refused.");
            Some(Status::SOP_CLASS_NOT_SUPPORTED)
        }
    };
    assoc
        .answer_store(&store, status.unwrap_or(Status::OUT_OF_RESOURCES))
        .await
        .map_err(|e| format!("{upstream}: {e}"))?;
    Ok(status.is_some())
}
