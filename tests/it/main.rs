//! The one integration test binary; modules are named after behaviour.

mod association_test;
mod associations;
mod c_store;
mod concurrency;
mod echo;
mod garbage;
mod negotiation;
mod reference_tables;
