//! The admin API's messages: what a client sends and what it gets back. This
//! is the JSON contract of `POST /v1/request` (and of the CLI's `--json`
//! views), so change it only by adding.

use serde::{Deserialize, Serialize};

use super::backup::{Backup, Restored};
use super::status::{EngineStatus, ProductionCheck, ProductionFile};
pub use super::views::{
    AddressView, AssociationView, MessageView, QuarantinedBodyView, QuarantinedRecordView,
    RestoredView,
};
use crate::association::{AeEntry, AeTitle, CertificateBinding, PresentationContext, Uid};
use crate::events::{Event, EventFilter};
use crate::ids::NamespaceId;
use crate::message::{MessageFilter, MessageId};

/// The body of `POST /v1/request`: a request for one namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub namespace: NamespaceId,
    pub request: Request,
}

/// One command. Each is atomic: when it fails, nothing has changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Stores the presentation contexts of an import file (already parsed
    /// by the client, which owns the file and reports its line errors).
    /// With `overwrite`, an existing pair gets these presentation contexts
    /// and keeps its name, description and maximum PDU length.
    Import {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        presentation_contexts: Vec<PresentationContext>,
        #[serde(default)]
        overwrite: bool,
        /// Certificate bindings of the file; none leaves an existing
        /// association's as they are.
        #[serde(default)]
        certificates: Vec<CertificateBinding>,
    },
    /// One presentation context for every SOP class of the registry, each
    /// with these transfer syntaxes in this order (none given: Implicit VR
    /// Little Endian). `overwrite` as for `Import`.
    Create {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        #[serde(default)]
        transfer_syntaxes: Vec<Uid>,
        #[serde(default)]
        overwrite: bool,
    },
    /// A new association without presentation contexts yet (the portal's
    /// "create"); refused when the pair exists.
    Add {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        #[serde(default)]
        name: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        max_pdu_length: Option<u32>,
        /// The client certificates the calling AE title is bound to.
        #[serde(default)]
        certificates: Vec<CertificateBinding>,
    },
    /// Every association of the namespace.
    List,
    /// One association.
    Show {
        calling_aet: AeTitle,
        called_aet: AeTitle,
    },
    /// Changes the name, description, maximum PDU length or certificate
    /// bindings; the pair never changes.
    Edit {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        max_pdu_length: Option<u32>,
        /// Go back to the service's maximum PDU length.
        #[serde(default)]
        clear_max_pdu_length: bool,
        /// Bind the calling AE title to exactly these client certificates
        /// (an empty list unbinds it).
        #[serde(default)]
        certificates: Option<Vec<CertificateBinding>>,
    },
    /// Removes an association.
    Delete {
        calling_aet: AeTitle,
        called_aet: AeTitle,
    },
    /// Adds a presentation context, or appends the transfer syntaxes it does
    /// not list yet to an existing one.
    ContextAdd {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        abstract_syntax: Uid,
        transfer_syntaxes: Vec<Uid>,
    },
    /// Removes one transfer syntax of a presentation context, or (without
    /// one) the whole presentation context.
    ContextRemove {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        abstract_syntax: Uid,
        #[serde(default)]
        transfer_syntax: Option<Uid>,
    },
    /// Sets a presentation context's transfer syntaxes to exactly these, in
    /// this order (the order is the preference); adds the context when the
    /// abstract syntax is not listed yet.
    ContextSet {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        abstract_syntax: Uid,
        transfer_syntaxes: Vec<Uid>,
    },
    /// The association that governs a pair, if any, without failing when
    /// there is none: exactly the pair, or (with `wildcards`) the first of
    /// (calling, called), (calling, `*`), (`*`, called), (`*`, `*`), as
    /// negotiation does. For `echo`, `association test` and the engine.
    Lookup {
        calling_aet: AeTitle,
        called_aet: AeTitle,
        #[serde(default)]
        wildcards: bool,
    },
    /// The association in the import-file format.
    Export {
        calling_aet: AeTitle,
        called_aet: AeTitle,
    },
    /// Messages matching a filter, newest first: of the envelope's
    /// namespace, or with `every_namespace` of all of them.
    MessagesList {
        #[serde(default)]
        filter: MessageFilter,
        #[serde(default)]
        every_namespace: bool,
    },
    /// One message: header, deliveries and the trace through the items.
    /// Message ids are unique in the data directory: with `every_namespace`
    /// it is found in whichever namespace holds it.
    MessagesShow {
        id: MessageId,
        #[serde(default)]
        every_namespace: bool,
    },
    /// Queues messages again: each of `ids` for every target, delivered or
    /// not; with `all_failed`, every message with a failed delivery, for
    /// its failed targets only. In the envelope's namespace, or with
    /// `every_namespace` wherever the messages are.
    MessagesResend {
        #[serde(default)]
        ids: Vec<MessageId>,
        #[serde(default)]
        all_failed: bool,
        #[serde(default)]
        every_namespace: bool,
        /// With `all_failed`: only the failed messages this filter matches
        /// (its `limit`, `before` and `scan` are not used).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matching: Option<MessageFilter>,
    },
    /// The running engine's productions, items, queues and last reload
    /// error (every namespace). Only a running engine answers it.
    Status,
    /// A running production's file as it is on disk.
    ProductionShow { name: String },
    /// What saving this text as a running production's file would change,
    /// or its errors; writes nothing.
    ProductionCheck { name: String, text: String },
    /// Saves the text as the production's file when it has no error (the
    /// reloader applies it); with errors, nothing is written.
    ProductionSave { name: String, text: String },
    /// The running engine's recent log events (INFO and above), newest
    /// first.
    Events {
        #[serde(default)]
        filter: EventFilter,
    },
    /// What is in quarantine: body files and store records that may hold
    /// acknowledged messages but could not be read (every namespace).
    QuarantineList,
    /// Moves quarantined body files back and queues their messages: the
    /// named ones (all or none: each must read again), or with `all` every
    /// one that reads again.
    QuarantineRestore {
        #[serde(default)]
        names: Vec<String>,
        #[serde(default)]
        all: bool,
    },
    /// Adds an AE to the namespace's AE directory; with `overwrite`, an
    /// existing entry is replaced.
    AeAdd {
        entry: AeEntry,
        #[serde(default)]
        overwrite: bool,
    },
    /// Every entry of the AE directory.
    AeList,
    /// One entry.
    AeShow { ae_title: AeTitle },
    /// Changes an entry's host, port or description; the AE title never
    /// changes.
    AeEdit {
        ae_title: AeTitle,
        #[serde(default)]
        host: Option<String>,
        #[serde(default)]
        port: Option<u16>,
        #[serde(default)]
        description: Option<String>,
        /// The callers that may move to it (empty: any).
        #[serde(default)]
        move_callers: Option<Vec<AeTitle>>,
        /// Whether it speaks DICOM TLS only.
        #[serde(default)]
        tls: Option<bool>,
    },
    /// Removes an entry.
    AeDelete { ae_title: AeTitle },
    /// Every namespace's associations and AE directory (the envelope's
    /// namespace does not matter).
    Backup,
    /// Puts a backup back; what the store has already is kept unless
    /// `overwrite`.
    Restore {
        backup: Backup,
        #[serde(default)]
        overwrite: bool,
    },
}

/// What a successful command returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// `Import` done; `replaced` when the pair existed.
    Imported {
        association: AssociationView,
        replaced: bool,
    },
    /// `Create` done; `replaced` when the pair existed.
    Created {
        association: AssociationView,
        replaced: bool,
    },
    /// `Add` done.
    Added { association: AssociationView },
    /// `ContextSet` done.
    ContextSet {
        association: AssociationView,
        abstract_syntax: Uid,
    },
    /// `List`.
    Associations { associations: Vec<AssociationView> },
    /// `Show`.
    Association { association: AssociationView },
    /// `Edit` done.
    Edited { association: AssociationView },
    /// `Delete` done; the association as it was.
    Deleted { association: AssociationView },
    /// `ContextAdd` done: `added` lists the transfer syntaxes that were new;
    /// `new_context` when the abstract syntax was not listed before.
    ContextAdded {
        association: AssociationView,
        abstract_syntax: Uid,
        added: Vec<Uid>,
        new_context: bool,
    },
    /// `ContextRemove` done.
    ContextRemoved {
        association: AssociationView,
        abstract_syntax: Uid,
        transfer_syntax: Option<Uid>,
    },
    /// `Lookup`: the association found, if any.
    LookedUp {
        association: Option<AssociationView>,
    },
    /// `Export`: the import-file text.
    Exported {
        association: AssociationView,
        text: String,
    },
    /// `MessagesList`; `namespaces` lists every namespace that has messages,
    /// so that an empty answer can say where to look.
    Messages {
        messages: Vec<MessageView>,
        #[serde(default)]
        namespaces: Vec<NamespaceId>,
        /// With `filter.scan`: the listing stopped reading at this message
        /// before it found `limit` matches; older matches may follow (ask
        /// again with `before` = it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        more_before: Option<MessageId>,
    },
    /// `MessagesShow`.
    Message { message: Box<MessageView> },
    /// `MessagesResend`: per message, the targets it was queued for again,
    /// and the namespace each message is in.
    Resent {
        resent: Vec<(MessageId, Vec<AddressView>)>,
        #[serde(default)]
        namespaces: Vec<(MessageId, NamespaceId)>,
    },
    /// `Status`.
    Status { status: Box<EngineStatus> },
    /// `ProductionShow`.
    ProductionFile { file: ProductionFile },
    /// `ProductionCheck` and `ProductionSave`.
    ProductionChecked { check: ProductionCheck },
    /// `Events`.
    Events { events: Vec<Event> },
    /// `QuarantineList`.
    Quarantine {
        folder: String,
        bodies: Vec<QuarantinedBodyView>,
        records: Vec<QuarantinedRecordView>,
    },
    /// `QuarantineRestore`: what went back, and what stays.
    QuarantineRestored {
        restored: Vec<RestoredView>,
        left: Vec<QuarantinedBodyView>,
    },
    /// `Backup`.
    Backup { backup: Backup },
    /// `Restore` done.
    Restored { restored: Restored },
    /// `AeAdd` done; `replaced` when the AE title had an entry.
    AeAdded { entry: AeEntry, replaced: bool },
    /// `AeList`.
    AeEntries { entries: Vec<AeEntry> },
    /// `AeShow`.
    AeShown { entry: AeEntry },
    /// `AeEdit` done.
    AeEdited { entry: AeEntry },
    /// `AeDelete` done; the entry as it was.
    AeDeleted { entry: AeEntry },
}

/// A failed command: its message and the messages of its causes, outermost
/// first, so that a client prints exactly what a local run prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
}

impl ErrorReply {
    /// The error's message and its chain of sources.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        Self {
            message: error.to_string(),
            causes,
        }
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The body of every answer to `POST /v1/request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(Response),
    Error(ErrorReply),
}

impl From<Result<Response, ErrorReply>> for Reply {
    fn from(r: Result<Response, ErrorReply>) -> Self {
        match r {
            Ok(response) => Reply::Ok(response),
            Err(error) => Reply::Error(error),
        }
    }
}

impl From<Reply> for Result<Response, ErrorReply> {
    fn from(r: Reply) -> Self {
        match r {
            Reply::Ok(response) => Ok(response),
            Reply::Error(error) => Err(error),
        }
    }
}
