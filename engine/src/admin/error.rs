//! Why an admin command failed. Messages name the request's fields in
//! backticks (`overwrite`), never a client's own spelling of them (the CLI
//! shows them as its flags).

use crate::association::{ModelError, PairKey, Uid};
use crate::message::MessageError;
use crate::store::StoreError;
use crate::store::quarantine::RestoreError;

/// Why a command failed. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Invalid(#[from] ModelError),
    #[error("the backup is not restored: {0}; nothing was changed")]
    Backup(String),
    #[error("association {key} has no presentation context for abstract syntax {abstract_syntax}")]
    NoSuchContext { key: PairKey, abstract_syntax: Uid },
    #[error(
        "abstract syntax {abstract_syntax} of association {key} does not list transfer syntax {transfer_syntax}"
    )]
    NoSuchTransferSyntax {
        key: PairKey,
        abstract_syntax: Uid,
        transfer_syntax: Uid,
    },
    #[error(
        "transfer syntax {transfer_syntax} is the only one of abstract syntax {abstract_syntax}: a presentation context needs at least one; to remove the whole context, leave out `transfer_syntax`"
    )]
    LastTransferSyntax {
        abstract_syntax: Uid,
        transfer_syntax: Uid,
    },
    #[error("transfer syntax {0} is given twice; give each once, in order of preference")]
    RepeatedTransferSyntax(Uid),
    #[error("no transfer syntax given; give at least one in `transfer_syntaxes`")]
    NoTransferSyntax,
    #[error(
        "nothing to change: give `name`, `description`, `max_pdu_length`, `clear_max_pdu_length` or `certificates`"
    )]
    NothingToEdit,
    #[error("nothing to change: give `host`, `port`, `description`, `move_callers` or `tls`")]
    NothingToEditAe,
    #[error("the SOP class registry holds an invalid UID")]
    Registry(#[source] ModelError),
    #[error(transparent)]
    Messages(#[from] MessageError),
    #[error("no engine is running on this data directory; start one with `switchboard run`")]
    NoEngine,
    #[error("cannot read {path}")]
    QuarantineRead {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nothing to restore: give the file names (`names`) or `all`")]
    NothingToRestore,
    #[error(transparent)]
    Quarantine(#[from] RestoreError),
}

impl CommandError {
    /// The HTTP status the admin server answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            CommandError::Store(StoreError::NotFound { .. })
            | CommandError::NoSuchContext { .. }
            | CommandError::NoSuchTransferSyntax { .. }
            | CommandError::Messages(MessageError::NotFound(..))
            | CommandError::Quarantine(RestoreError::NotQuarantined { .. }) => 404,
            CommandError::Quarantine(RestoreError::StillUnreadable { .. }) => 409,
            CommandError::NoEngine => 503,
            CommandError::Store(StoreError::AlreadyExists { .. }) => 409,
            CommandError::Store(StoreError::Invalid(_))
            | CommandError::Invalid(_)
            | CommandError::LastTransferSyntax { .. }
            | CommandError::RepeatedTransferSyntax(_)
            | CommandError::NoTransferSyntax
            | CommandError::NothingToEdit
            | CommandError::NothingToRestore
            | CommandError::Backup(_) => 400,
            _ => 500,
        }
    }
}
