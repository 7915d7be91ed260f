//! The `wasm` process: a routing plugin (WebAssembly component) decides, per
//! message, the targets, the attribute edits of the forwarded copy, or a drop.
//!
//! - [`config`]: `type = "wasm"` with `plugin`, `config`, `timeout_ms`, `max_memory_bytes`.
//! - [`source`]: [`DicomSource`], the plugin's attribute reads over a data
//!   set read lazily (up to Pixel Data, on the first read).
//! - [`process`]: [`WasmRouter`], loading the plugin relative to the
//!   production file and routing one message.
//! - [`edit`]: applying a decision's edits to the forwarded copy.
//! - [`query`]: the process in the way of queries, its plugin's query hook
//!   rewriting each query and filtering each match; [`keys`]: applying the
//!   hook's key edits, which reach into sequences.

pub mod config;
pub mod edit;
pub mod keys;
pub mod process;
mod query;
pub mod source;

pub use config::WasmRouterConfig;
pub use process::{RouteRequest, WasmRouter};
pub use source::DicomSource;

#[cfg(test)]
mod tests;
