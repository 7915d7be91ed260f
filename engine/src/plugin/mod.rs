//! The wasmtime host for routing plugins (WebAssembly components).
//!
//! It owns the engine side of the contract in `sdk/wit/router.wit`
//! (`switchboard:router@1.x`) and knows nothing of DICOM parsing: the caller
//! hands it an [`AttributeSource`] per message and gets a [`Decision`] back.
//!
//! - [`engine`]: one [`PluginEngine`] per process (wasmtime `Engine` with epoch
//!   interruption) and its epoch ticker thread.
//! - [`cache`]: compile once; components are cached in memory and on disk,
//!   keyed by the `.wasm` content hash and the engine's compatibility hash.
//! - [`call`]: a loaded [`Plugin`]: contract check, pre-linked instances, one
//!   bounded call per message, query or match (deadline, memory cap),
//!   decision validation. A plugin that exports the query hook (world
//!   `query-router`, since 1.1.0) is also asked about queries.
//! - [`host`]: the one implementation of the WIT imports.
//! - [`error`]: [`PluginError`] (loading) and [`CallError`] (one call).
//!
//! Plugins get no WASI capabilities: WASI imports a guest toolchain adds
//! (wasm32-wasip2 std imports `wasi:cli/*`, `wasi:io/*`) are linked to stubs
//! that trap if called.
//!
//! It must not import `message`, `dimse` or any DICOM crate.

pub mod cache;
pub mod call;
pub mod engine;
pub mod error;
pub mod host;

pub use call::{CallOptions, Plugin, PluginInfo, inspect};
pub use engine::{EngineOptions, PluginEngine};
pub use error::{CallError, PluginError};
pub use host::AttributeSource;

/// The generated engine side of the WIT contract: world `router`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "router",
        imports: { default: trappable },
        additional_derives: [PartialEq, Eq],
    });
}

/// World `query-router` (since 1.1.0): `router` plus the query hook, sharing
/// its types and host.
mod query_bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "query-router",
        imports: { default: trappable },
        additional_derives: [PartialEq, Eq],
        with: {
            "switchboard:router/types": super::bindings::switchboard::router::types,
            "switchboard:router/host": super::bindings::switchboard::router::host,
        },
    });
}

pub use bindings::switchboard::router::types::{
    AttributeEdit, AttributeValue, Decision, Forward, Level, MessageHeader, PathStep, SetAttribute,
};
pub use query_bindings::exports::switchboard::router::query_hook::{
    KeyEdit, KeyPath, MatchDecision, QueryDecision, QueryHeader, SetKey,
};

/// The contract package this engine implements.
pub const CONTRACT_PACKAGE: &str = "switchboard:router";
/// The contract version this engine implements; plugins of the same major version load.
pub const CONTRACT_VERSION: &str = "1.1.0";
/// The major version this engine accepts.
pub const CONTRACT_MAJOR: u64 = 1;

#[cfg(test)]
mod tests;
