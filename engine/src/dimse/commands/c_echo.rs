//! C-ECHO (PS3.7 §9.1.5, §9.3.5).

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::{CommandError, NO_DATA_SET, command_field, get_u16, get_uid, opt_uid, ui, us};
use crate::dimse::status::Status;
use crate::dimse::uids::VERIFICATION;

/// C-ECHO-RQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEchoRq {
    pub message_id: u16,
    pub affected_sop_class_uid: String,
}

impl CEchoRq {
    /// A C-ECHO-RQ for the Verification SOP class.
    pub fn new(message_id: u16) -> Self {
        Self {
            message_id,
            affected_sop_class_uid: VERIFICATION.to_string(),
        }
    }

    /// # Errors
    /// [`CommandError`] when it is not a C-ECHO-RQ or lacks the Message ID.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_ECHO_RQ, "C-ECHO-RQ")?;
        Ok(Self {
            message_id: get_u16(obj, tags::MESSAGE_ID, "Message ID (0000,0110)")?,
            affected_sop_class_uid: opt_uid(obj, tags::AFFECTED_SOP_CLASS_UID)
                .unwrap_or_else(|| VERIFICATION.to_string()),
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        InMemDicomObject::command_from_element_iter([
            ui(tags::AFFECTED_SOP_CLASS_UID, &self.affected_sop_class_uid),
            us(tags::COMMAND_FIELD, command_field::C_ECHO_RQ),
            us(tags::MESSAGE_ID, self.message_id),
            us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        ])
    }

    /// The response to this request with a status.
    pub fn response(&self, status: Status) -> CEchoRsp {
        CEchoRsp {
            message_id_being_responded_to: self.message_id,
            affected_sop_class_uid: self.affected_sop_class_uid.clone(),
            status,
        }
    }
}

/// C-ECHO-RSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEchoRsp {
    pub message_id_being_responded_to: u16,
    pub affected_sop_class_uid: String,
    pub status: Status,
}

impl CEchoRsp {
    /// # Errors
    /// [`CommandError`] when it is not a C-ECHO-RSP or lacks a required element.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_ECHO_RSP, "C-ECHO-RSP")?;
        Ok(Self {
            message_id_being_responded_to: get_u16(
                obj,
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                "Message ID Being Responded To (0000,0120)",
            )?,
            affected_sop_class_uid: get_uid(
                obj,
                tags::AFFECTED_SOP_CLASS_UID,
                "Affected SOP Class UID (0000,0002)",
            )
            .unwrap_or_else(|_| VERIFICATION.to_string()),
            status: Status(get_u16(obj, tags::STATUS, "Status (0000,0900)")?),
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        InMemDicomObject::command_from_element_iter([
            ui(tags::AFFECTED_SOP_CLASS_UID, &self.affected_sop_class_uid),
            us(tags::COMMAND_FIELD, command_field::C_ECHO_RSP),
            us(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                self.message_id_being_responded_to,
            ),
            us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
            us(tags::STATUS, self.status.code()),
        ])
    }
}

pub(super) fn expect_field(
    obj: &InMemDicomObject,
    expected_field: u16,
    expected: &'static str,
) -> Result<(), CommandError> {
    let found = get_u16(obj, tags::COMMAND_FIELD, "Command Field (0000,0100)")?;
    if found == expected_field {
        Ok(())
    } else {
        Err(CommandError::WrongCommand { expected, found })
    }
}
