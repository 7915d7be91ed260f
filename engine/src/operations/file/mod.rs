//! The `file` operation: writes each message as `<SOPInstanceUID>.dcm`.

pub mod config;

pub use config::FileOperationConfig;
