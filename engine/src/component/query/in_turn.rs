//! A retrieve over several upstreams: each is asked in turn, in the order
//! the production writes them, so that the requester's destination gets
//! one upstream's instances at a time and the counts add up. The progress
//! the requester sees is the finished upstreams' counts plus the current
//! one's; the end is success when every upstream succeeded, FE00 when the
//! requester cancelled (the upstreams not yet asked are not), B000 when some
//! sub-operations completed and something failed, else the first failure.
//! One upstream's answers pass as they are.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Query, RetrieveAnswer, RetrieveAnswers, RetrieveRequest};
use crate::dimse::commands::{failed_uid_list, retrieve_status};
use crate::dimse::{Status, SubOperations};

/// Answers held between an upstream and the requester.
const IN_FLIGHT: usize = 16;

/// Asks `upstreams` in turn (see the module).
pub(super) fn retrieve(
    upstreams: Vec<Arc<dyn Query>>,
    request: RetrieveRequest,
    answers: RetrieveAnswers,
    cancel: CancellationToken,
) {
    if let [one] = upstreams.as_slice() {
        one.retrieve(request, answers, cancel);
        return;
    }
    tokio::spawn(async move {
        let mut done = Totals::default();
        for (i, upstream) in upstreams.iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            let (tx, mut rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
            upstream.retrieve(request.clone(), RetrieveAnswers(tx), cancel.child_token());
            let mut end = None;
            while let Some(answer) = rx.recv().await {
                match answer {
                    RetrieveAnswer::Progress(counts) => {
                        let progress = RetrieveAnswer::Progress(done.plus(counts));
                        if answers.send(progress).await.is_err() {
                            cancel.cancel();
                            return;
                        }
                    }
                    RetrieveAnswer::Done {
                        status,
                        sub_operations,
                        failed_uids,
                        error_comment,
                    } => {
                        done.add(sub_operations);
                        if let Some(list) = failed_uids {
                            done.failed_uids
                                .extend(read_failed_uids(&list, &request.transfer_syntax));
                        }
                        end = Some((status, error_comment));
                    }
                }
            }
            let (status, comment) = end.unwrap_or((Status(0xA702), None));
            if !status.is_success() && status != Status::CANCEL {
                let why = comment.unwrap_or_else(|| retrieve_status(status));
                done.failures
                    .push((status, format!("upstream {}: {why}", i + 1)));
            }
        }
        answers
            .send(done.end(cancel.is_cancelled(), &request))
            .await
            .ok();
    });
}

/// What the upstreams asked so far did.
#[derive(Default)]
struct Totals {
    completed: u16,
    failed: u16,
    warning: u16,
    failed_uids: Vec<String>,
    /// The upstreams that did not succeed: status and why.
    failures: Vec<(Status, String)>,
}

impl Totals {
    /// The current upstream's counts on top of the finished ones'.
    fn plus(&self, now: SubOperations) -> SubOperations {
        SubOperations {
            remaining: now.remaining,
            completed: Some(self.completed.saturating_add(now.completed.unwrap_or(0))),
            failed: Some(self.failed.saturating_add(now.failed.unwrap_or(0))),
            warning: Some(self.warning.saturating_add(now.warning.unwrap_or(0))),
        }
    }

    fn add(&mut self, end: SubOperations) {
        let total = self.plus(end);
        self.completed = total.completed.unwrap_or(0);
        self.failed = total.failed.unwrap_or(0);
        self.warning = total.warning.unwrap_or(0);
    }

    fn end(self, cancelled: bool, request: &RetrieveRequest) -> RetrieveAnswer {
        let some_done = self.completed > 0 || self.warning > 0;
        let (status, error_comment) = if cancelled {
            (Status::CANCEL, None)
        } else if self.failures.is_empty() && self.failed == 0 && self.warning == 0 {
            (Status::SUCCESS, None)
        } else {
            let why = self
                .failures
                .iter()
                .map(|(_, why)| why.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let why = (!why.is_empty()).then_some(why);
            match self.failures.first() {
                Some((first, _)) if !some_done => (*first, why),
                _ => (Status(0xB000), why),
            }
        };
        let failed_uids = (!self.failed_uids.is_empty())
            .then(|| failed_uid_list(&self.failed_uids, &request.transfer_syntax).ok())
            .flatten();
        RetrieveAnswer::Done {
            status,
            sub_operations: SubOperations {
                // Unknown for the upstreams not asked.
                remaining: None,
                completed: Some(self.completed),
                failed: Some(self.failed),
                warning: Some(self.warning),
            },
            failed_uids,
            error_comment,
        }
    }
}

/// The Failed SOP Instance UID List of a final response's data set; none
/// when it cannot be read.
pub(crate) fn read_failed_uids(data_set: &[u8], transfer_syntax: &str) -> Vec<String> {
    let Ok(read) = crate::dataset::read(
        std::io::Cursor::new(data_set),
        data_set.len() as u64,
        transfer_syntax,
        crate::dataset::Stop::End,
    ) else {
        return Vec::new();
    };
    read.object
        .get(dicom_dictionary_std::tags::FAILED_SOP_INSTANCE_UID_LIST)
        .and_then(|e| e.to_multi_str().ok())
        .map(|uids| {
            uids.iter()
                .map(|u| u.trim_end_matches(['\0', ' ']).to_string())
                .filter(|u| !u.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every retrieve with these answers.
    #[derive(Debug)]
    struct Stub(Vec<RetrieveAnswer>);

    impl Query for Stub {
        fn find(
            &self,
            _: super::super::FindRequest,
            _: super::super::FindAnswers,
            _: CancellationToken,
        ) {
        }

        fn retrieve(&self, _: RetrieveRequest, answers: RetrieveAnswers, _: CancellationToken) {
            let all = self.0.clone();
            tokio::spawn(async move {
                for answer in all {
                    answers.send(answer).await.ok();
                }
            });
        }
    }

    fn request() -> RetrieveRequest {
        RetrieveRequest {
            message_id: 1,
            sop_class_uid: "1.2.840.10008.5.1.4.1.2.2.2".into(),
            priority: crate::dimse::Priority::Medium,
            move_destination: Some("DEST".into()),
            identifier: Vec::new(),
            transfer_syntax: "1.2.840.10008.1.2.1".into(),
            calling_ae_title: crate::association::AeTitle::new("A").unwrap(),
            called_ae_title: crate::association::AeTitle::new("B").unwrap(),
            peer: "127.0.0.1:1".parse().unwrap(),
            namespace: crate::ids::NamespaceId::default(),
            service: "IN".into(),
            storage: None,
        }
    }

    async fn answers_of(
        upstreams: Vec<Arc<dyn Query>>,
        cancel: CancellationToken,
    ) -> Vec<RetrieveAnswer> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        retrieve(upstreams, request(), RetrieveAnswers(tx), cancel);
        let mut all = Vec::new();
        while let Some(a) = rx.recv().await {
            all.push(a);
        }
        all
    }

    #[tokio::test]
    async fn upstreams_are_asked_in_turn_and_their_counts_and_failures_add_up() {
        let uids = failed_uid_list(&["1.2.3".into()], "1.2.840.10008.1.2.1").unwrap();
        let first: Arc<dyn Query> = Arc::new(Stub(vec![
            RetrieveAnswer::Progress(SubOperations::new(1, 1, 0, 0)),
            RetrieveAnswer::Done {
                status: Status(0xB000),
                sub_operations: SubOperations::new(0, 1, 1, 0),
                failed_uids: Some(uids),
                error_comment: None,
            },
        ]));
        let second: Arc<dyn Query> = Arc::new(Stub(vec![
            RetrieveAnswer::Progress(SubOperations::new(2, 1, 0, 0)),
            RetrieveAnswer::unable_to_process("QR2 is down"),
        ]));
        let all = answers_of(vec![first, second], CancellationToken::new()).await;
        assert_eq!(
            all[0],
            RetrieveAnswer::Progress(SubOperations::new(1, 1, 0, 0))
        );
        // The second's progress on top of the first's end.
        assert_eq!(
            all[1],
            RetrieveAnswer::Progress(SubOperations::new(2, 2, 1, 0))
        );
        let RetrieveAnswer::Done {
            status,
            sub_operations,
            failed_uids,
            error_comment,
        } = &all[2]
        else {
            panic!("{all:?}");
        };
        assert_eq!(*status, Status(0xB000));
        assert_eq!(
            (sub_operations.completed, sub_operations.failed),
            (Some(1), Some(1))
        );
        assert_eq!(
            read_failed_uids(failed_uids.as_deref().unwrap(), "1.2.840.10008.1.2.1"),
            ["1.2.3"]
        );
        assert_eq!(
            error_comment.as_deref(),
            Some(
                "upstream 1: #B000H[Warning: Sub-operations complete - One or more failures or warnings]; upstream 2: QR2 is down"
            )
        );
    }
}
