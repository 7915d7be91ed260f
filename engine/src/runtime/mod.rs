//! The running topology and its lifecycle.

pub mod watch;
