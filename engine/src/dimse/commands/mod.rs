//! DIMSE command sets (PS3.7 §9, §E.1): one type per message with a
//! symmetric `from_command(&InMemDicomObject)` / `to_command()`, and the
//! command-set codec (always Implicit VR Little Endian, PS3.7 §6.3.1).
//!
//! Adapters see [`DimseCommand`], never PDVs or raw bytes.

mod c_cancel;
mod c_echo;
mod c_find;
mod c_get;
mod c_move;
mod c_store;
mod codec;
mod retrieve;

pub use c_cancel::CCancelRq;
pub use c_echo::{CEchoRq, CEchoRsp};
pub use c_find::{CFindRq, CFindRsp};
pub use c_get::CGetRq;
pub use c_move::CMoveRq;
pub use c_store::{CStoreRq, CStoreRsp, Priority};
pub use retrieve::{Retrieve, RetrieveRsp, SubOperations, failed_uid_list, retrieve_status};

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::status::Status;

/// The longest Error Comment (0000,0902) the standard allows (LO).
pub const MAX_ERROR_COMMENT: usize = 64;

/// The largest command set we accept. Real command sets are a few hundred
/// bytes; this bounds what a peer can make us buffer.
pub const MAX_COMMAND_SET_LENGTH: usize = 64 * 1024;

/// (0000,0800) value meaning "no data set follows" (PS3.7 §E.1).
pub const NO_DATA_SET: u16 = 0x0101;
/// A (0000,0800) value meaning "a data set follows"; any value but 0101H does.
pub const DATA_SET_PRESENT: u16 = 0x0000;

/// Command Field values (PS3.7 §E.1, Table E.1-1).
pub mod command_field {
    pub const C_STORE_RQ: u16 = 0x0001;
    pub const C_STORE_RSP: u16 = 0x8001;
    pub const C_GET_RQ: u16 = 0x0010;
    pub const C_GET_RSP: u16 = 0x8010;
    pub const C_FIND_RQ: u16 = 0x0020;
    pub const C_FIND_RSP: u16 = 0x8020;
    pub const C_MOVE_RQ: u16 = 0x0021;
    pub const C_MOVE_RSP: u16 = 0x8021;
    pub const C_ECHO_RQ: u16 = 0x0030;
    pub const C_ECHO_RSP: u16 = 0x8030;
    pub const N_EVENT_REPORT_RQ: u16 = 0x0100;
    pub const N_EVENT_REPORT_RSP: u16 = 0x8100;
    pub const N_GET_RQ: u16 = 0x0110;
    pub const N_GET_RSP: u16 = 0x8110;
    pub const N_SET_RQ: u16 = 0x0120;
    pub const N_SET_RSP: u16 = 0x8120;
    pub const N_ACTION_RQ: u16 = 0x0130;
    pub const N_ACTION_RSP: u16 = 0x8130;
    pub const N_CREATE_RQ: u16 = 0x0140;
    pub const N_CREATE_RSP: u16 = 0x8140;
    pub const N_DELETE_RQ: u16 = 0x0150;
    pub const N_DELETE_RSP: u16 = 0x8150;
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// The standard's name of a command field, e.g. "C-ECHO-RQ".
pub fn command_name(field: u16) -> Option<&'static str> {
    use command_field::*;
    Some(match field {
        C_STORE_RQ => "C-STORE-RQ",
        C_STORE_RSP => "C-STORE-RSP",
        C_GET_RQ => "C-GET-RQ",
        C_GET_RSP => "C-GET-RSP",
        C_FIND_RQ => "C-FIND-RQ",
        C_FIND_RSP => "C-FIND-RSP",
        C_MOVE_RQ => "C-MOVE-RQ",
        C_MOVE_RSP => "C-MOVE-RSP",
        C_ECHO_RQ => "C-ECHO-RQ",
        C_ECHO_RSP => "C-ECHO-RSP",
        N_EVENT_REPORT_RQ => "N-EVENT-REPORT-RQ",
        N_EVENT_REPORT_RSP => "N-EVENT-REPORT-RSP",
        N_GET_RQ => "N-GET-RQ",
        N_GET_RSP => "N-GET-RSP",
        N_SET_RQ => "N-SET-RQ",
        N_SET_RSP => "N-SET-RSP",
        N_ACTION_RQ => "N-ACTION-RQ",
        N_ACTION_RSP => "N-ACTION-RSP",
        N_CREATE_RQ => "N-CREATE-RQ",
        N_CREATE_RSP => "N-CREATE-RSP",
        N_DELETE_RQ => "N-DELETE-RQ",
        N_DELETE_RSP => "N-DELETE-RSP",
        C_CANCEL_RQ => "C-CANCEL-RQ",
        _ => return None,
    })
}

/// A command set that could not be decoded or lacks a required element.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("command set is {0} bytes long; at most {MAX_COMMAND_SET_LENGTH} are accepted")]
    TooLong(usize),
    #[error("command set is malformed: {0}")]
    Malformed(String),
    #[error("command set lacks {0}")]
    Missing(&'static str),
    #[error("command set has an invalid {0}")]
    Invalid(&'static str),
    #[error("expected {expected}, got command field {found:04X}H")]
    WrongCommand { expected: &'static str, found: u16 },
    #[error("could not encode the command set: {0}")]
    Encode(String),
}

/// A decoded DIMSE command set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DimseCommand {
    EchoRq(CEchoRq),
    EchoRsp(CEchoRsp),
    StoreRq(CStoreRq),
    StoreRsp(CStoreRsp),
    FindRq(CFindRq),
    FindRsp(CFindRsp),
    CancelRq(CCancelRq),
    MoveRq(CMoveRq),
    GetRq(CGetRq),
    /// C-MOVE-RSP or C-GET-RSP.
    RetrieveRsp(RetrieveRsp),
    /// Any other command: enough to answer it or report it.
    Other(OtherCommand),
}

/// A command this engine does not model, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherCommand {
    pub command_field: u16,
    pub message_id: Option<u16>,
    pub affected_sop_class_uid: Option<String>,
    pub has_data_set: bool,
}

impl DimseCommand {
    /// Decodes a command set from its Implicit VR LE bytes.
    ///
    /// # Errors
    /// [`CommandError`] when the bytes are not a valid command set or a
    /// required element is missing.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CommandError> {
        let obj = decode_command_set(bytes)?;
        Self::from_command(&obj)
    }

    /// Decodes an already parsed command set.
    ///
    /// # Errors
    /// [`CommandError::Missing`] when (0000,0100) or a required element of a
    /// modelled command is absent.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        let field = get_u16(obj, tags::COMMAND_FIELD, "Command Field (0000,0100)")?;
        Ok(match field {
            command_field::C_ECHO_RQ => Self::EchoRq(CEchoRq::from_command(obj)?),
            command_field::C_ECHO_RSP => Self::EchoRsp(CEchoRsp::from_command(obj)?),
            command_field::C_STORE_RQ => Self::StoreRq(CStoreRq::from_command(obj)?),
            command_field::C_STORE_RSP => Self::StoreRsp(CStoreRsp::from_command(obj)?),
            command_field::C_FIND_RQ => Self::FindRq(CFindRq::from_command(obj)?),
            command_field::C_FIND_RSP => Self::FindRsp(CFindRsp::from_command(obj)?),
            command_field::C_CANCEL_RQ => Self::CancelRq(CCancelRq::from_command(obj)?),
            command_field::C_MOVE_RQ => Self::MoveRq(CMoveRq::from_command(obj)?),
            command_field::C_GET_RQ => Self::GetRq(CGetRq::from_command(obj)?),
            command_field::C_MOVE_RSP => {
                Self::RetrieveRsp(RetrieveRsp::from_command(obj, Retrieve::Move)?)
            }
            command_field::C_GET_RSP => {
                Self::RetrieveRsp(RetrieveRsp::from_command(obj, Retrieve::Get)?)
            }
            other => Self::Other(OtherCommand {
                command_field: other,
                message_id: opt_u16(obj, tags::MESSAGE_ID),
                affected_sop_class_uid: opt_uid(obj, tags::AFFECTED_SOP_CLASS_UID),
                has_data_set: has_data_set(obj),
            }),
        })
    }

    /// Encodes the command set.
    ///
    /// # Errors
    /// [`CommandError::Encode`] (not expected for well-formed values), and
    /// for [`DimseCommand::Other`], which is never sent.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CommandError> {
        let obj = match self {
            Self::EchoRq(c) => c.to_command(),
            Self::EchoRsp(c) => c.to_command(),
            Self::StoreRq(c) => c.to_command(),
            Self::StoreRsp(c) => c.to_command(),
            Self::FindRq(c) => c.to_command(),
            Self::FindRsp(c) => c.to_command(),
            Self::CancelRq(c) => c.to_command(),
            Self::MoveRq(c) => c.to_command(),
            Self::GetRq(c) => c.to_command(),
            Self::RetrieveRsp(c) => c.to_command(),
            Self::Other(_) => {
                return Err(CommandError::Encode(
                    "a command this engine does not model cannot be sent".into(),
                ));
            }
        };
        encode_command_set(&obj)
    }

    /// The command field.
    pub fn command_field(&self) -> u16 {
        match self {
            Self::EchoRq(_) => command_field::C_ECHO_RQ,
            Self::EchoRsp(_) => command_field::C_ECHO_RSP,
            Self::StoreRq(_) => command_field::C_STORE_RQ,
            Self::StoreRsp(_) => command_field::C_STORE_RSP,
            Self::FindRq(_) => command_field::C_FIND_RQ,
            Self::FindRsp(_) => command_field::C_FIND_RSP,
            Self::CancelRq(_) => command_field::C_CANCEL_RQ,
            Self::MoveRq(_) => command_field::C_MOVE_RQ,
            Self::GetRq(_) => command_field::C_GET_RQ,
            Self::RetrieveRsp(c) => c.retrieve.response_field(),
            Self::Other(o) => o.command_field,
        }
    }

    /// Whether a data set follows this command set.
    pub fn has_data_set(&self) -> bool {
        match self {
            Self::StoreRq(_) | Self::FindRq(_) | Self::MoveRq(_) | Self::GetRq(_) => true,
            Self::FindRsp(c) => c.has_identifier,
            Self::RetrieveRsp(c) => c.has_data_set,
            Self::EchoRq(_) | Self::EchoRsp(_) | Self::StoreRsp(_) | Self::CancelRq(_) => false,
            Self::Other(o) => o.has_data_set,
        }
    }

    /// The affected SOP class UID, if the command carries one.
    pub fn affected_sop_class_uid(&self) -> Option<&str> {
        match self {
            Self::EchoRq(c) => Some(&c.affected_sop_class_uid),
            Self::EchoRsp(c) => Some(&c.affected_sop_class_uid),
            Self::StoreRq(c) => Some(&c.affected_sop_class_uid),
            Self::StoreRsp(c) => Some(&c.affected_sop_class_uid),
            Self::FindRq(c) => Some(&c.affected_sop_class_uid),
            Self::FindRsp(c) => {
                Some(c.affected_sop_class_uid.as_str()).filter(|uid| !uid.is_empty())
            }
            Self::MoveRq(c) => Some(&c.affected_sop_class_uid),
            Self::GetRq(c) => Some(&c.affected_sop_class_uid),
            Self::RetrieveRsp(c) => {
                Some(c.affected_sop_class_uid.as_str()).filter(|uid| !uid.is_empty())
            }
            Self::CancelRq(_) => None,
            Self::Other(o) => o.affected_sop_class_uid.as_deref(),
        }
    }

    /// The Message ID of a request.
    pub fn message_id(&self) -> Option<u16> {
        match self {
            Self::EchoRq(c) => Some(c.message_id),
            Self::StoreRq(c) => Some(c.message_id),
            Self::FindRq(c) => Some(c.message_id),
            Self::MoveRq(c) => Some(c.message_id),
            Self::GetRq(c) => Some(c.message_id),
            Self::EchoRsp(_)
            | Self::StoreRsp(_)
            | Self::FindRsp(_)
            | Self::RetrieveRsp(_)
            | Self::CancelRq(_) => None,
            Self::Other(o) => o.message_id,
        }
    }

    /// The Message ID Being Responded To of a response.
    pub fn message_id_being_responded_to(&self) -> Option<u16> {
        match self {
            Self::EchoRsp(c) => Some(c.message_id_being_responded_to),
            Self::StoreRsp(c) => Some(c.message_id_being_responded_to),
            Self::FindRsp(c) => Some(c.message_id_being_responded_to),
            Self::RetrieveRsp(c) => Some(c.message_id_being_responded_to),
            Self::CancelRq(c) => Some(c.message_id_being_responded_to),
            Self::EchoRq(_)
            | Self::StoreRq(_)
            | Self::FindRq(_)
            | Self::MoveRq(_)
            | Self::GetRq(_)
            | Self::Other(_) => None,
        }
    }

    /// Whether this is a request (bit 15 of the command field clear).
    pub fn is_request(&self) -> bool {
        self.command_field() & 0x8000 == 0
    }

    /// What is needed to answer this command with a failure status.
    pub fn to_other(&self) -> OtherCommand {
        match self {
            Self::Other(o) => o.clone(),
            modelled => OtherCommand {
                command_field: modelled.command_field(),
                message_id: modelled.message_id(),
                affected_sop_class_uid: modelled.affected_sop_class_uid().map(str::to_string),
                has_data_set: modelled.has_data_set(),
            },
        }
    }

    /// The status of a response.
    pub fn status(&self) -> Option<Status> {
        match self {
            Self::EchoRsp(c) => Some(c.status),
            Self::StoreRsp(c) => Some(c.status),
            Self::FindRsp(c) => Some(c.status),
            Self::RetrieveRsp(c) => Some(c.status),
            _ => None,
        }
    }

    /// [`Self::describe`], worked out only when displayed: for traces and
    /// logs that are usually off.
    pub fn described(&self) -> impl std::fmt::Display + '_ {
        struct Described<'a>(&'a DimseCommand);
        impl std::fmt::Display for Described<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0.describe())
            }
        }
        Described(self)
    }

    /// The trace form of the reference sample, e.g.
    /// `C-ECHO-RSP Verification SOP Class, status #0000H[Success]`.
    pub fn describe(&self) -> String {
        let name = command_name(self.command_field())
            .map(str::to_string)
            .unwrap_or_else(|| format!("command {:04X}H", self.command_field()));
        let mut out = name;
        if let Some(uid) = self.affected_sop_class_uid() {
            out.push(' ');
            out.push_str(&super::uids::uid_name_or_uid(uid));
        }
        if let Self::RetrieveRsp(c) = self {
            out.push_str(&format!(", status {}", retrieve_status(c.status)));
            let counts = c.sub_operations;
            for (name, count) in [
                ("remaining", counts.remaining),
                ("completed", counts.completed),
                ("failed", counts.failed),
                ("warning", counts.warning),
            ] {
                if let Some(n) = count {
                    out.push_str(&format!(", {n} {name}"));
                }
            }
        } else if let Some(status) = self.status() {
            out.push_str(&format!(", status {status}"));
        }
        out
    }
}

/// Encodes the response to a request this engine does not model (e.g. a
/// C-FIND-RQ on a service that only stores): the request's command field
/// with bit 15 set, its message ID, its SOP class and a failure status.
///
/// # Errors
/// [`CommandError::Encode`].
pub fn encode_failure_response(
    request: &OtherCommand,
    status: Status,
) -> Result<Vec<u8>, CommandError> {
    let mut elements = Vec::with_capacity(5);
    if let Some(uid) = &request.affected_sop_class_uid {
        elements.push(ui(tags::AFFECTED_SOP_CLASS_UID, uid));
    }
    elements.push(us(tags::COMMAND_FIELD, request.command_field | 0x8000));
    elements.push(us(
        tags::MESSAGE_ID_BEING_RESPONDED_TO,
        request.message_id.unwrap_or(0),
    ));
    elements.push(us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET));
    elements.push(us(tags::STATUS, status.code()));
    encode_command_set(&InMemDicomObject::command_from_element_iter(elements))
}

/// Parses command-set bytes (Implicit VR LE); see [`codec`].
///
/// # Errors
/// [`CommandError::TooLong`] or [`CommandError::Malformed`].
pub fn decode_command_set(bytes: &[u8]) -> Result<InMemDicomObject, CommandError> {
    codec::decode(bytes)
}

/// Encodes a command set as Implicit VR LE; see [`codec`].
///
/// # Errors
/// [`CommandError::Encode`].
pub fn encode_command_set(obj: &InMemDicomObject) -> Result<Vec<u8>, CommandError> {
    codec::encode(obj)
}

pub(crate) fn get_u16(
    obj: &InMemDicomObject,
    tag: Tag,
    name: &'static str,
) -> Result<u16, CommandError> {
    let element = obj.get(tag).ok_or(CommandError::Missing(name))?;
    element
        .to_int::<u16>()
        .map_err(|_| CommandError::Invalid(name))
}

pub(crate) fn opt_u16(obj: &InMemDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag).and_then(|e| e.to_int::<u16>().ok())
}

pub(crate) fn get_uid(
    obj: &InMemDicomObject,
    tag: Tag,
    name: &'static str,
) -> Result<String, CommandError> {
    opt_uid(obj, tag).ok_or(CommandError::Missing(name))
}

pub(crate) fn opt_uid(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = obj.get(tag)?;
    let text = element.to_str().ok()?;
    // Padding is a space or, from some peers, NULs; both go.
    let text = text.trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace());
    (!text.is_empty()).then(|| text.to_string())
}

pub(crate) fn opt_ae(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    opt_uid(obj, tag)
}

/// Error Comment (0000,0902): the text cut to what it holds, on a
/// character boundary, without the backslash LO forbids, in the default
/// repertoire (ASCII: other characters become `?`, which also keeps the
/// command set encodable).
fn error_comment(text: &str) -> DataElement<InMemDicomObject> {
    let value: String = text
        .replace('\\', "/")
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_ascii() { c } else { '?' })
        .take(MAX_ERROR_COMMENT)
        .collect();
    DataElement::new(tags::ERROR_COMMENT, VR::LO, PrimitiveValue::from(value))
}

pub(crate) fn has_data_set(obj: &InMemDicomObject) -> bool {
    opt_u16(obj, tags::COMMAND_DATA_SET_TYPE).is_some_and(|v| v != NO_DATA_SET)
}

pub(crate) fn us(tag: Tag, value: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(value))
}

pub(crate) fn ui(tag: Tag, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(value))
}

pub(crate) fn ae(tag: Tag, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::AE, PrimitiveValue::from(value))
}

#[cfg(test)]
mod tests;
