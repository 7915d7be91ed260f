//! The admin interface: how commands reach the store, whether this process
//! can open it or a running engine holds it.
//!
//! - [`api`]: the JSON contract ([`Request`], [`Response`], [`ErrorReply`]);
//!   [`views`]: what it shows of stored things ([`AssociationView`],
//!   [`MessageView`]), apart from how they are stored.
//! - [`execute`]: runs a request against a [`Store`]; the one place where
//!   association commands are implemented. [`answer`]: a request answered
//!   for any client (`Status` by the engine, the rest by `execute`, then
//!   the queues a command filled woken).
//! - [`AdminServer`] / [`serve`]: HTTP/1.1 (hyper, routed by axum) + JSON
//!   on the Unix socket `<data-dir>/admin.sock` (mode 0600, only the
//!   engine's own user), one endpoint `POST /v1/request` plus
//!   `GET /v1/health`. `switchboard run` spawns it next to the
//!   productions; the management portal (module `portal`) asks the same
//!   things in-process.
//! - [`call`]: the client side.
//! - [`status`]: what `switchboard status` shows; the runtime answers it
//!   through [`EngineState`].
//! - [`with_store_or_engine`]: what every CLI command that needs the store
//!   calls: open the store and execute locally, or, when a running engine
//!   holds it ([`StoreError::Locked`]), send the same request to the
//!   engine's socket. Same answer either way.
//!
//! This module knows the store and the association model; it knows nothing
//! of clap or of how answers are printed.

mod answer;
pub mod api;
pub mod audit;
pub mod backup;
mod client;
mod error;
mod execute;
mod messages;
mod quarantine;
mod server;
pub mod status;
pub mod views;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The event log's entries and filter, as the API carries them.
pub use crate::events::{Event, EventFilter};
pub use answer::{InProcess, answer};
pub use api::{Envelope, ErrorReply, Reply, Request, Response};
pub use client::{MAX_REPLY_BODY, call};
pub use error::CommandError;
pub use execute::execute;
pub use server::{AdminServer, MAX_REQUEST_BODY, serve};
pub use status::{EngineState, EngineStatus};
pub use views::{
    AddressView, AssociationView, MessageView, QueryView, RetrieveView, SubOperationView,
};

use crate::ids::NamespaceId;
use crate::store::{Store, StoreError};

/// The admin socket's file name inside the data directory.
pub const SOCKET_FILE: &str = "admin.sock";

/// The admin socket of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Failures of the admin transport (not of the command itself).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("cannot create the admin socket {path}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the admin socket {path} stopped accepting connections")]
    Accept {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach the running engine at {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the running engine did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the admin exchange failed: {0}")]
    Protocol(String),
    #[error("admin socket I/O failed")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the data directory {data_dir} is held by a running engine, and its admin socket does not answer"
    )]
    EngineUnreachable {
        data_dir: PathBuf,
        #[source]
        source: Box<AdminError>,
    },
}

/// Runs a request in `namespace` of the data directory: locally when this
/// process can open the store, else through the admin socket of the engine
/// that holds it.
///
/// The outer `Result` is about reaching the store; the inner one is the
/// command's outcome, identical on both paths.
///
/// # Errors
/// [`AdminError::Store`] when the store cannot be opened for a reason other
/// than a running engine, [`AdminError::EngineUnreachable`] when an engine
/// holds it but does not answer.
pub async fn with_store_or_engine(
    data_dir: &Path,
    namespace: &NamespaceId,
    request: Request,
) -> Result<Result<Response, ErrorReply>, AdminError> {
    let dir = data_dir.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .map_err(|e| AdminError::Protocol(format!("opening the store failed: {e}")))?;
    match opened {
        Ok(store) => {
            let namespace = namespace.clone();
            tokio::task::spawn_blocking(move || {
                audit::execute(&store, &namespace, request, &audit::Actor::this_user())
                    .map_err(|e| ErrorReply::from_error(&e))
            })
            .await
            .map_err(|e| AdminError::Protocol(format!("the command failed: {e}")))
        }
        Err(StoreError::Locked { .. }) => {
            tracing::debug!(data_dir = %data_dir.display(), "Store is held by a running engine; using its admin socket.");
            call(&socket_path(data_dir), namespace, request)
                .await
                .map_err(|source| AdminError::EngineUnreachable {
                    data_dir: data_dir.to_path_buf(),
                    source: Box::new(source),
                })
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests;
