//! The `dicom-tcp` operation: delivers queued messages with C-STORE.

pub mod config;
pub(crate) mod operation;

pub use config::DicomScuConfig;

#[cfg(test)]
mod tests;
