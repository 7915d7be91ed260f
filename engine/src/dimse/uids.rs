//! The UIDs and names this implementation announces, and the well-known UIDs
//! the network layer needs. Every UID the engine writes on the wire comes from
//! here or from `dicom_dictionary_std::uids`; no inline literals elsewhere.

pub use crate::uids::{
    APPLICATION_CONTEXT_NAME, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME,
};

pub use crate::association::model::{IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION};

/// Explicit VR Little Endian (PS3.5 §A.2).
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN;

/// The display name of a SOP class or transfer syntax UID from the
/// reference tables, e.g. "Verification SOP Class" or "Implicit VR Little
/// Endian".
pub fn uid_name(uid: &str) -> Option<&'static str> {
    let uid = uid.trim_end_matches('\0').trim();
    crate::dictionary::sop_class_name(uid).or_else(|| crate::dictionary::transfer_syntax_name(uid))
}

/// The name of a UID when known, else the UID itself.
pub fn uid_name_or_uid(uid: &str) -> String {
    match uid_name(uid) {
        Some(name) => name.to_string(),
        None => uid.trim_end_matches('\0').trim().to_string(),
    }
}
