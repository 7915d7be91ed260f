//! The `dicom-query` operation: answers the C-FIND queries a service relays
//! to it by asking one upstream SCP (a worklist server, a PACS), whose
//! address comes from the namespace's AE directory, and relaying every
//! match as it arrives; C-MOVE requests too, through the engine or as they
//! are. The only messages queued for it are the instances its moves bring,
//! which it delivers to their destinations.
//!
//! - [`config`]: its settings; `relay`: one query, one association
//!   upstream; `through`: one C-MOVE through the engine; `retrieve`: one
//!   C-MOVE relayed as it is; `pool`: associations kept open between
//!   queries.

pub mod config;
mod pool;
mod relay;
mod retrieve;
mod through;
mod trace;

pub use config::DicomQueryConfig;
