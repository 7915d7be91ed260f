//! The DICOM network layer: upper-layer PDU I/O over tokio, P-DATA
//! fragmentation and reassembly, DIMSE command sets and statuses, and an SCU
//! client. Built on dicom-ul's PDU types and codec and dicom-object's command
//! helpers; it knows nothing of productions, the store or the runtime.
//!
//! - [`pdu`]: read/write one PDU with bounded lengths, trace descriptions.
//! - [`pdata`]: our P-DATA fragmenter and the PDV reassembler.
//! - [`commands`]: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET and C-CANCEL
//!   command sets.
//! - [`status`]: status words.
//! - [`scu`]: the association requestor (echo, store, release, abort).
//! - [`probe`]: one echo with its PDU trace, and the test of a stored
//!   association's presentation contexts against a peer.
//! - [`tls`]: DICOM TLS as requestor, and a connection with it or without.
//! - [`uids`]: our implementation class UID, version name and UID names.

pub(crate) mod commands;
pub(crate) mod pdata;
pub(crate) mod pdu;
pub mod probe;
pub mod scu;
pub mod status;
pub mod tls;
pub(crate) mod uids;

pub use commands::{
    CCancelRq, CEchoRq, CEchoRsp, CFindRq, CFindRsp, CGetRq, CMoveRq, CStoreRq, CStoreRsp,
    DimseCommand, Priority, Retrieve, RetrieveRsp, SubOperations,
};
pub use status::Status;
