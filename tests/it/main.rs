//! The one integration test binary; modules are named after behaviour.
