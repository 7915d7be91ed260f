//! A C-MOVE through the engine (`move = "through-engine"`, the default).
//! The destination was found in the AE directory (else A801, in `relay`).
//! The move is registered (`component::retrieves`) under a Message ID of
//! its own, and the upstream is asked to move to our `store_ae_title`
//! under it. The C-STOREs that come back naming it as their Move Originator
//! are taken in durably by the service that receives them, acknowledged to
//! the upstream, and queued for this operation, whose lanes deliver each
//! to the destination (retried like any delivery). The requester hears
//! pending responses as instances arrive and are delivered, and the final
//! response once the upstream has finished and every instance it sent has
//! reached the destination or failed for good, or when `total_timeout`
//! ends the wait: instances still queued are then counted failed in the
//! answer, and are still delivered when the destination answers.
//!
//! C-CANCEL goes upstream; what was acknowledged is delivered anyway. A
//! requester whose association ends is not waited for: the move goes on
//! upstream, and everything it brings is delivered.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::relay::{Relay, abandon, in_their_syntax};
use super::trace::Trace;
use crate::component::query::{RetrieveAnswer, RetrieveAnswers, RetrieveRequest};
use crate::component::retrieves::{Counts, Registered, Retrieve};
use crate::component::{Output, Outputs};
use crate::dimse::commands::{failed_uid_list, retrieve_status};
use crate::dimse::scu::{self, RetrieveResponse};
use crate::dimse::{Status, SubOperations};
use crate::message::time::millis;
use crate::message::{SubOperation, UpstreamEnd, now_ms};

/// Starts the move from a task of its own.
pub(super) fn retrieve(
    relay: &Relay,
    request: RetrieveRequest,
    answers: RetrieveAnswers,
    cancel: CancellationToken,
) {
    let started = Instant::now();
    let received_at = now_ms();
    let registered = register(relay, &request);
    let config = relay.config.clone();
    let setup = relay.options(&request.sop_class_uid, &request.transfer_syntax);
    let trace = Trace::new(relay, &request);
    tokio::spawn(async move {
        let upstream = config.remote_ae_title.to_string();
        let mut upstream_end = UpstreamEnd {
            target: trace.target().clone(),
            status: None,
            error_comment: None,
            duration_ms: 0,
        };
        let ended = match (&registered, setup) {
            (Ok(registered), Ok((address, options))) => {
                let name = format!("{upstream}@{address}");
                let move_ = Move {
                    upstream: &name,
                    config: &config,
                    request: &request,
                    answers: &answers,
                    registered,
                    started,
                };
                match scu::connect(&address, &options).await {
                    Ok(assoc) => move_.run(assoc, &cancel, &mut upstream_end).await,
                    Err(e) => Err(format!("{name}: {e}")),
                }
            }
            (Err(reason), _) => Err(reason.clone()),
            (_, Err(reason)) => Err(reason),
        };
        let answer = ended.unwrap_or_else(|reason| {
            warn!(%upstream, %reason, "A C-MOVE through the engine could not be performed.");
            upstream_end.error_comment = Some(reason.clone());
            RetrieveAnswer::unable_to_process(reason)
        });
        let sub_operations = match &registered {
            Ok(r) => r.retrieve.counts().messages,
            Err(_) => Vec::new(),
        };
        let id = registered
            .as_ref()
            .ok()
            .map(|r| r.retrieve.sub_operation.retrieve);
        // In the trace before the answer: a requester that has its answer
        // finds the move in `messages list`.
        if let Some(id) = id {
            let moved = (&request, &answer);
            trace
                .record(
                    id,
                    received_at,
                    started,
                    moved,
                    sub_operations,
                    upstream_end,
                )
                .await;
        }
        answers.send(answer).await.ok();
    });
}

/// The move, registered with a new id in the trace's numbering.
fn register(relay: &Relay, request: &RetrieveRequest) -> Result<Registered, String> {
    let messages = relay.messages.as_ref().map_err(Clone::clone)?;
    let id = messages
        .next_id()
        .map_err(|e| format!("cannot number the move: {e}"))?;
    let retrieve = Retrieve::new(
        SubOperation {
            retrieve: id,
            destination: request.move_destination.clone().unwrap_or_default(),
            originator_ae_title: request.calling_ae_title.to_string(),
            originator_message_id: request.message_id,
        },
        Outputs(vec![Output {
            address: relay.address.clone(),
            wake: relay.inbox.clone(),
        }]),
        relay.config.remote_ae_title.as_str(),
    );
    let originator = relay.config.local_ae_title.as_str();
    relay
        .retrieves
        .start(&relay.namespace, originator, retrieve)
        .ok_or_else(|| format!("{originator} has 65,535 moves in progress; try again later"))
}

/// One move in progress.
struct Move<'a> {
    upstream: &'a str,
    config: &'a super::DicomQueryConfig,
    request: &'a RetrieveRequest,
    answers: &'a RetrieveAnswers,
    registered: &'a Registered,
    started: Instant,
}

/// What the upstream said last.
#[derive(Default)]
struct Upstream {
    /// Its last counts.
    counts: SubOperations,
    /// Its end: status, Error Comment, failed UIDs.
    end: Option<(Status, Option<String>, Vec<String>)>,
    /// When it ended, from the request.
    ended_after: Option<std::time::Duration>,
}

/// What woke the move.
enum Event {
    Cancel,
    Idle,
    Total,
    Response(Result<RetrieveResponse, scu::ScuError>),
    Changed,
}

impl Move<'_> {
    /// Asks the upstream and follows the move to its end.
    async fn run(
        &self,
        mut assoc: super::pool::Upstream,
        cancel: &CancellationToken,
        upstream_end: &mut UpstreamEnd,
    ) -> Result<RetrieveAnswer, String> {
        let (config, request, upstream) = (self.config, self.request, self.upstream);
        let sop = request.sop_class_uid.as_str();
        let requester = request.transfer_syntax.as_str();
        let (theirs, identifier) =
            in_their_syntax(upstream, &assoc, sop, requester, &request.identifier)?;
        let store_ae = config
            .store_ae_title
            .as_ref()
            .unwrap_or(&config.local_ae_title);
        assoc.set_next_message_id(self.registered.message_id());
        let id = assoc
            .retrieve(
                sop,
                &theirs,
                request.priority,
                Some(store_ae.as_str()),
                &identifier,
            )
            .await
            .map_err(|e| format!("{upstream}: {e}"))?;
        let deadline = Instant::now() + config.total_timeout.get();
        let retrieve = &self.registered.retrieve;
        let mut open = Some(assoc);
        let mut state = Upstream::default();
        let mut cancelled = false;
        let mut requester_gone = false;
        let mut sent = None;
        loop {
            let counts = retrieve.counts();
            if state.end.is_some() && counts.in_flight.is_empty() {
                break;
            }
            // Nothing to say before the upstream has said something.
            let heard = state.counts != SubOperations::default() || counts.received > 0;
            if !requester_gone && heard {
                let progress = self.progress(&state.counts, &counts);
                if sent != Some(progress) {
                    sent = Some(progress);
                    if self
                        .answers
                        .send(RetrieveAnswer::Progress(progress))
                        .await
                        .is_err()
                    {
                        requester_gone = true;
                    }
                }
            }
            // Idle: nothing from the upstream, nor any instance arriving or
            // delivered, for idle_timeout.
            let idle = Instant::now() + config.idle_timeout.get();
            let event = tokio::select! {
                () = cancel.cancelled(), if !cancelled => Event::Cancel,
                () = tokio::time::sleep_until(deadline) => Event::Total,
                () = tokio::time::sleep_until(idle), if open.is_some() => Event::Idle,
                response = async { Some(open.as_mut()?.retrieve_response(id).await) }, if open.is_some() => {
                    match response {
                        Some(response) => Event::Response(response),
                        None => Event::Changed,
                    }
                }
                () = retrieve.changed.notified() => Event::Changed,
            };
            match event {
                Event::Changed => {}
                Event::Cancel => {
                    cancelled = true;
                    if self.answers.0.is_closed() {
                        requester_gone = true;
                        info!(
                            upstream,
                            "The requester of a C-MOVE left; the move goes on and what it brings is delivered."
                        );
                    } else if let Some(assoc) = open.as_mut() {
                        assoc
                            .cancel(sop, id)
                            .await
                            .map_err(|e| format!("{upstream}: {e}"))?;
                    }
                }
                Event::Idle => {
                    if let Some(assoc) = open.take() {
                        assoc.abort().await;
                    }
                    let why = config.idle_reason(upstream);
                    state.end = Some((Status(0xC001), Some(why), Vec::new()));
                }
                Event::Total => {
                    if let Some(assoc) = open.take() {
                        abandon(assoc, sop, id).await;
                    }
                    break;
                }
                Event::Response(Err(e)) => {
                    open = None;
                    state.end =
                        Some((Status(0xC001), Some(format!("{upstream}: {e}")), Vec::new()));
                }
                Event::Response(Ok(response)) => {
                    state.counts = response.rsp.sub_operations;
                    if !response.rsp.is_pending() {
                        let failed = response
                            .data_set
                            .map(|list| crate::component::query::read_failed_uids(&list, &theirs))
                            .unwrap_or_default();
                        state.end = Some((response.rsp.status, response.rsp.error_comment, failed));
                        state.ended_after = Some(self.started.elapsed());
                        if let Some(assoc) = open.take() {
                            // Released without making the requester wait.
                            tokio::spawn(async move {
                                assoc.release().await.ok();
                            });
                        }
                    }
                }
            }
        }
        if let Some((status, comment, _)) = &state.end {
            upstream_end.status = Some(status.code());
            upstream_end.error_comment.clone_from(comment);
        }
        upstream_end.duration_ms = millis(state.ended_after.unwrap_or(self.started.elapsed()));
        Ok(self.end(state, &retrieve.counts(), cancelled))
    }

    /// What the requester hears while the move goes on: completed is what
    /// the destination took; still to come is the rest of what the move
    /// holds by the upstream's count (or of what came, when it counts
    /// none), whether still upstream or on its way to the destination.
    fn progress(&self, upstream: &SubOperations, counts: &Counts) -> SubOperations {
        let up_failed = upstream.failed.unwrap_or(0);
        let up_warning = upstream.warning.unwrap_or(0);
        let up_total = upstream.remaining.map_or(0, |remaining| {
            u32::from(remaining)
                + u32::from(upstream.completed.unwrap_or(0))
                + u32::from(up_failed)
                + u32::from(up_warning)
        });
        let total = up_total.max(counts.received + u32::from(up_failed));
        let done = counts.delivered + counts.warning + counts.failed + u32::from(up_failed);
        SubOperations::new(
            clamp(total.saturating_sub(done)),
            clamp(counts.delivered),
            up_failed.saturating_add(clamp(counts.failed)),
            clamp(counts.warning),
        )
    }

    /// The final answer.
    fn end(&self, upstream: Upstream, counts: &Counts, cancelled: bool) -> RetrieveAnswer {
        let config = self.config;
        let destination = self.request.move_destination.as_deref().unwrap_or_default();
        let mut comments = Vec::new();
        let (up_status, up_comment, mut failed_uids) = upstream.end.unwrap_or_else(|| {
            let why = config.total_reason(self.upstream);
            (Status(0xC001), Some(why), Vec::new())
        });
        if let Some(c) = up_comment {
            comments.push(c);
        }
        if up_status == Status(0xA801) {
            let store_ae = config
                .store_ae_title
                .as_ref()
                .unwrap_or(&config.local_ae_title);
            comments.push(format!(
                "{} does not know {store_ae}, the AE title it is asked to move to: add it to its destinations",
                self.upstream
            ));
        }
        // Not delivered in time: failed in this answer, still queued.
        let late = counts.in_flight.len();
        if late > 0 {
            let within = config.total_timeout.get();
            warn!(
                destination,
                late,
                ?within,
                "Instances of a C-MOVE were not delivered in time; they stay queued and go when the destination answers."
            );
            // Short: an Error Comment holds 64 characters.
            comments.push(format!(
                "{late} not delivered to {destination} in {within:?}; still queued"
            ));
            failed_uids.extend(counts.in_flight.iter().cloned());
        }
        failed_uids.extend(counts.failed_uids.iter().cloned());
        let completed = clamp(counts.delivered);
        let warning = clamp(counts.warning);
        let failed = upstream
            .counts
            .failed
            .unwrap_or(0)
            .saturating_add(clamp(counts.failed))
            .saturating_add(clamp(u32::try_from(late).unwrap_or(u32::MAX)));
        let status = if cancelled && !self.answers.0.is_closed() {
            Status::CANCEL
        } else if failed == 0 && warning == 0 && up_status.is_success() {
            Status::SUCCESS
        } else if completed == 0 && warning == 0 && failed == 0 {
            // Nothing came: the upstream's own answer.
            up_status
        } else if completed == 0 && warning == 0 {
            Status(0xA702)
        } else {
            Status(0xB000)
        };
        if !status.is_success() && comments.is_empty() && !up_status.is_success() {
            comments.push(format!(
                "{} answered {}",
                self.upstream,
                retrieve_status(up_status)
            ));
        }
        let failed_uids = (!failed_uids.is_empty())
            .then(|| failed_uid_list(&failed_uids, &self.request.transfer_syntax).ok())
            .flatten();
        RetrieveAnswer::Done {
            status,
            sub_operations: SubOperations {
                remaining: cancelled.then(|| upstream.counts.remaining.unwrap_or(0)),
                completed: Some(completed),
                failed: Some(failed),
                warning: Some(warning),
            },
            failed_uids,
            error_comment: (!comments.is_empty()).then(|| comments.join("; ")),
        }
    }
}

fn clamp(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
