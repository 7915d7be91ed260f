//! Switchboard: a DICOM interoperability engine.
//!
//! It hosts *productions* of business services (inbound), business processes
//! (routing) and business operations (outbound), keeps its association
//! contexts in an embedded store, and speaks DICOM on the wire.
//!
//! # Layout
//!
//! - [`association`]: the association model, the import-file format and
//!   negotiation. Pure logic, no I/O.
//! - [`ids`]: validated identifiers (namespaces).
//! - [`dictionary`]: the standard's reference tables (SOP classes, transfer
//!   syntaxes, data elements) and their search. Pure data, no I/O.
//! - [`cli`]: the `switchboard` commands (clap).
//! - [`plugin`]: the wasmtime host for routing plugins (knows nothing of DICOM).
//!
//! # Dependency rule
//!
//! `cli → runtime → items (services, processes, operations) → (dimse, store,
//! plugin) → model (association, ids)`. Pure logic (association model,
//! negotiation, production diff) has no I/O; I/O lives at the edges.

pub mod association;
pub mod cli;
pub mod dictionary;
pub mod ids;
pub mod plugin;
pub mod processes;
pub mod runtime;
