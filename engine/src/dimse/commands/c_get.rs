//! C-GET-RQ (PS3.7 §9.1.3, §9.3.3): retrieve what the identifier names on
//! the requester's own association, as C-STORE sub-operations the
//! performer sends back (the requester takes the SCP role for their SOP
//! classes). Its responses are [`RetrieveRsp`](super::RetrieveRsp)s.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::c_echo::expect_field;
use super::retrieve::{Retrieve, RetrieveRsp, SubOperations};
use super::{
    CommandError, DATA_SET_PRESENT, Priority, command_field, get_u16, get_uid, opt_u16, ui, us,
};
use crate::dimse::status::Status;

/// C-GET-RQ. The identifier follows in data PDVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CGetRq {
    pub message_id: u16,
    pub affected_sop_class_uid: String,
    pub priority: Priority,
}

impl CGetRq {
    /// # Errors
    /// [`CommandError`] when it is not a C-GET-RQ, lacks a required element
    /// or announces no identifier.
    pub fn from_command(obj: &InMemDicomObject) -> Result<Self, CommandError> {
        expect_field(obj, command_field::C_GET_RQ, "C-GET-RQ")?;
        if !super::has_data_set(obj) {
            return Err(CommandError::Invalid(
                "Command Data Set Type (0000,0800): a C-GET-RQ must carry an identifier",
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
            us(tags::COMMAND_FIELD, command_field::C_GET_RQ),
            us(tags::MESSAGE_ID, self.message_id),
            us(tags::PRIORITY, self.priority.code()),
            us(tags::COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT),
        ])
    }

    /// A response to this request with these counts.
    pub fn response(&self, status: Status, sub_operations: SubOperations) -> RetrieveRsp {
        RetrieveRsp::new(
            Retrieve::Get,
            self.message_id,
            &self.affected_sop_class_uid,
            status,
            sub_operations,
        )
    }
}
