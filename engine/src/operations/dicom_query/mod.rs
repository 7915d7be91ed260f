//! The `dicom-query` operation: answers the C-FIND queries a service relays
//! to it by asking one upstream SCP (a worklist server, a PACS), whose
//! address comes from the namespace's AE directory, and relaying every
//! match as it arrives; C-MOVE requests likewise (`move = "as-is"`). It
//! takes no messages: a service sends it queries only.
//!
//! - [`config`]: its settings; `relay`: one query, one association
//!   upstream; `retrieve`: one C-MOVE relayed as it is; `pool`:
//!   associations kept open between queries.

pub mod config;
mod pool;
mod relay;
mod retrieve;

pub use config::DicomQueryConfig;
