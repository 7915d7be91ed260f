//! The `pass-through` process: every message goes to all targets.

pub mod config;

pub use config::PassThroughConfig;
