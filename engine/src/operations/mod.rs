//! Business operations: outbound items. A `dicom-tcp` operation is a DICOM
//! SCU delivering to one remote; a `dicom-query` operation answers the
//! queries a service relays by asking one upstream; a `file` operation
//! writes Part 10 files.
//! Each kind has its own folder and is registered by one line below.
//!
//! Operations never import the runtime: they get an [`ItemContext`].
//!
//! [`ItemContext`]: crate::component::ItemContext

pub mod dicom_query;
pub mod dicom_scu;
pub mod file;

use crate::component::kind::item_kinds;

item_kinds! {
    /// Every operation kind, by its `type` in the production file.
    pub enum OperationConfig {
        "dicom-tcp" => DicomTcp(dicom_scu::DicomScuConfig),
        "dicom-query" => DicomQuery(dicom_query::DicomQueryConfig),
        "file" => File(file::FileOperationConfig),
    }
}
