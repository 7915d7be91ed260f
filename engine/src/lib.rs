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
//! - `uids`: the implementation UID, version name and application context
//!   this engine announces.
//! - [`dictionary`]: the standard's reference tables (SOP classes, transfer
//!   syntaxes, data elements) and their search. Pure data, no I/O.
//! - `message`: messages apart from their storage: ids, addresses,
//!   headers, records, delivery states and their transitions, and the one
//!   interface items and the runtime reach queues through. Pure logic.
//! - `part10`: reading and writing DICOM Part 10 files.
//! - `dataset`: reading data sets from untrusted bytes, every length
//!   checked against what is left.
//! - [`dimse`]: the DICOM network layer: PDU I/O, P-DATA, DIMSE commands, the SCU.
//! - [`store`]: the embedded store (sled hidden behind a domain API):
//!   association contexts, messages and queues per namespace, body files.
//! - [`admin`]: the admin interface: every store command as a serde
//!   request, run locally or by a running engine over its Unix socket.
//! - [`config`]: production files: raw parse → validated production, diff.
//! - `component`: what an item kind tells the runtime, what an item is
//!   given and gives back, the durable intake and queue reading.
//! - [`services`], [`processes`], `operations`: the item kinds.
//! - [`runtime`]: the running engine: controller, topology, shutdown, file watch.
//! - [`cli`]: the `switchboard` commands (clap).
//! - [`plugin`]: the wasmtime host for routing plugins (knows nothing of DICOM).
//!
//! # Dependency rule
//!
//! `cli → runtime → config → items (services, processes, operations) →
//! component → (dimse, store, plugin, part10, dataset) → model (association,
//! dictionary, ids, message, uids)`, with `admin` beside the runtime on top
//! of the store. Pure logic (association model and negotiation, messages,
//! production diff) has no I/O; I/O lives at the edges. The test in
//! `layering.rs` fails when a module uses one it may not. Modules that no
//! other crate needs are crate-internal.

// Input must never panic the engine or a plugin: no unwrap, expect or
// panic outside tests (`clippy.toml` allows them in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod admin;
pub mod association;
pub mod cli;
pub(crate) mod component;
pub mod config;
pub(crate) mod dataset;
pub mod dictionary;
pub mod dimse;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub(crate) mod message;
pub(crate) mod operations;
pub(crate) mod part10;
pub mod plugin;
pub mod portal;
pub mod processes;
pub mod runtime;
pub mod services;
pub mod store;
pub(crate) mod uids;

#[cfg(test)]
mod layering;
