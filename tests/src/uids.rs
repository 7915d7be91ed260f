//! The UIDs the tests name, under short names (from the standard's
//! dictionary, never typed out).

use dicom_dictionary_std::uids;

/// Implicit VR Little Endian.
pub const IMPLICIT: &str = uids::IMPLICIT_VR_LITTLE_ENDIAN;
/// Explicit VR Little Endian.
pub const EXPLICIT: &str = uids::EXPLICIT_VR_LITTLE_ENDIAN;
/// Explicit VR Big Endian: retired, but DCMTK still proposes it (`-pts 3`).
#[allow(deprecated)]
pub const BIG_ENDIAN: &str = uids::EXPLICIT_VR_BIG_ENDIAN;
/// JPEG Baseline (Process 1).
pub const JPEG_BASELINE: &str = uids::JPEG_BASELINE8_BIT;
/// Verification SOP Class.
pub const VERIFICATION: &str = uids::VERIFICATION;
/// CT Image Storage.
pub const CT_IMAGE_STORAGE: &str = uids::CT_IMAGE_STORAGE;
/// MR Image Storage.
pub const MR_IMAGE_STORAGE: &str = uids::MR_IMAGE_STORAGE;
