//! The UIDs and names this implementation announces, and the well-known UIDs
//! the network layer needs. Every UID the engine writes on the wire comes from
//! here or from `dicom_dictionary_std::uids`; no inline literals elsewhere.

/// Our implementation class UID (PS3.7 §D.3.3.2), under the `2.25` UUID root
/// (PS3.5 §B.2), so it needs no registered organisation root.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.139071283764512948372901288764519203845";

/// Our implementation version name (PS3.7 §D.3.3.2): 1 to 16 characters.
pub const IMPLEMENTATION_VERSION_NAME: &str = "SWITCHBOARD_01";

/// The DICOM application context name (PS3.7 Annex A.2.1), the only one
/// defined.
pub const APPLICATION_CONTEXT_NAME: &str = "1.2.840.10008.3.1.1.1";

pub use crate::association::model::{IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION};

/// Explicit VR Little Endian (PS3.5 §A.2).
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN;

/// The display name of a SOP class or transfer syntax UID from the standard
/// dictionary, e.g. "Verification SOP Class" or "Implicit VR Little Endian".
pub fn uid_name(uid: &str) -> Option<&'static str> {
    use dicom_core::dictionary::UidDictionary;
    use dicom_encoding::TransferSyntaxIndex;
    let uid = uid.trim_end_matches('\0').trim();
    if let Some(entry) = dicom_dictionary_std::sop_class::registry().by_uid(uid) {
        return Some(entry.name);
    }
    dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name())
}

/// The name of a UID when known, else the UID itself.
pub fn uid_name_or_uid(uid: &str) -> String {
    match uid_name(uid) {
        Some(name) => name.to_string(),
        None => uid.trim_end_matches('\0').trim().to_string(),
    }
}
