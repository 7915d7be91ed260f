//! The inbound DICOM service (SCP): a TCP listener with one or more local AE
//! titles in a namespace, negotiating every association from the namespace's
//! stored association contexts, answering C-ECHO, and receiving C-STORE into
//! a spool file handed to an [`Ingest`] hook.
//!
//! - `config.rs`: [`DicomScpConfig`], the production-file table.
//! - `service.rs`: [`DicomScp`] (bind, then run until shut down), the
//!   association state machine, [`Ingest`] and [`AssociationLookup`].

mod config;
mod service;
mod spool;

pub use config::{AeTitles, DicomScpConfig, DicomScpConfigError};
pub use service::{
    AssociationLookup, DicomScp, Ingest, IngestError, IngestFuture, ReceivedInstance, ScpContext,
    ScpError, SpoolFiles,
};
pub use spool::SpooledData;

#[cfg(test)]
mod tests;
