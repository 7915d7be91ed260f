//! The `pass-through` process: every message goes to all targets.

pub mod config;
pub(crate) mod process;

pub use config::PassThroughConfig;
