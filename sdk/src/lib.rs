//! The Switchboard plugin SDK: write a routing plugin in plain Rust.
//!
//! The contract between the engine and a plugin is the WIT world in `wit/`.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
