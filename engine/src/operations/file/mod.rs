//! The `file` operation: writes each message as `<SOPInstanceUID>.dcm`.

pub mod config;
pub(crate) mod operation;

pub use config::FileOperationConfig;
