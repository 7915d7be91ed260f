//! What the SCP asks of whoever runs it: where the namespace's association
//! contexts are ([`AssociationLookup`]), where received instances go
//! ([`Ingest`]), where they are spooled while they arrive ([`SpoolFiles`])
//! and who answers C-FIND ([`Query`]), all in one [`ScpContext`]. The engine wires these to
//! its store and durable intake (`item.rs`); tests wire them to their own.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::component::query::{
    FindAnswer, FindAnswers, FindRequest, GetInstance, GetStorage, Query, RequesterGone,
    RetrieveAnswer, RetrieveAnswers, RetrieveRequest,
};

use crate::association::PeerCertificate;
use crate::association::model::{AeTitle, AssociationContext};
use crate::association::negotiation::LookupFailed;
use crate::ids::NamespaceId;
use crate::store::spool::{SpoolWriter, SpooledData};

/// Finds the stored association context for a (calling, called) pair, the
/// store's exact-then-wildcard order applied. Called once per association,
/// so an edit takes effect on the next one.
pub trait AssociationLookup: Send + Sync + 'static {
    /// # Errors
    /// [`LookupFailed`] when the store cannot answer; the association is
    /// rejected-transient.
    fn lookup(
        &self,
        calling: &AeTitle,
        called: &AeTitle,
    ) -> Result<Option<AssociationContext>, LookupFailed>;

    /// Other namespaces that define exactly this pair, to say so when it is
    /// rejected here (a production in the wrong folder, an association
    /// created without `--namespace`).
    fn defined_elsewhere(&self, _calling: &AeTitle, _called: &AeTitle) -> Vec<NamespaceId> {
        Vec::new()
    }

    /// The calling AE titles whose association contexts bind this client
    /// certificate: it may call as none other.
    ///
    /// # Errors
    /// [`LookupFailed`] when the store cannot answer.
    fn bound_to(&self, _certificate: &PeerCertificate) -> Result<Vec<AeTitle>, LookupFailed> {
        Ok(Vec::new())
    }
}

impl<F> AssociationLookup for F
where
    F: Fn(&AeTitle, &AeTitle) -> Result<Option<AssociationContext>, LookupFailed>
        + Send
        + Sync
        + 'static,
{
    fn lookup(
        &self,
        calling: &AeTitle,
        called: &AeTitle,
    ) -> Result<Option<AssociationContext>, LookupFailed> {
        self(calling, called)
    }
}

/// The namespace's stored association contexts, looked up exact pair first,
/// then with `*` wildcards.
impl AssociationLookup for crate::store::Associations {
    fn lookup(
        &self,
        calling: &AeTitle,
        called: &AeTitle,
    ) -> Result<Option<AssociationContext>, LookupFailed> {
        crate::store::Associations::lookup(self, calling, called).map_err(LookupFailed::from)
    }

    fn defined_elsewhere(&self, calling: &AeTitle, called: &AeTitle) -> Vec<NamespaceId> {
        self.defined_elsewhere(calling, called).unwrap_or_default()
    }

    fn bound_to(&self, certificate: &PeerCertificate) -> Result<Vec<AeTitle>, LookupFailed> {
        crate::store::Associations::bound_to(self, certificate).map_err(LookupFailed::from)
    }
}

/// What is known of a data set received with C-STORE; the data itself is in
/// a spool file, handed to the [`Ingest`] hook as [`SpooledData`].
///
/// Ownership: the spool file belongs to the [`Ingest`] hook from the moment
/// it is called; it should complete it ([`SpooledData::complete`]) and move
/// it into durable storage (or delete it). When the hook fails and the file
/// still exists, the service deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInstance {
    /// The file of the data set exactly as received: no preamble, no meta
    /// group, encoded in `transfer_syntax`. Its last bytes are written by
    /// [`SpooledData::complete`].
    pub spool_path: PathBuf,
    /// Whether the spool file's directory entry is already durable (it came
    /// from [`ScpContext::spool_files`]), so the hook need not sync the folder.
    pub spool_entry_durable: bool,
    pub size: u64,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// The transfer syntax accepted on the presentation context.
    pub transfer_syntax: String,
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
    pub peer: SocketAddr,
    pub namespace: NamespaceId,
    /// The service's item name.
    pub service: String,
    pub message_id: u16,
    pub priority: crate::dimse::Priority,
    pub move_originator_ae_title: Option<String>,
    pub move_originator_message_id: Option<u16>,
}

/// Why an instance could not be taken in; the C-STORE-RSP says A700H. The
/// hook's own error says why.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct IngestError(pub Box<dyn std::error::Error + Send + Sync>);

impl IngestError {
    /// Wraps the hook's own error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }
}

/// The future an [`Ingest`] returns.
pub type IngestFuture<'a> =
    Pin<Box<dyn Future<Output = Result<crate::dimse::Status, IngestError>> + Send + 'a>>;

/// Takes in a received instance durably. The C-STORE-RSP has the status
/// this returns (0000H once the instance is durable here; a C-GET's
/// instance taken by the requester gets the requester's), A700H (out of
/// resources) on an error.
pub trait Ingest: Send + Sync + 'static {
    fn ingest(&self, instance: ReceivedInstance, data: SpooledData) -> IngestFuture<'_>;

    /// Whether a C-STORE with this Move Originator (AE title, Message ID),
    /// if any, is taken in at all; one that is not is answered 0122H (SOP
    /// class not supported) before its data set is written.
    fn takes(&self, _move_originator: Option<(&str, u16)>) -> bool {
        true
    }

    /// Why nothing can be taken in now (low disk space, a failed sync), if
    /// so: a C-STORE is then answered A700H before its data set is written.
    fn refuses(&self) -> Option<String> {
        None
    }

    /// An instance still arriving into the spool file `spool_path` passed
    /// the service's `cut_through_above`: it may be sent on while it
    /// arrives, read with `writer.follow`. Called at most once per C-STORE,
    /// before [`Self::ingest`].
    fn cut_through(&self, _instance: &ArrivingInstance<'_>, _writer: &mut SpoolWriter) {}
}

/// A C-STORE whose data set is still arriving (see [`Ingest::cut_through`]).
#[derive(Debug)]
pub struct ArrivingInstance<'a> {
    pub spool_path: &'a std::path::Path,
    pub sop_class_uid: &'a str,
    pub sop_instance_uid: &'a str,
    /// The transfer syntax accepted on the presentation context.
    pub transfer_syntax: &'a str,
    pub move_originator: Option<(&'a str, u16)>,
}

/// What the runtime gives a DICOM SCP besides its configuration.
#[derive(Clone)]
pub struct ScpContext {
    /// The item name in the production, for logs.
    pub name: String,
    pub namespace: NamespaceId,
    /// The namespace's stored association contexts.
    pub lookup: Arc<dyn AssociationLookup>,
    /// Where received instances go; `None` refuses C-STORE (0122H).
    pub ingest: Option<Arc<dyn Ingest>>,
    /// Who answers C-FIND and C-MOVE; `None` answers them 0211H
    /// (unrecognized operation).
    pub query: Option<Arc<dyn Query>>,
    /// Where C-STORE data sets are spooled while they arrive.
    pub spool_dir: PathBuf,
    /// Spool files made ahead in `spool_dir` whose directory entries are
    /// durable (empty, or recycled bodies that still hold old bytes: write
    /// from the start, and read only what was written); when `None` or
    /// empty, a new file is created per C-STORE.
    pub spool_files: Option<Arc<dyn SpoolFiles>>,
}

/// A source of pre-created spool files (see [`ReceivedInstance::spool_entry_durable`]).
pub trait SpoolFiles: Send + Sync + 'static {
    /// A file in the spool folder with no trailer, now owned by the
    /// caller.
    fn take(&self) -> Option<PathBuf>;
}

impl<F: Fn() -> Option<PathBuf> + Send + Sync + 'static> SpoolFiles for F {
    fn take(&self) -> Option<PathBuf> {
        self()
    }
}

impl std::fmt::Debug for ScpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScpContext")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("ingest", &self.ingest.is_some())
            .field("query", &self.query.is_some())
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}
