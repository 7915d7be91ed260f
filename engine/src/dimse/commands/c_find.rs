//! C-FIND (PS3.7 §9.1.2, §9.3.2). The identifier (query keys, or one match)
//! travels as the data set after the command.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::c_echo::expect_field;
use super::{
    CommandError, DATA_SET_PRESENT, NO_DATA_SET, Priority, command_field, get_u16, get_uid,
    opt_u16, opt_uid, ui, us,
};
use crate::dimse::status::{Status, StatusCategory};

/// C-FIND-RQ. The query identifier follows in data PDVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CFindRq {
    pub message_id: u16,
    pub affected_sop_class_uid: String,
    pub priority: Priority,
}

impl CFindRq {
    /// # Errors
    /// [`CommandError`] when it is not a C-FIND-RQ, lacks a required
    /// element or announces no identifier.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_FIND_RQ, "C-FIND-RQ")?;
        if !super::has_data_set(obj) {
            return Err(CommandError::Invalid(
                "Command Data Set Type (0000,0800): a C-FIND-RQ must carry an identifier",
            ));
        }
        Ok(Self {
            message_id: get_u16(obj, tags::MESSAGE_ID, "Message ID (0000,0110)")?,
            affected_sop_class_uid: get_uid(
                obj,
                tags::AFFECTED_SOP_CLASS_UID,
                "Affected SOP Class UID (0000,0002)",
            )?,
            priority: Priority::from_code(opt_u16(obj, tags::PRIORITY).unwrap_or(0)),
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        InMemDicomObject::command_from_element_iter([
            ui(tags::AFFECTED_SOP_CLASS_UID, &self.affected_sop_class_uid),
            us(tags::COMMAND_FIELD, command_field::C_FIND_RQ),
            us(tags::MESSAGE_ID, self.message_id),
            us(tags::PRIORITY, self.priority.code()),
            us(tags::COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT),
        ])
    }

    /// A response to this request: pending ones carry a match, the final
    /// one none.
    pub fn response(&self, status: Status) -> CFindRsp {
        CFindRsp {
            message_id_being_responded_to: self.message_id,
            affected_sop_class_uid: self.affected_sop_class_uid.clone(),
            status,
            has_identifier: status.category() == StatusCategory::Pending,
            error_comment: None,
        }
    }
}

/// C-FIND-RSP: pending (FF00, FF01) with one match as its data set, then a
/// final status without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CFindRsp {
    pub message_id_being_responded_to: u16,
    pub affected_sop_class_uid: String,
    pub status: Status,
    /// Whether a match follows as the data set.
    pub has_identifier: bool,
    /// (0000,0902): why a request failed, in words.
    pub error_comment: Option<String>,
}

impl CFindRsp {
    /// # Errors
    /// [`CommandError`] when it is not a C-FIND-RSP or lacks a required element.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_FIND_RSP, "C-FIND-RSP")?;
        Ok(Self {
            message_id_being_responded_to: get_u16(
                obj,
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                "Message ID Being Responded To (0000,0120)",
            )?,
            affected_sop_class_uid: opt_uid(obj, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
            status: Status(get_u16(obj, tags::STATUS, "Status (0000,0900)")?),
            has_identifier: super::has_data_set(obj),
            error_comment: opt_uid(obj, tags::ERROR_COMMENT),
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        let mut elements = vec![
            us(tags::COMMAND_FIELD, command_field::C_FIND_RSP),
            us(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                self.message_id_being_responded_to,
            ),
            us(
                tags::COMMAND_DATA_SET_TYPE,
                if self.has_identifier {
                    DATA_SET_PRESENT
                } else {
                    NO_DATA_SET
                },
            ),
            us(tags::STATUS, self.status.code()),
        ];
        if !self.affected_sop_class_uid.is_empty() {
            elements.push(ui(
                tags::AFFECTED_SOP_CLASS_UID,
                &self.affected_sop_class_uid,
            ));
        }
        if let Some(comment) = &self.error_comment {
            elements.push(super::error_comment(comment));
        }
        InMemDicomObject::command_from_element_iter(elements)
    }
}
