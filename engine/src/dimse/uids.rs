//! The well-known UIDs the network layer needs, and UIDs in words. What this
//! implementation announces is in [`crate::uids`]; every UID the engine
//! writes on the wire comes from there, from the association model or from
//! `dicom_dictionary_std::uids`: no inline literals elsewhere.

pub use crate::association::model::VERIFICATION;

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
