//! The one integration test binary; modules are named after behaviour.

mod associations;
mod production_files;
mod reference_tables;
