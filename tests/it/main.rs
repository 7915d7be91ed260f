//! The one integration test binary; modules are named after behaviour.

mod production_files;
mod reference_tables;
