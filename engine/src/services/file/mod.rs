//! The `file` service: ingests DICOM Part 10 files dropped into a folder.

pub mod config;
pub(crate) mod service;

pub use config::FileServiceConfig;
