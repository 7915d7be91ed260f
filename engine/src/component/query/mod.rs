//! Queries (C-FIND) and retrieves (C-MOVE, C-GET) between the items of a
//! production: a service that accepts one hands it to a [`Query`] (a query
//! operation among its targets), which answers with matches or progress as
//! they come, then one end.

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
    /// The query's id in the trace, once the service's route gave it one.
    pub trace_id: Option<crate::message::MessageId>,
}

/// What an item needs to answer queries.
#[derive(Debug)]
pub struct QueryContext<'a> {
    pub store: &'a crate::store::Store,
    pub namespace: &'a NamespaceId,
    /// The item's own address.
    pub address: crate::message::ItemAddress,
    /// Its targets that answer queries, in the order written (for a process
    /// in the way of queries).
    pub downstream: Vec<(crate::message::ItemAddress, std::sync::Arc<dyn Query>)>,
    /// Its own inbox: the instances of its C-MOVEs through the engine are
    /// queued for it.
    pub inbox: std::sync::Arc<tokio::sync::Notify>,
    /// The C-MOVEs through the engine in progress.
    pub retrieves: super::retrieves::Retrieves,
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

impl FindAnswer {
    /// The end of a query that could not be answered: C001H (unable to
    /// process, PS3.4 C.4.1.1.4) with the reason as Error Comment.
    pub fn unable_to_process(reason: impl Into<String>) -> Self {
        FindAnswer::Done {
            status: crate::dimse::Status(0xC001),
            error_comment: Some(reason.into()),
        }
    }
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

/// A C-MOVE or C-GET request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveRequest {
    pub message_id: u16,
    /// The information model (Study Root MOVE, Patient Root GET, …).
    pub sop_class_uid: String,
    pub priority: crate::dimse::Priority,
    /// C-MOVE: the AE title the instances go to; `None` for C-GET.
    pub move_destination: Option<String>,
    /// What to retrieve, exactly as received, encoded in `transfer_syntax`.
    pub identifier: Vec<u8>,
    /// The transfer syntax accepted on the presentation context; a Failed
    /// SOP Instance UID List is encoded in it too.
    pub transfer_syntax: String,
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
    pub peer: SocketAddr,
    pub namespace: NamespaceId,
    /// The service's item name.
    pub service: String,
    /// C-GET: where the instances go; `None` for C-MOVE.
    pub storage: Option<GetStorage>,
}

impl RetrieveRequest {
    /// "C-MOVE" or "C-GET".
    pub fn kind(&self) -> crate::dimse::Retrieve {
        match self.move_destination {
            Some(_) => crate::dimse::Retrieve::Move,
            None => crate::dimse::Retrieve::Get,
        }
    }
}

/// Where a C-GET's instances go: back to the requester, as C-STORE
/// sub-operations on its own association, one at a time.
#[derive(Debug, Clone)]
pub struct GetStorage {
    /// The storage SOP classes the requester took the SCP role for, each
    /// with the transfer syntaxes it accepted for it, in its order.
    pub contexts: Vec<(String, Vec<String>)>,
    pub instances: tokio::sync::mpsc::Sender<GetInstance>,
}

impl PartialEq for GetStorage {
    fn eq(&self, other: &Self) -> bool {
        self.contexts == other.contexts && self.instances.same_channel(&other.instances)
    }
}

impl Eq for GetStorage {}

/// One instance of a C-GET, to be sent to the requester.
#[derive(Debug)]
pub struct GetInstance {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// The transfer syntax `data_set` is encoded in.
    pub transfer_syntax: String,
    pub data_set: Vec<u8>,
    /// The status of the requester's C-STORE-RSP, or of the refusal to
    /// send it (no presentation context for it).
    pub stored: tokio::sync::oneshot::Sender<crate::dimse::Status>,
}

impl GetStorage {
    /// Sends one instance to the requester and waits for its answer. One
    /// in a transfer syntax the requester does not take for it is
    /// re-encoded in one it takes, when the two are implicit and explicit
    /// VR little endian.
    ///
    /// # Errors
    /// [`RequesterGone`].
    pub async fn store(
        &self,
        sop_class_uid: String,
        sop_instance_uid: String,
        mut transfer_syntax: String,
        mut data_set: Vec<u8>,
    ) -> Result<crate::dimse::Status, RequesterGone> {
        let taken = self.transfer_syntaxes(&sop_class_uid).unwrap_or_default();
        if !taken.contains(&transfer_syntax)
            && let Some(to) = taken
                .iter()
                .find(|to| crate::dataset::can_reencode(&transfer_syntax, to))
            && let Ok(bytes) = crate::dataset::reencode(&data_set, &transfer_syntax, to)
        {
            data_set = bytes;
            transfer_syntax.clone_from(to);
        }
        let (stored, status) = tokio::sync::oneshot::channel();
        let instance = GetInstance {
            sop_class_uid,
            sop_instance_uid,
            transfer_syntax,
            data_set,
            stored,
        };
        self.instances
            .send(instance)
            .await
            .map_err(|_| RequesterGone)?;
        status.await.map_err(|_| RequesterGone)
    }

    /// The transfer syntaxes the requester takes `sop_class_uid` in.
    pub fn transfer_syntaxes(&self, sop_class_uid: &str) -> Option<&[String]> {
        self.contexts
            .iter()
            .find(|(sop, _)| sop == sop_class_uid)
            .map(|(_, ts)| ts.as_slice())
    }
}

/// What a retrieve answers, in order: progress, then one end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrieveAnswer {
    /// The sub-operation counts so far (a pending response).
    Progress(crate::dimse::SubOperations),
    /// The final status and counts, with the Failed SOP Instance UID List
    /// (a data set in the request's transfer syntax) when there is one,
    /// and an Error Comment when it failed.
    Done {
        status: crate::dimse::Status,
        sub_operations: crate::dimse::SubOperations,
        failed_uids: Option<Vec<u8>>,
        error_comment: Option<String>,
    },
}

impl RetrieveAnswer {
    /// The end of a retrieve that could not be performed: C001H (unable to
    /// process, PS3.4 C.4.2.1.5) with the reason as Error Comment.
    pub fn unable_to_process(reason: impl Into<String>) -> Self {
        RetrieveAnswer::Done {
            status: crate::dimse::Status(0xC001),
            sub_operations: crate::dimse::SubOperations::default(),
            failed_uids: None,
            error_comment: Some(reason.into()),
        }
    }
}

/// Where a retrieve's answers go, as they come. A retrieve that drops it
/// without [`RetrieveAnswer::Done`] ends with A702H.
#[derive(Debug, Clone)]
pub struct RetrieveAnswers(pub tokio::sync::mpsc::Sender<RetrieveAnswer>);

impl RetrieveAnswers {
    /// Sends one answer to the requester.
    ///
    /// # Errors
    /// [`RequesterGone`].
    pub async fn send(&self, answer: RetrieveAnswer) -> Result<(), RequesterGone> {
        self.0.send(answer).await.map_err(|_| RequesterGone)
    }
}

/// Answers C-FIND requests, and C-MOVE and C-GET requests when it can.
pub trait Query: Send + Sync + std::fmt::Debug + 'static {
    /// Starts answering `request` from a task of its own: matches, then one
    /// [`FindAnswer::Done`], sent to `answers`. `cancel` fires when the
    /// requester sends C-CANCEL (answer [`crate::dimse::Status::CANCEL`]
    /// then) or its association ends.
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken);

    /// Starts answering a C-MOVE or C-GET as [`Query::find`] answers a
    /// C-FIND: progress, then one [`RetrieveAnswer::Done`]. One that cannot
    /// retrieve says so at once.
    fn retrieve(
        &self,
        request: RetrieveRequest,
        answers: RetrieveAnswers,
        _cancel: CancellationToken,
    ) {
        let refused = RetrieveAnswer::unable_to_process(format!(
            "this route does not answer {}",
            request.kind().name()
        ));
        // The channel is new and holds more than one answer.
        answers.0.try_send(refused).ok();
    }
}

mod in_turn;
mod keys;
mod route;

pub(crate) use in_turn::read_failed_uids;
pub(crate) use keys::summary as identifier_summary;

pub use route::Route;
