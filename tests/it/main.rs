//! The one integration test binary; modules are named after behaviour.

mod ae_directory;
mod association_test;
mod associations;
mod c_store;
mod concurrency;
mod delivery_failures;
mod doesnt_reload;
mod echo;
mod engine_lifecycle;
mod file_storage;
mod full_disk;
mod garbage;
mod message_trace;
mod mis_encoded;
mod namespaces;
mod negotiation;
mod plugin_host;
mod plugins;
mod private_data;
mod production_files;
mod quarantine;
mod reference_tables;
mod reload;
mod routing;
mod shutdown;
mod store_and_forward;
