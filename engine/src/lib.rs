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
//! - [`uids`]: the implementation UID, version name and application context
//!   this engine announces.
//! - [`dictionary`]: the standard's reference tables (SOP classes, transfer
//!   syntaxes, data elements) and their search. Pure data, no I/O.
//! - [`message`]: messages apart from their storage: ids, addresses,
//!   headers, records, delivery states and their transitions, and the one
//!   interface items and the runtime reach queues through. Pure logic.
//! - [`part10`]: reading and writing DICOM Part 10 files.
//! - [`dimse`]: the DICOM network layer: PDU I/O, P-DATA, DIMSE commands, the SCU.
//! - [`store`]: the embedded store (sled hidden behind a domain API):
//!   association contexts, messages and queues per namespace, body files.
//! - [`admin`]: the admin interface: every store command as a serde
//!   request, run locally or by a running engine over its Unix socket.
//! - [`config`]: production files: raw parse → validated production, diff.
//! - [`component`]: what the runtime gives items and gets back.
//! - [`services`], [`processes`], [`operations`]: the item kinds.
//! - [`runtime`]: the running engine: controller, topology, shutdown, file watch.
//! - [`cli`]: the `switchboard` commands (clap).
//! - [`plugin`]: the wasmtime host for routing plugins (knows nothing of DICOM).
//!
//! # Dependency rule
//!
//! `cli → runtime → items (services, processes, operations) → (dimse, store,
//! plugin) → model (association, ids)`. Pure logic (association model,
//! negotiation, production diff) has no I/O; I/O lives at the edges.

// Input must never panic the engine or a plugin: no unwrap, expect or
// panic outside tests (`clippy.toml` allows them in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod admin;
pub mod association;
pub mod cli;
pub mod component;
pub mod config;
pub mod dictionary;
pub mod dimse;
pub mod ids;
pub mod message;
pub mod operations;
pub mod part10;
pub mod plugin;
pub mod processes;
pub mod runtime;
pub mod services;
pub mod store;
pub mod uids;
