//! The `dicom-tcp` service: a DICOM SCP.

pub mod config;

pub use config::DicomScpConfig;
