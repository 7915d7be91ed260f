//! Applying a query hook's key edits to a query's identifier or to a match:
//! unlike a message's edits they reach inside sequence items, creating the
//! sequence and the item when missing (a worklist key such as Scheduled
//! Station AE Title lives in the first item of Scheduled Procedure Step
//! Sequence).

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::edit::{self, EditError};
use crate::dataset::{self, Stop};
use crate::plugin::{AttributeEdit, KeyEdit, PathStep, SetAttribute};

/// The identifier or match in `bytes` (encoded in `transfer_syntax`) with
/// `edits` applied, encoded again in the same transfer syntax.
///
/// # Errors
/// An invalid edit, a path through something that is not a sequence or past
/// its last item, or bytes that cannot be read in full.
pub fn edit_keys(
    bytes: &[u8],
    transfer_syntax: &str,
    edits: &[KeyEdit],
) -> Result<Vec<u8>, EditError> {
    let ts_uid = transfer_syntax.trim_end_matches('\0');
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| EditError::Io(format!("unknown transfer syntax {ts_uid}")))?;
    let data_set = dataset::read(
        std::io::Cursor::new(bytes),
        bytes.len() as u64,
        ts_uid,
        Stop::End,
    )
    .map_err(EditError::Io)?;
    if let Some(cut) = data_set.cut {
        return Err(EditError::Io(cut));
    }
    let mut object = data_set.object;
    for key in edits {
        let (path, edit) = match key {
            KeyEdit::Set(set) => (
                &set.at.path,
                AttributeEdit::Set(SetAttribute {
                    tag: set.at.tag,
                    vr: set.vr.clone(),
                    values: set.values.clone(),
                }),
            ),
            KeyEdit::Remove(at) => (&at.path, AttributeEdit::Remove(at.tag)),
        };
        at_path(&mut object, path, &mut |item| {
            edit::apply(item, std::slice::from_ref(&edit))
        })?;
    }
    let mut out = Vec::new();
    object
        .write_dataset_with_ts(&mut out, ts)
        .map_err(|e| EditError::Io(e.to_string()))?;
    Ok(out)
}

/// Runs `f` on the item `path` leads to, creating what is missing.
fn at_path(
    object: &mut InMemDicomObject,
    path: &[PathStep],
    f: &mut dyn FnMut(&mut InMemDicomObject) -> Result<(), EditError>,
) -> Result<(), EditError> {
    let Some((step, rest)) = path.split_first() else {
        return f(object);
    };
    let tag = edit::tag_of(step.sequence);
    let invalid = |reason: String| EditError::Invalid {
        action: "set",
        tag: tag.to_string(),
        reason,
    };
    let mut element = object.take(tag).unwrap_or_else(|| {
        DataElement::new(tag, VR::SQ, DataSetSequence::<InMemDicomObject>::empty())
    });
    let result = match element.items_mut() {
        None => Err(invalid("it is not a sequence".to_string())),
        Some(items) => {
            let index = usize::try_from(step.item).unwrap_or(usize::MAX);
            if index == items.len() {
                items.push(InMemDicomObject::new_empty());
            }
            match items.get_mut(index) {
                Some(item) => at_path(item, rest, f),
                None => Err(invalid(format!(
                    "item {index} is past the end of the sequence ({} items)",
                    items.len()
                ))),
            }
        }
    };
    object.put(element);
    result
}

#[cfg(test)]
mod tests {
    use dicom_core::Tag;

    use super::*;
    use crate::plugin::{KeyPath, SetKey};

    const EXPLICIT: &str = "1.2.840.10008.1.2.1";

    fn station(value: &str) -> KeyEdit {
        KeyEdit::Set(SetKey {
            at: KeyPath {
                path: vec![PathStep {
                    sequence: 0x0040_0100,
                    item: 0,
                }],
                tag: 0x0040_0001,
            },
            vr: "AE".into(),
            values: vec![value.into()],
        })
    }

    fn read(bytes: &[u8]) -> InMemDicomObject {
        dataset::read(
            std::io::Cursor::new(bytes),
            bytes.len() as u64,
            EXPLICIT,
            Stop::End,
        )
        .unwrap()
        .object
    }

    fn station_of(object: &InMemDicomObject) -> String {
        let step = object.get(Tag(0x0040, 0x0100)).unwrap().items().unwrap();
        step[0]
            .get(Tag(0x0040, 0x0001))
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn a_key_inside_a_missing_sequence_is_set_and_an_existing_one_replaced() {
        let empty = edit_keys(&[], EXPLICIT, &[station("MR1")]).unwrap();
        assert_eq!(station_of(&read(&empty)), "MR1");
        let replaced = edit_keys(&empty, EXPLICIT, &[station("CT1")]).unwrap();
        let object = read(&replaced);
        assert_eq!(station_of(&object), "CT1");
        assert_eq!(
            object
                .get(Tag(0x0040, 0x0100))
                .unwrap()
                .items()
                .unwrap()
                .len(),
            1
        );
        let removed = edit_keys(
            &replaced,
            EXPLICIT,
            &[KeyEdit::Remove(KeyPath {
                path: Vec::new(),
                tag: 0x0040_0100,
            })],
        )
        .unwrap();
        assert!(read(&removed).get(Tag(0x0040, 0x0100)).is_none());
    }

    #[test]
    fn a_path_past_the_items_or_through_a_value_is_refused() {
        let mut far = station("MR1");
        if let KeyEdit::Set(set) = &mut far {
            set.at.path[0].item = 3;
        }
        let err = edit_keys(&[], EXPLICIT, &[far]).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        let mut through = station("MR1");
        if let KeyEdit::Set(set) = &mut through {
            set.at.path[0].sequence = 0x0008_0060;
        }
        let with_modality = edit_keys(
            &[],
            EXPLICIT,
            &[KeyEdit::Set(SetKey {
                at: KeyPath {
                    path: Vec::new(),
                    tag: 0x0008_0060,
                },
                vr: "CS".into(),
                values: vec!["MR".into()],
            })],
        )
        .unwrap();
        let err = edit_keys(&with_modality, EXPLICIT, &[through]).unwrap_err();
        assert!(err.to_string().contains("not a sequence"), "{err}");
    }
}
