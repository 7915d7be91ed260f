//! What C-MOVE and C-GET share (PS3.7 §9.1.3–§9.1.4, PS3.4 §C.4.2–§C.4.3):
//! the response with its sub-operation counts, and the Failed SOP Instance
//! UID List a final response carries in its data set (written here; read
//! where data sets from peers are read, with their lengths checked).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::c_echo::expect_field;
use super::{
    CommandError, DATA_SET_PRESENT, NO_DATA_SET, command_field, get_u16, opt_u16, opt_uid, ui, us,
};
use crate::dimse::status::{Status, StatusCategory};

/// Which retrieve a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retrieve {
    Move,
    Get,
}

impl Retrieve {
    /// The command field of its responses.
    pub fn response_field(self) -> u16 {
        match self {
            Retrieve::Move => command_field::C_MOVE_RSP,
            Retrieve::Get => command_field::C_GET_RSP,
        }
    }

    /// "C-MOVE" or "C-GET".
    pub fn name(self) -> &'static str {
        match self {
            Retrieve::Move => "C-MOVE",
            Retrieve::Get => "C-GET",
        }
    }
}

/// The sub-operation counts of a response, (0000,1020) to (0000,1023).
/// Each may be absent: a final response need not say Remaining (dcmqrscp's
/// does not), and some performers send no counts at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOperations {
    pub remaining: Option<u16>,
    pub completed: Option<u16>,
    pub failed: Option<u16>,
    pub warning: Option<u16>,
}

impl SubOperations {
    /// All four counts.
    pub fn new(remaining: u16, completed: u16, failed: u16, warning: u16) -> Self {
        Self {
            remaining: Some(remaining),
            completed: Some(completed),
            failed: Some(failed),
            warning: Some(warning),
        }
    }

    fn tagged(&self) -> [(dicom_core::Tag, Option<u16>); 4] {
        [
            (tags::NUMBER_OF_REMAINING_SUBOPERATIONS, self.remaining),
            (tags::NUMBER_OF_COMPLETED_SUBOPERATIONS, self.completed),
            (tags::NUMBER_OF_FAILED_SUBOPERATIONS, self.failed),
            (tags::NUMBER_OF_WARNING_SUBOPERATIONS, self.warning),
        ]
    }
}

/// C-MOVE-RSP or C-GET-RSP: pending ones (FF00) with the counts so far and
/// no data set, then a final one; a final one that is not a success may
/// carry the Failed SOP Instance UID List as its data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveRsp {
    pub retrieve: Retrieve,
    pub message_id_being_responded_to: u16,
    pub affected_sop_class_uid: String,
    pub status: Status,
    pub sub_operations: SubOperations,
    /// Whether a data set (the Failed SOP Instance UID List) follows.
    pub has_data_set: bool,
    /// (0000,0902): why it failed, in words.
    pub error_comment: Option<String>,
}

impl RetrieveRsp {
    /// A response without a data set or comment.
    pub fn new(
        retrieve: Retrieve,
        message_id_being_responded_to: u16,
        affected_sop_class_uid: &str,
        status: Status,
        sub_operations: SubOperations,
    ) -> Self {
        Self {
            retrieve,
            message_id_being_responded_to,
            affected_sop_class_uid: affected_sop_class_uid.to_string(),
            status,
            sub_operations,
            has_data_set: false,
            error_comment: None,
        }
    }

    /// # Errors
    /// [`CommandError`] when it is not a C-MOVE-RSP or C-GET-RSP or lacks a
    /// required element.
    pub fn from_command(obj: &InMemDicomObject, retrieve: Retrieve) -> Result<Self, CommandError> {
        let name = match retrieve {
            Retrieve::Move => "C-MOVE-RSP",
            Retrieve::Get => "C-GET-RSP",
        };
        expect_field(obj, retrieve.response_field(), name)?;
        Ok(Self {
            retrieve,
            message_id_being_responded_to: get_u16(
                obj,
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                "Message ID Being Responded To (0000,0120)",
            )?,
            affected_sop_class_uid: opt_uid(obj, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
            status: Status(get_u16(obj, tags::STATUS, "Status (0000,0900)")?),
            sub_operations: SubOperations {
                remaining: opt_u16(obj, tags::NUMBER_OF_REMAINING_SUBOPERATIONS),
                completed: opt_u16(obj, tags::NUMBER_OF_COMPLETED_SUBOPERATIONS),
                failed: opt_u16(obj, tags::NUMBER_OF_FAILED_SUBOPERATIONS),
                warning: opt_u16(obj, tags::NUMBER_OF_WARNING_SUBOPERATIONS),
            },
            has_data_set: super::has_data_set(obj),
            error_comment: opt_uid(obj, tags::ERROR_COMMENT),
        })
    }

    pub fn to_command(&self) -> InMemDicomObject {
        let mut elements = vec![
            us(tags::COMMAND_FIELD, self.retrieve.response_field()),
            us(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                self.message_id_being_responded_to,
            ),
            us(
                tags::COMMAND_DATA_SET_TYPE,
                if self.has_data_set {
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
        for (tag, count) in self.sub_operations.tagged() {
            if let Some(count) = count {
                elements.push(us(tag, count));
            }
        }
        if let Some(comment) = &self.error_comment {
            elements.push(super::error_comment(comment));
        }
        InMemDicomObject::command_from_element_iter(elements)
    }

    /// Whether more responses follow.
    pub fn is_pending(&self) -> bool {
        self.status.category() == StatusCategory::Pending
    }
}

/// The status in the words C-MOVE and C-GET give it (PS3.4 §C.4.2.1.5,
/// §C.4.3.1.4), where they differ from other services' (B000H is a
/// coercion warning for C-STORE).
fn retrieve_words(status: Status) -> &'static str {
    match status.code() {
        0xA701 => "Refused: Out of resources - Unable to calculate number of matches",
        0xA702 => "Refused: Out of resources - Unable to perform sub-operations",
        0xA801 => "Refused: Move Destination unknown",
        0xA900 => "Error: Identifier does not match SOP Class",
        0xB000 => "Warning: Sub-operations complete - One or more failures or warnings",
        0xC000..=0xCFFF => "Failed: Unable to process",
        0xFF00 => "Pending: Sub-operations are continuing",
        _ => status.words(),
    }
}

/// The status as the trace writes it, in retrieve words:
/// `#A801H[Refused: Move Destination unknown]`.
pub fn retrieve_status(status: Status) -> String {
    format!("#{:04X}H[{}]", status.code(), retrieve_words(status))
}

/// The data set of a final response: the Failed SOP Instance UID List
/// (0008,0058), encoded in `transfer_syntax`.
///
/// # Errors
/// [`CommandError::Encode`] for a transfer syntax that cannot encode it.
pub fn failed_uid_list(uids: &[String], transfer_syntax: &str) -> Result<Vec<u8>, CommandError> {
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax.trim_end_matches(['\0', ' ']))
        .ok_or_else(|| {
            CommandError::Encode(format!("unknown transfer syntax {transfer_syntax}"))
        })?;
    let obj = InMemDicomObject::from_element_iter([DataElement::new(
        tags::FAILED_SOP_INSTANCE_UID_LIST,
        VR::UI,
        PrimitiveValue::Strs(uids.iter().cloned().collect()),
    )]);
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, ts)
        .map_err(|e| CommandError::Encode(e.to_string()))?;
    Ok(out)
}
