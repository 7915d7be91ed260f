//! The one integration test binary; modules are named after behaviour.

mod plugin_host;
mod plugins;
mod reference_tables;
