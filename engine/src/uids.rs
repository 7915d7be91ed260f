//! The UIDs and names this implementation announces on the wire. A leaf:
//! both the pure negotiation and the network layer use them.

/// Our implementation class UID (PS3.7 §D.3.3.2), under the `2.25` UUID root
/// (PS3.5 §B.2), so it needs no registered organisation root.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.139071283764512948372901288764519203845";

/// Our implementation version name (PS3.7 §D.3.3.2): 1 to 16 characters.
pub const IMPLEMENTATION_VERSION_NAME: &str = "SWITCHBOARD_01";

/// The DICOM application context name (PS3.7 Annex A.2.1), the only one
/// defined.
pub const APPLICATION_CONTEXT_NAME: &str = "1.2.840.10008.3.1.1.1";
