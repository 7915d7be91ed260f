//! C-STORE (PS3.7 §9.1.1, §9.3.1).

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::c_echo::expect_field;
use super::{
    CommandError, DATA_SET_PRESENT, NO_DATA_SET, ae, command_field, get_u16, get_uid, opt_ae,
    opt_u16, opt_uid, ui, us,
};
use crate::dimse::status::Status;

/// The priority of a C-STORE, C-FIND, C-GET or C-MOVE (PS3.7 §9.1.1.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub fn code(self) -> u16 {
        match self {
            Priority::Medium => 0x0000,
            Priority::High => 0x0001,
            Priority::Low => 0x0002,
        }
    }

    /// Unknown codes read as medium, the default.
    pub fn from_code(code: u16) -> Self {
        match code {
            0x0001 => Priority::High,
            0x0002 => Priority::Low,
            _ => Priority::Medium,
        }
    }
}

/// C-STORE-RQ. The data set follows in data PDVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CStoreRq {
    pub message_id: u16,
    pub affected_sop_class_uid: String,
    pub affected_sop_instance_uid: String,
    pub priority: Priority,
    /// Set when the store is a C-MOVE sub-operation.
    pub move_originator_ae_title: Option<String>,
    pub move_originator_message_id: Option<u16>,
}

impl CStoreRq {
    /// # Errors
    /// [`CommandError`] when it is not a C-STORE-RQ or lacks a required element.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_STORE_RQ, "C-STORE-RQ")?;
        // A C-STORE-RQ always carries the instance (PS3.7 §9.3.1.1); one
        // that says it has none would leave the receiver waiting for data.
        if !super::has_data_set(obj) {
            return Err(CommandError::Invalid(
                "Command Data Set Type (0000,0800): a C-STORE-RQ must carry a data set",
            ));
        }
        Ok(Self {
            message_id: get_u16(obj, tags::MESSAGE_ID, "Message ID (0000,0110)")?,
            affected_sop_class_uid: get_uid(
                obj,
                tags::AFFECTED_SOP_CLASS_UID,
                "Affected SOP Class UID (0000,0002)",
            )?,
            affected_sop_instance_uid: get_uid(
                obj,
                tags::AFFECTED_SOP_INSTANCE_UID,
                "Affected SOP Instance UID (0000,1000)",
            )?,
            priority: Priority::from_code(opt_u16(obj, tags::PRIORITY).unwrap_or(0)),
            move_originator_ae_title: opt_ae(obj, tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE),
            move_originator_message_id: opt_u16(obj, tags::MOVE_ORIGINATOR_MESSAGE_ID),
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        let mut elements = vec![
            ui(tags::AFFECTED_SOP_CLASS_UID, &self.affected_sop_class_uid),
            us(tags::COMMAND_FIELD, command_field::C_STORE_RQ),
            us(tags::MESSAGE_ID, self.message_id),
            us(tags::PRIORITY, self.priority.code()),
            us(tags::COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT),
            ui(
                tags::AFFECTED_SOP_INSTANCE_UID,
                &self.affected_sop_instance_uid,
            ),
        ];
        if let Some(aet) = &self.move_originator_ae_title {
            elements.push(ae(tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE, aet));
        }
        if let Some(id) = self.move_originator_message_id {
            elements.push(us(tags::MOVE_ORIGINATOR_MESSAGE_ID, id));
        }
        InMemDicomObject::command_from_element_iter(elements)
    }

    /// The response to this request with a status.
    pub fn response(&self, status: Status) -> CStoreRsp {
        CStoreRsp {
            message_id_being_responded_to: self.message_id,
            affected_sop_class_uid: self.affected_sop_class_uid.clone(),
            affected_sop_instance_uid: self.affected_sop_instance_uid.clone(),
            status,
        }
    }
}

/// C-STORE-RSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CStoreRsp {
    pub message_id_being_responded_to: u16,
    pub affected_sop_class_uid: String,
    pub affected_sop_instance_uid: String,
    pub status: Status,
}

impl CStoreRsp {
    /// # Errors
    /// [`CommandError`] when it is not a C-STORE-RSP or lacks a required element.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_STORE_RSP, "C-STORE-RSP")?;
        Ok(Self {
            message_id_being_responded_to: get_u16(
                obj,
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                "Message ID Being Responded To (0000,0120)",
            )?,
            affected_sop_class_uid: opt_uid(obj, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
            affected_sop_instance_uid: opt_uid(obj, tags::AFFECTED_SOP_INSTANCE_UID)
                .unwrap_or_default(),
            status: Status(get_u16(obj, tags::STATUS, "Status (0000,0900)")?),
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        InMemDicomObject::command_from_element_iter([
            ui(tags::AFFECTED_SOP_CLASS_UID, &self.affected_sop_class_uid),
            us(tags::COMMAND_FIELD, command_field::C_STORE_RSP),
            us(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                self.message_id_being_responded_to,
            ),
            us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
            us(tags::STATUS, self.status.code()),
            ui(
                tags::AFFECTED_SOP_INSTANCE_UID,
                &self.affected_sop_instance_uid,
            ),
        ])
    }
}
