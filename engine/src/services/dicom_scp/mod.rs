//! The inbound DICOM service (SCP): a TCP listener with one or more local AE
//! titles in a namespace, negotiating every association from the namespace's
//! stored association contexts and answering its DIMSE requests, one
//! handler per service.
//!
//! - `config.rs`: [`DicomScpConfig`], the production-file table, and what it
//!   tells the runtime.
//! - `item.rs`: the SCP as an item of a production: wired to the
//!   namespace's stored associations and to the durable intake.
//! - `hooks.rs`: what the SCP needs from whoever runs it ([`ScpContext`]:
//!   [`AssociationLookup`], [`Ingest`], [`SpoolFiles`], [`Query`]).
//! - `listener.rs`: [`DicomScp`]: bind, accept, shutdown;
//!   `admission.rs`: the handshake budget and the association slots.
//! - `association.rs`: one association's state machine.
//! - `handlers/`: one file per DIMSE service (C-ECHO, C-STORE, C-FIND,
//!   and the failure answer to the others), found by command field.

mod admission;
mod association;
mod config;
mod handlers;
mod hooks;
mod item;
mod listener;

pub use crate::store::spool::SpooledData;
pub use config::{AeTitles, DicomScpConfig, DicomScpConfigError};
pub use hooks::{
    ArrivingInstance, AssociationLookup, FindAnswer, FindAnswers, FindRequest, Ingest, IngestError,
    IngestFuture, Query, ReceivedInstance, RequesterGone, ScpContext, SpoolFiles,
};
pub use listener::{DicomScp, ScpError};

#[cfg(test)]
mod tests;
