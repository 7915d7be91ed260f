//! The one integration test binary; modules are named after behaviour.

mod association_test;
mod concurrency;
mod echo;
mod garbage;
mod negotiation;
mod reference_tables;
mod store;
