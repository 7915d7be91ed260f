//! Applying a decision's attribute edits to the forwarded copy. The stored
//! original is never touched: the edited data set is written to a new file.

use std::path::Path;
use std::str::FromStr;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::dataset::{self, Stop};
use crate::plugin::{AttributeEdit, SetAttribute};

/// An edit that cannot be applied, or the copy cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The edit itself is invalid (checked when the plugin returns it).
    #[error("cannot {action} {tag}: {reason}")]
    Invalid {
        /// "set" or "remove".
        action: &'static str,
        /// The tag as "(gggg,eeee)".
        tag: String,
        /// Why.
        reason: String,
    },
    /// Reading the original or writing the copy failed.
    #[error("{0}")]
    Io(String),
}

const BINARY: &[VR] = &[VR::OB, VR::OW, VR::OF, VR::OD, VR::OL, VR::OV, VR::UN];

pub(super) fn tag_of(raw: u32) -> Tag {
    Tag((raw >> 16) as u16, (raw & 0xFFFF) as u16)
}

fn check_tag(action: &'static str, tag: Tag) -> Result<(), EditError> {
    let reason = if tag.group() == 0x0000 || tag.group() == 0x0002 {
        "command and file meta attributes are not part of the data set"
    } else if tag.group() == 0xFFFE {
        "item delimiters are not attributes"
    } else if tag == Tag(0x7FE0, 0x0010) {
        "pixel data cannot be edited by a router"
    } else if tag.element() == 0x0000 {
        "group lengths are computed, not set"
    } else {
        return Ok(());
    };
    Err(EditError::Invalid {
        action,
        tag: tag.to_string(),
        reason: reason.to_string(),
    })
}

/// Checks every edit without applying it.
///
/// # Errors
/// The first invalid edit.
pub fn validate(edits: &[AttributeEdit]) -> Result<(), EditError> {
    for edit in edits {
        match edit {
            AttributeEdit::Remove(raw) => check_tag("remove", tag_of(*raw))?,
            AttributeEdit::Set(set) => {
                to_element(set)?;
            }
        }
    }
    Ok(())
}

fn parse_all<T: FromStr>(set: &SetAttribute, tag: Tag) -> Result<Vec<T>, EditError> {
    set.values
        .iter()
        .map(|v| {
            v.trim().parse::<T>().map_err(|_| EditError::Invalid {
                action: "set",
                tag: tag.to_string(),
                reason: format!("\"{v}\" is not a valid {} value", set.vr),
            })
        })
        .collect()
}

/// The element a set edit produces.
///
/// # Errors
/// An invalid tag, VR or value.
pub fn to_element(set: &SetAttribute) -> Result<DataElement<InMemDicomObject>, EditError> {
    let tag = tag_of(set.tag);
    check_tag("set", tag)?;
    let invalid = |reason: String| EditError::Invalid {
        action: "set",
        tag: tag.to_string(),
        reason,
    };
    let vr = VR::from_str(&set.vr).map_err(|_| invalid(format!("\"{}\" is not a VR", set.vr)))?;
    if vr == VR::SQ || BINARY.contains(&vr) {
        return Err(invalid(format!("{vr} values cannot be set by a router")));
    }
    if set.values.iter().any(|v| v.contains('\\'))
        && !matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR)
    {
        return Err(invalid(
            "a value contains a backslash; give multiple values as a list".to_string(),
        ));
    }
    let value = if set.values.is_empty() {
        PrimitiveValue::Empty
    } else {
        match vr {
            VR::US => PrimitiveValue::U16(parse_all(set, tag)?.into()),
            VR::UL => PrimitiveValue::U32(parse_all(set, tag)?.into()),
            VR::UV => PrimitiveValue::U64(parse_all(set, tag)?.into()),
            VR::SS => PrimitiveValue::I16(parse_all(set, tag)?.into()),
            VR::SL => PrimitiveValue::I32(parse_all(set, tag)?.into()),
            VR::SV => PrimitiveValue::I64(parse_all(set, tag)?.into()),
            VR::FL => PrimitiveValue::F32(parse_all(set, tag)?.into()),
            VR::FD => PrimitiveValue::F64(parse_all(set, tag)?.into()),
            VR::AT => {
                let tags: Result<Vec<Tag>, EditError> = set
                    .values
                    .iter()
                    .map(|v| {
                        parse_at(v)
                            .ok_or_else(|| invalid(format!("\"{v}\" is not a tag (gggg,eeee)")))
                    })
                    .collect();
                PrimitiveValue::Tags(tags?.into())
            }
            _ => text_value(&set.values),
        }
    };
    Ok(DataElement::new(tag, vr, value))
}

fn parse_at(text: &str) -> Option<Tag> {
    let hex: String = text
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .replace(',', "");
    let raw = u32::from_str_radix(&hex, 16)
        .ok()
        .filter(|_| hex.len() == 8)?;
    Some(tag_of(raw))
}

/// Applies edits in order to a data set in memory.
///
/// # Errors
/// The first invalid edit (nothing after it is applied).
pub fn apply(object: &mut InMemDicomObject, edits: &[AttributeEdit]) -> Result<(), EditError> {
    for edit in edits {
        match edit {
            AttributeEdit::Remove(raw) => {
                let tag = tag_of(*raw);
                check_tag("remove", tag)?;
                object.remove_element(tag);
            }
            AttributeEdit::Set(set) => {
                object.put(to_element(set)?);
            }
        }
    }
    Ok(())
}

/// The edited copy of a data set (no preamble or meta group, the first
/// `size` bytes of `path`, encoded in `transfer_syntax`), encoded in the same
/// transfer syntax. The whole data set, pixel data included, is read: only
/// do it when there are edits. Returns the bytes and the edited object's
/// SOP Class and Instance UIDs (an edit may have changed them).
///
/// # Errors
/// An invalid edit, an unknown transfer syntax, or an I/O or parse failure.
pub fn edited_copy(
    path: &Path,
    size: Option<u64>,
    transfer_syntax: &str,
    edits: &[AttributeEdit],
) -> Result<EditedCopy, EditError> {
    let ts_uid = transfer_syntax.trim_end_matches('\0');
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| EditError::Io(format!("unknown transfer syntax {ts_uid}")))?;
    let data_set = dataset::read_file(path, size, ts_uid, Stop::End).map_err(EditError::Io)?;
    // A copy of a cut data set would forward an instance with a part
    // missing: refuse the edit instead.
    if let Some(cut) = data_set.cut {
        return Err(EditError::Io(format!("{}: {cut}", path.display())));
    }
    let mut object = data_set.object;
    apply(&mut object, edits)?;
    // Group lengths (retired in data sets) would be stale after an edit.
    let group_lengths: Vec<Tag> = object
        .iter()
        .map(|e| e.header().tag)
        .filter(|t| t.element() == 0x0000)
        .collect();
    for tag in group_lengths {
        object.remove_element(tag);
    }
    let mut bytes = Vec::new();
    object
        .write_dataset_with_ts(&mut bytes, ts)
        .map_err(|e| EditError::Io(format!("{}: {e}", path.display())))?;
    let uid = |tag| {
        object
            .get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
    };
    Ok(EditedCopy {
        sop_class_uid: uid(Tag(0x0008, 0x0016)),
        sop_instance_uid: uid(Tag(0x0008, 0x0018)),
        bytes,
    })
}

/// An edited data set, ready to become a message body.
#[derive(Debug, Clone)]
pub struct EditedCopy {
    /// The encoded data set.
    pub bytes: Vec<u8>,
    /// SOP Class UID after the edits, if present.
    pub sop_class_uid: Option<String>,
    /// SOP Instance UID after the edits, if present.
    pub sop_instance_uid: Option<String>,
}

/// Text values as one primitive value (backslash-separated on the wire).
fn text_value(values: &[String]) -> PrimitiveValue {
    match values {
        [one] => PrimitiveValue::Str(one.clone()),
        many => PrimitiveValue::Strs(many.iter().cloned().collect()),
    }
}
