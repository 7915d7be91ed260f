//! Errors of loading a plugin and of one call into it.

use std::path::PathBuf;

/// Loading, checking or initialising a plugin failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component for this engine.
    #[error(
        "not a valid WebAssembly component: {reason} (build plugins for wasm32-wasip2, e.g. with scripts/build-plugins)"
    )]
    InvalidComponent {
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component does not export the plugin interface.
    #[error(
        "not a switchboard routing plugin: it does not export `switchboard:router/plugin` (exports: {exports})"
    )]
    NotAPlugin {
        /// What it does export, comma-separated.
        exports: String,
    },
    /// The component targets a major version of the contract this engine does not know.
    #[error(
        "plugin was built for contract switchboard:router@{found}, this engine supports {supported}.x; rebuild it against switchboard-sdk {supported}.x"
    )]
    UnsupportedContract {
        /// The version the plugin was built for.
        found: String,
        /// The major version this engine accepts.
        supported: u64,
    },
    /// Its imports cannot be satisfied.
    #[error("cannot link plugin: {reason}")]
    Link {
        /// wasmtime's explanation.
        reason: String,
    },
    /// `init` failed: the plugin refused its configuration, or the call failed.
    #[error("plugin init failed: {0}")]
    Init(CallError),
}

/// One call into a plugin failed. Only that message is affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The plugin returned an error.
    #[error("plugin error: {0}")]
    Plugin(String),
    /// The call ran past its deadline and was interrupted.
    #[error("plugin ran past its deadline of {deadline_ms} ms and was stopped")]
    Timeout {
        /// The deadline.
        deadline_ms: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin exceeded its memory limit of {limit_bytes} bytes")]
    OutOfMemory {
        /// The cap.
        limit_bytes: usize,
    },
    /// The plugin trapped (a bug in it: panic, unreachable, bad memory access).
    #[error("plugin trapped: {reason}{}", last_log_suffix(.last_log))]
    Trap {
        /// wasmtime's description of the trap.
        reason: String,
        /// The last error the plugin logged before (a panic message, usually).
        last_log: Option<String>,
    },
    /// The decision is not acceptable (e.g. it names an unknown target).
    #[error("invalid decision: {0}")]
    InvalidDecision(String),
    /// The host could not answer an import (e.g. the data set is unreadable).
    #[error("host error: {0}")]
    Host(String),
    /// A fresh instance could not be created.
    #[error("cannot instantiate plugin: {0}")]
    Instantiate(String),
}

fn last_log_suffix(last: &Option<String>) -> String {
    match last {
        Some(text) => format!(" (plugin logged: {text})"),
        None => String::new(),
    }
}
