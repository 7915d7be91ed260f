//! The one integration test binary; modules are named after behaviour.

mod associations;
mod reference_tables;
