//! A stand-in for `crate::dictionary` until the generated reference tables
//! land; same function names, a handful of entries. Deleted on merge.
#![allow(dead_code)]

/// What a name column shows for a UID the registry does not know.
pub const UNKNOWN: &str = "(unknown)";

/// One SOP class of the registry.
#[derive(Debug, Clone, Copy)]
pub struct SopClass {
    pub uid: &'static str,
    pub name: &'static str,
    pub keyword: &'static str,
    pub retired: bool,
}

const SOP_CLASSES: &[SopClass] = &[
    SopClass {
        uid: "1.2.840.10008.1.1",
        name: "Verification SOP Class",
        keyword: "Verification",
        retired: false,
    },
    SopClass {
        uid: "1.2.840.10008.5.1.4.1.1.2",
        name: "CT Image Storage",
        keyword: "CTImageStorage",
        retired: false,
    },
    SopClass {
        uid: "1.2.840.10008.5.1.4.31",
        name: "Modality Worklist Information Model - FIND",
        keyword: "ModalityWorklistInformationModelFind",
        retired: false,
    },
];

/// Every SOP class of the registry.
pub fn sop_classes() -> &'static [SopClass] {
    SOP_CLASSES
}

/// The name of a SOP class.
pub fn sop_class_name(uid: &str) -> Option<&'static str> {
    SOP_CLASSES.iter().find(|c| c.uid == uid).map(|c| c.name)
}

/// The name of a transfer syntax.
pub fn transfer_syntax_name(uid: &str) -> Option<&'static str> {
    match uid {
        "1.2.840.10008.1.2" => Some("Implicit VR Little Endian"),
        "1.2.840.10008.1.2.1" => Some("Explicit VR Little Endian"),
        "1.2.840.10008.1.2.2" => Some("Explicit VR Big Endian"),
        _ => None,
    }
}
