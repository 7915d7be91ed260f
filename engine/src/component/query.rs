//! Queries (C-FIND) between the items of a production: a service that
//! accepts one hands it to a [`Query`] (a query operation among its
//! targets), which answers with matches as they come, then one end.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use crate::association::AeTitle;
use crate::ids::NamespaceId;

/// A C-FIND request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindRequest {
    pub message_id: u16,
    /// The information model (Patient Root FIND, Modality Worklist FIND, …).
    pub sop_class_uid: String,
    pub priority: crate::dimse::Priority,
    /// The identifier (the query keys), exactly as received, encoded in
    /// `transfer_syntax`.
    pub identifier: Vec<u8>,
    /// The transfer syntax accepted on the presentation context: answers
    /// are encoded in it too.
    pub transfer_syntax: String,
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
    pub peer: SocketAddr,
    pub namespace: NamespaceId,
    /// The service's item name.
    pub service: String,
}

/// What a query answers, in order: matches, then one end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindAnswer {
    /// A match (status FF00 or FF01), encoded in the request's transfer
    /// syntax.
    Match {
        status: crate::dimse::Status,
        identifier: Vec<u8>,
    },
    /// The final status, with an Error Comment when it failed.
    Done {
        status: crate::dimse::Status,
        error_comment: Option<String>,
    },
}

/// Where a query's answers go, as they come. A query that drops it without
/// [`FindAnswer::Done`] ends with A700H.
#[derive(Debug, Clone)]
pub struct FindAnswers(pub tokio::sync::mpsc::Sender<FindAnswer>);

/// The requester is gone: the association ended.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the requester's association ended")]
pub struct RequesterGone;

impl FindAnswers {
    /// Sends one answer to the requester. Waits while the requester reads
    /// slower than answers come, so that memory stays flat in the number
    /// of matches.
    ///
    /// # Errors
    /// [`RequesterGone`].
    pub async fn send(&self, answer: FindAnswer) -> Result<(), RequesterGone> {
        self.0.send(answer).await.map_err(|_| RequesterGone)
    }
}

/// Answers C-FIND requests.
pub trait Query: Send + Sync + std::fmt::Debug + 'static {
    /// Starts answering `request` from a task of its own: matches, then one
    /// [`FindAnswer::Done`], sent to `answers`. `cancel` fires when the
    /// requester sends C-CANCEL (answer [`crate::dimse::Status::CANCEL`]
    /// then) or its association ends.
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken);
}

/// Asks several queries at once and merges their answers: a match whose
/// unique key (PatientID, StudyInstanceUID, SeriesInstanceUID or
/// SOPInstanceUID, by the query's level; the whole match for a worklist)
/// came already is dropped; the end is success when every upstream
/// succeeded, else C001 naming the ones that failed (after every match the
/// others gave), FE00 when the requester cancelled.
#[derive(Debug)]
pub struct FanOut(pub Vec<std::sync::Arc<dyn Query>>);

impl Query for FanOut {
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken) {
        let (merged_tx, mut merged) = tokio::sync::mpsc::channel::<(usize, FindAnswer)>(16);
        let upstreams = self.0.len();
        for (i, query) in self.0.iter().enumerate() {
            let (tx, mut rx) = tokio::sync::mpsc::channel(16);
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
        let key_tag = unique_key(&request);
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let mut failures = Vec::new();
            let mut ended = 0;
            let mut cancelled = false;
            while let Some((i, answer)) = merged.recv().await {
                match answer {
                    FindAnswer::Match { status, identifier } => {
                        let key = key_tag
                            .and_then(|tag| key_value(&identifier, &request.transfer_syntax, tag))
                            .unwrap_or_else(|| identifier.clone());
                        if seen.insert(key)
                            && answers
                                .send(FindAnswer::Match { status, identifier })
                                .await
                                .is_err()
                        {
                            cancel.cancel();
                            return;
                        }
                    }
                    FindAnswer::Done {
                        status,
                        error_comment,
                    } => {
                        ended += 1;
                        cancelled |= status == crate::dimse::Status::CANCEL;
                        if status.category() == crate::dimse::status::StatusCategory::Failure {
                            failures.push(format!(
                                "upstream {}: {}",
                                i + 1,
                                error_comment.unwrap_or_else(|| status.to_string())
                            ));
                        }
                    }
                }
            }
            let done = if cancelled || cancel.is_cancelled() {
                FindAnswer::Done {
                    status: crate::dimse::Status::CANCEL,
                    error_comment: None,
                }
            } else if failures.is_empty() && ended == upstreams {
                FindAnswer::Done {
                    status: crate::dimse::Status::SUCCESS,
                    error_comment: None,
                }
            } else {
                if ended < upstreams {
                    failures.push(format!(
                        "{} upstream(s) gave no final status",
                        upstreams - ended
                    ));
                }
                FindAnswer::Done {
                    status: crate::dimse::Status(0xC001),
                    error_comment: Some(failures.join("; ")),
                }
            };
            answers.send(done).await.ok();
        });
    }
}

/// The tag that identifies a match at the query's level.
fn unique_key(request: &FindRequest) -> Option<dicom_core::Tag> {
    use dicom_core::Tag;
    let level = key_value(
        &request.identifier,
        &request.transfer_syntax,
        Tag(0x0008, 0x0052),
    )?;
    match String::from_utf8_lossy(&level).trim_matches([' ', '\0']) {
        "PATIENT" => Some(Tag(0x0010, 0x0020)),
        "STUDY" => Some(Tag(0x0020, 0x000D)),
        "SERIES" => Some(Tag(0x0020, 0x000E)),
        "IMAGE" => Some(Tag(0x0008, 0x0018)),
        _ => None,
    }
}

/// The raw value of one top-level element of an identifier.
fn key_value(identifier: &[u8], transfer_syntax: &str, tag: dicom_core::Tag) -> Option<Vec<u8>> {
    let data_set = crate::dataset::read(
        std::io::Cursor::new(identifier),
        identifier.len() as u64,
        transfer_syntax,
        crate::dataset::Stop::End,
    )
    .ok()?;
    let element = data_set.object.get(tag)?;
    Some(element.to_bytes().ok()?.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (0008,0052) STUDY, (0020,000D) 1.2.3, implicit VR little endian.
    const STUDY_MATCH: &[u8] = &[
        0x08, 0, 0x52, 0, 6, 0, 0, 0, b'S', b'T', b'U', b'D', b'Y', b' ', 0x20, 0, 0x0D, 0, 6, 0,
        0, 0, b'1', b'.', b'2', b'.', b'3', 0,
    ];

    #[test]
    fn the_unique_key_follows_the_level() {
        let key = key_value(
            STUDY_MATCH,
            "1.2.840.10008.1.2",
            dicom_core::Tag(0x0020, 0x000D),
        );
        assert_eq!(key.as_deref(), Some(&b"1.2.3\0"[..]));
    }
}
