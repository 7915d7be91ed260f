//! The one integration test binary; modules are named after behaviour.

mod reference_tables;
