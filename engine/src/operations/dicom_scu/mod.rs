//! The `dicom-tcp` operation: delivers queued messages with C-STORE.

pub mod config;

pub use config::{DicomScuConfig, RetryPolicy};
