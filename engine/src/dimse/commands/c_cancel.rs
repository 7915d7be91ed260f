//! C-CANCEL (PS3.7 §9.3.2.3): asks the performer of a C-FIND, C-GET or
//! C-MOVE to stop. It has no response of its own: the cancelled request
//! ends with FE00 (or whatever it had reached).

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::c_echo::expect_field;
use super::{CommandError, NO_DATA_SET, command_field, get_u16, us};

/// C-CANCEL-RQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CCancelRq {
    /// The Message ID of the request to cancel.
    pub message_id_being_responded_to: u16,
}

impl CCancelRq {
    /// # Errors
    /// [`CommandError`] when it is not a C-CANCEL-RQ or names no request.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_CANCEL_RQ, "C-CANCEL-RQ")?;
        Ok(Self {
            message_id_being_responded_to: get_u16(
                obj,
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                "Message ID Being Responded To (0000,0120)",
            )?,
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        InMemDicomObject::command_from_element_iter([
            us(tags::COMMAND_FIELD, command_field::C_CANCEL_RQ),
            us(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                self.message_id_being_responded_to,
            ),
            us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        ])
    }
}
