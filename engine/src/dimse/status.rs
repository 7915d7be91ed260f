//! DIMSE status codes with their words (PS3.7 Annex C, PS3.4 for the
//! service-specific codes): `0000H [Success]`, `A700H [Refused: Out of
//! resources]`, …
//!
//! See <https://dicom.nema.org/medical/dicom/current/output/chtml/part07/chapter_C.html>.

use std::fmt;

/// A DIMSE status word, as carried in (0000,0900).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

/// The category of a status (PS3.7 §C.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCategory {
    Success,
    Warning,
    Failure,
    Cancel,
    Pending,
}

impl Status {
    /// 0000H: the operation completed.
    pub const SUCCESS: Status = Status(0x0000);
    /// A700H: C-STORE refused, out of resources (PS3.4 §B.2.3).
    pub const OUT_OF_RESOURCES: Status = Status(0xA700);
    /// 0122H: refused, SOP class not supported (PS3.7 §C.5.19).
    pub const SOP_CLASS_NOT_SUPPORTED: Status = Status(0x0122);
    /// 0124H: refused, not authorized (PS3.7 §C.5.21).
    pub const NOT_AUTHORIZED: Status = Status(0x0124);
    /// 0110H: processing failure (PS3.7 §C.4.2).
    pub const PROCESSING_FAILURE: Status = Status(0x0110);
    /// 0211H: unrecognized operation (PS3.7 §C.5.8).
    pub const UNRECOGNIZED_OPERATION: Status = Status(0x0211);
    /// C000H: C-STORE failure, cannot understand (PS3.4 §B.2.3).
    pub const CANNOT_UNDERSTAND: Status = Status(0xC000);
    /// C-FIND, C-GET, C-MOVE: ended by the requester's C-CANCEL.
    pub const CANCEL: Status = Status(0xFE00);
    /// C-FIND, C-GET, C-MOVE: a match (or sub-operation) follows.
    pub const PENDING: Status = Status(0xFF00);

    /// The status word.
    pub fn code(self) -> u16 {
        self.0
    }

    /// Whether this is 0000H.
    pub fn is_success(self) -> bool {
        self.0 == 0
    }

    /// The category (PS3.7 §C.1).
    pub fn category(self) -> StatusCategory {
        match self.0 {
            0x0000 => StatusCategory::Success,
            0x0001 | 0x0107 | 0x0116 | 0xB000..=0xBFFF => StatusCategory::Warning,
            0xFE00 => StatusCategory::Cancel,
            0xFF00 | 0xFF01 => StatusCategory::Pending,
            _ => StatusCategory::Failure,
        }
    }

    /// The status in words, e.g. "Success", "Refused: Out of resources".
    pub fn words(self) -> &'static str {
        match self.0 {
            0x0000 => "Success",
            0x0001 => "Warning: Requested optional attributes are not supported",
            0x0105 => "Failure: No such attribute",
            0x0106 => "Failure: Invalid attribute value",
            0x0107 => "Warning: Attribute list error",
            0x0110 => "Failure: Processing failure",
            0x0111 => "Failure: Duplicate SOP Instance",
            0x0112 => "Failure: No such SOP Instance",
            0x0113 => "Failure: No such event type",
            0x0114 => "Failure: No such argument",
            0x0115 => "Failure: Invalid argument value",
            0x0116 => "Warning: Attribute value out of range",
            0x0117 => "Failure: Invalid object instance",
            0x0118 => "Failure: No such SOP Class",
            0x0119 => "Failure: Class-instance conflict",
            0x0120 => "Failure: Missing attribute",
            0x0121 => "Failure: Missing attribute value",
            0x0122 => "Refused: SOP Class not supported",
            0x0123 => "Failure: No such action",
            0x0124 => "Refused: Not authorized",
            0x0210 => "Failure: Duplicate invocation",
            0x0211 => "Failure: Unrecognized operation",
            0x0212 => "Failure: Mistyped argument",
            0x0213 => "Failure: Resource limitation",
            0xA700..=0xA7FF => "Refused: Out of resources",
            0xA900..=0xA9FF => "Error: Data Set does not match SOP Class",
            0xB000..=0xBFFF => match self.0 {
                0xB000 => "Warning: Coercion of data elements",
                0xB006 => "Warning: Elements discarded",
                0xB007 => "Warning: Data Set does not match SOP Class",
                _ => "Warning",
            },
            0xC000..=0xCFFF => "Error: Cannot understand",
            0xFE00 => "Cancel",
            0xFF00 => "Pending",
            0xFF01 => "Pending: Optional keys not supported",
            _ => match self.category() {
                StatusCategory::Warning => "Warning",
                _ => "Failure",
            },
        }
    }
}

impl From<u16> for Status {
    fn from(code: u16) -> Self {
        Status(code)
    }
}

/// The reference trace form: `#0000H[Success]`.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:04X}H[{}]", self.0, self.words())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_categories() {
        assert_eq!(Status::SUCCESS.to_string(), "#0000H[Success]");
        assert_eq!(
            Status(0xA700).to_string(),
            "#A700H[Refused: Out of resources]"
        );
        assert_eq!(Status(0xA7FF).words(), "Refused: Out of resources");
        assert_eq!(Status(0xC123).words(), "Error: Cannot understand");
        assert_eq!(Status(0xB007).category(), StatusCategory::Warning);
        assert_eq!(Status(0xFF00).category(), StatusCategory::Pending);
        assert_eq!(Status(0xFE00).category(), StatusCategory::Cancel);
        assert_eq!(Status(0x0122).category(), StatusCategory::Failure);
        assert_eq!(Status(0x1234).words(), "Failure");
        assert!(Status::SUCCESS.is_success());
        assert!(!Status::OUT_OF_RESOURCES.is_success());
    }
}
