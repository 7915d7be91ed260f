//! Business services: inbound items. A `dicom-tcp` service is a DICOM SCP; a
//! `file` service takes DICOM Part 10 files from a folder. Each kind has its
//! own folder with `config.rs` (its settings and their [`ItemConfig`]) and
//! the running task; it is registered by one line below.
//!
//! Services never import the runtime: they get an [`ItemContext`].
//!
//! [`ItemConfig`]: crate::component::ItemConfig
//! [`ItemContext`]: crate::component::ItemContext

#[cfg(test)]
pub mod crash_test;
pub mod dicom_scp;
pub(crate) mod file;

use crate::component::kind::item_kinds;

item_kinds! {
    /// Every service kind, by its `type` in the production file.
    pub enum ServiceConfig {
        "dicom-tcp" => DicomTcp(dicom_scp::DicomScpConfig),
        "file" => File(file::FileServiceConfig),
        #[cfg(test)]
        "crash-test" => CrashTest(crash_test::CrashTestConfig),
    }
}
