//! A service's queries: every upstream is asked at once, their answers are
//! merged as they come, and the query goes into the trace once it ended.
//! Its retrieves ask the upstreams in turn (`in_turn`).

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::keys;
use super::{FindAnswer, FindAnswers, FindRequest, Query, RetrieveAnswers, RetrieveRequest};
use crate::dimse::Status;
use crate::dimse::status::StatusCategory;
use crate::message::time::millis;
use crate::message::{
    ItemAddress, MessageError, MessageHeader, MessageId, MessageQueues, MessageRecord, QueryTrace,
    UpstreamOutcome, now_ms,
};

/// Answers held between an upstream and the merge.
const MERGE_IN_FLIGHT: usize = 16;

/// Asks its upstreams (query operations) at once and merges their
/// answers. With several, a match whose unique key (PatientID,
/// StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID, by the query's
/// level; the whole match for a worklist) came already is dropped; the end
/// is success when every upstream succeeded, else C001 naming the ones that
/// failed (after every match the others gave), FE00 when the requester
/// cancelled. One upstream's answers pass as they are.
#[derive(Debug)]
pub struct Route {
    pub upstreams: Vec<(ItemAddress, Arc<dyn Query>)>,
    /// The service, as the trace names it.
    pub source: ItemAddress,
    /// Where the query is recorded: the service's route records it; one
    /// inside a process (several downstream) does not.
    pub messages: Option<Arc<dyn MessageQueues>>,
}

/// What the merge saw of one upstream.
struct Upstream {
    matches: u64,
    end: Option<(Status, Option<String>)>,
    at: Instant,
}

impl Query for Route {
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken) {
        let started = Instant::now();
        let received_at = now_ms();
        // Taken now, so that ids keep increasing with arrival.
        let id = self.messages.as_ref().map(|m| m.next_id());
        let mut request = request;
        if let Some(Ok(id)) = &id {
            request.trace_id = Some(*id);
        }
        let (merged_tx, mut merged) =
            tokio::sync::mpsc::channel::<(usize, FindAnswer)>(MERGE_IN_FLIGHT);
        for (i, (_, query)) in self.upstreams.iter().enumerate() {
            let (tx, mut rx) = tokio::sync::mpsc::channel(MERGE_IN_FLIGHT);
            query.find(request.clone(), FindAnswers(tx), cancel.child_token());
            let merged_tx = merged_tx.clone();
            tokio::spawn(async move {
                while let Some(answer) = rx.recv().await {
                    if merged_tx.send((i, answer)).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(merged_tx);
        let several = self.upstreams.len() > 1;
        let key_tag = several
            .then(|| keys::unique_key(&request.identifier, &request.transfer_syntax))
            .flatten();
        let names: Vec<ItemAddress> = self.upstreams.iter().map(|(a, _)| a.clone()).collect();
        let source = self.source.clone();
        let messages = self.messages.clone();
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let mut upstreams: Vec<Upstream> = names
                .iter()
                .map(|_| Upstream {
                    matches: 0,
                    end: None,
                    at: started,
                })
                .collect();
            let mut sent = 0u64;
            let mut first_match = None;
            let mut requester_gone = false;
            while let Some((i, answer)) = merged.recv().await {
                match answer {
                    FindAnswer::Match { status, identifier } => {
                        upstreams[i].matches += 1;
                        if several {
                            let key = key_tag
                                .and_then(|tag| {
                                    keys::key_value(&identifier, &request.transfer_syntax, tag)
                                })
                                .unwrap_or_else(|| identifier.clone());
                            if !seen.insert(key) {
                                continue;
                            }
                        }
                        if answers
                            .send(FindAnswer::Match { status, identifier })
                            .await
                            .is_err()
                        {
                            cancel.cancel();
                            requester_gone = true;
                            break;
                        }
                        sent += 1;
                        first_match.get_or_insert_with(|| started.elapsed());
                    }
                    FindAnswer::Done {
                        status,
                        error_comment,
                    } => {
                        upstreams[i].end = Some((status, error_comment));
                        upstreams[i].at = Instant::now();
                    }
                }
            }
            let (status, error_comment) = if requester_gone {
                (
                    Status(0xFE00),
                    Some("the requester's association ended".to_string()),
                )
            } else {
                let end = merge_ends(&upstreams, cancel.is_cancelled());
                let done = FindAnswer::Done {
                    status: end.0,
                    error_comment: end.1.clone(),
                };
                answers.send(done).await.ok();
                end
            };
            let trace = QueryTrace {
                level: String::new(),
                keys: Vec::new(),
                matches: sent,
                status: status.0,
                error_comment,
                first_match_ms: first_match.map(millis),
                duration_ms: millis(started.elapsed()),
            };
            let outcomes = names
                .into_iter()
                .zip(&upstreams)
                .map(|(target, u)| UpstreamOutcome {
                    target,
                    matches: u.matches,
                    status: u.end.as_ref().map(|(s, _)| s.0),
                    error_comment: u.end.as_ref().and_then(|(_, c)| c.clone()),
                    duration_ms: millis(u.at.duration_since(started)),
                })
                .collect::<Vec<_>>();
            let (Some(messages), Some(id)) = (messages, id) else {
                return;
            };
            tokio::task::spawn_blocking(move || {
                let written = id.and_then(|id| {
                    record(
                        &*messages,
                        id,
                        source,
                        received_at,
                        &request,
                        trace,
                        &outcomes,
                    )
                });
                if let Err(e) = written {
                    warn!(error = %e, "A query could not be recorded in the trace.");
                }
            });
        });
    }

    fn retrieve(
        &self,
        request: RetrieveRequest,
        answers: RetrieveAnswers,
        cancel: CancellationToken,
    ) {
        let upstreams = self.upstreams.iter().map(|(_, q)| q.clone()).collect();
        super::in_turn::retrieve(upstreams, request, answers, cancel);
    }
}

/// The final status of a query from its upstreams' ends.
fn merge_ends(upstreams: &[Upstream], cancelled: bool) -> (Status, Option<String>) {
    // One upstream's end passes as it is.
    if let [
        Upstream {
            end: Some((s, c)), ..
        },
    ] = upstreams
    {
        return (*s, c.clone());
    }
    if cancelled
        || upstreams
            .iter()
            .any(|u| matches!(u.end, Some((s, _)) if s == Status::CANCEL))
    {
        return (Status::CANCEL, None);
    }
    let mut failures = Vec::new();
    for (i, u) in upstreams.iter().enumerate() {
        let which = || {
            if upstreams.len() > 1 {
                format!("upstream {}: ", i + 1)
            } else {
                String::new()
            }
        };
        match &u.end {
            Some((s, c)) if s.category() == StatusCategory::Failure => {
                failures.push(format!(
                    "{}{}",
                    which(),
                    c.clone().unwrap_or_else(|| s.to_string())
                ));
            }
            Some(_) => {}
            None => failures.push(format!("{}no final status", which())),
        }
    }
    if failures.is_empty() {
        (Status::SUCCESS, None)
    } else {
        (Status(0xC001), Some(failures.join("; ")))
    }
}

/// Writes the query into the trace. A failure costs the trace line, never
/// the answer: the requester has it already.
fn record(
    messages: &dyn MessageQueues,
    id: MessageId,
    source: ItemAddress,
    received_at: u64,
    request: &FindRequest,
    mut trace: QueryTrace,
    outcomes: &[UpstreamOutcome],
) -> Result<(), MessageError> {
    (trace.level, trace.keys) = keys::summary(
        &request.sop_class_uid,
        &request.identifier,
        &request.transfer_syntax,
    );
    let header = MessageHeader {
        source,
        received_at,
        sop_class_uid: request.sop_class_uid.clone(),
        sop_instance_uid: String::new(),
        transfer_syntax: request.transfer_syntax.clone(),
        calling_ae_title: request.calling_ae_title.to_string(),
        called_ae_title: request.called_ae_title.to_string(),
        origin: request.peer.to_string(),
        size: request.identifier.len() as u64,
        body: String::new(),
        sub_operation: None,
    };
    let record = MessageRecord::query(id, messages.namespace().clone(), header, trace, outcomes);
    messages.record(&record)
}
