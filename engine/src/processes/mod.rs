//! Business processes: routing items between services and operations.
//!
//! Processes never import the runtime.

pub mod wasm_router;
