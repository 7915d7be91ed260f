//! What an identifier says: its level, the unique key of a match at that
//! level, and its keys for the trace.

use dicom_core::Tag;
use dicom_core::dictionary::DataDictionary;
use dicom_core::value::Value;
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;

use crate::message::QueryKey;

/// (0008,0052) Query/Retrieve Level.
const LEVEL: Tag = Tag(0x0008, 0x0052);
/// (0008,0005) Specific Character Set: how values are encoded, not a key.
const CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
/// Modality Worklist Information Model – FIND: it has no level.
const WORKLIST_FIND: &str = "1.2.840.10008.5.1.4.31";
/// Values longer than this are cut in the trace.
const MAX_VALUE_CHARS: usize = 64;

/// An identifier, read.
fn read(identifier: &[u8], transfer_syntax: &str) -> Option<InMemDicomObject> {
    crate::dataset::read(
        std::io::Cursor::new(identifier),
        identifier.len() as u64,
        transfer_syntax,
        crate::dataset::Stop::End,
    )
    .ok()
    .map(|d| d.object)
}

/// The tag that identifies a match at the request's level: PatientID,
/// StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID; none for a
/// worklist or an identifier without a level.
pub(super) fn unique_key(identifier: &[u8], transfer_syntax: &str) -> Option<Tag> {
    let level = key_value(identifier, transfer_syntax, LEVEL)?;
    match String::from_utf8_lossy(&level).trim_matches([' ', '\0']) {
        "PATIENT" => Some(Tag(0x0010, 0x0020)),
        "STUDY" => Some(Tag(0x0020, 0x000D)),
        "SERIES" => Some(Tag(0x0020, 0x000E)),
        "IMAGE" => Some(Tag(0x0008, 0x0018)),
        _ => None,
    }
}

/// The raw value of one top-level element of an identifier.
pub(super) fn key_value(identifier: &[u8], transfer_syntax: &str, tag: Tag) -> Option<Vec<u8>> {
    let object = read(identifier, transfer_syntax)?;
    let element = object.get(tag)?;
    Some(element.to_bytes().ok()?.into_owned())
}

/// The level (WORKLIST for a worklist query, `?` when the identifier
/// cannot be read or names none) and the keys, in the identifier's order.
pub(crate) fn summary(
    sop_class_uid: &str,
    identifier: &[u8],
    transfer_syntax: &str,
) -> (String, Vec<QueryKey>) {
    let Some(object) = read(identifier, transfer_syntax) else {
        return ("?".to_string(), Vec::new());
    };
    let level = if sop_class_uid == WORKLIST_FIND {
        "WORKLIST".to_string()
    } else {
        object
            .get(LEVEL)
            .and_then(|e| e.to_str().ok())
            .map(|l| l.trim_matches([' ', '\0']).to_string())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "?".to_string())
    };
    let mut keys = Vec::new();
    collect(&object, "", &mut keys);
    (level, keys)
}

fn collect(object: &InMemDicomObject, prefix: &str, keys: &mut Vec<QueryKey>) {
    for element in object {
        let tag = element.header().tag;
        if tag == LEVEL || tag == CHARACTER_SET {
            continue;
        }
        let keyword = format!("{prefix}{}", keyword(tag));
        match element.value() {
            Value::Sequence(seq) => match seq.items().first() {
                Some(item) => collect(item, &format!("{keyword}>"), keys),
                None => keys.push(QueryKey {
                    keyword,
                    value: String::new(),
                }),
            },
            _ => {
                let value = element
                    .to_str()
                    .map(|v| {
                        v.trim_matches([' ', '\0'])
                            .chars()
                            .take(MAX_VALUE_CHARS)
                            .collect()
                    })
                    .unwrap_or_default();
                keys.push(QueryKey { keyword, value });
            }
        }
    }
}

/// The dictionary's keyword, or `(gggg,eeee)`.
fn keyword(tag: Tag) -> String {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.alias.to_string())
        .unwrap_or_else(|| format!("({:04X},{:04X})", tag.0, tag.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (0008,0052) STUDY, (0010,0010) DOE^J*, (0020,000D) 1.2.3, implicit
    /// VR little endian.
    const STUDY_QUERY: &[u8] = &[
        0x08, 0, 0x52, 0, 6, 0, 0, 0, b'S', b'T', b'U', b'D', b'Y', b' ', //
        0x10, 0, 0x10, 0, 6, 0, 0, 0, b'D', b'O', b'E', b'^', b'J', b'*', //
        0x20, 0, 0x0D, 0, 6, 0, 0, 0, b'1', b'.', b'2', b'.', b'3', 0,
    ];
    const IMPLICIT: &str = "1.2.840.10008.1.2";

    #[test]
    fn the_unique_key_follows_the_level() {
        assert_eq!(unique_key(STUDY_QUERY, IMPLICIT), Some(Tag(0x0020, 0x000D)));
        let key = key_value(STUDY_QUERY, IMPLICIT, Tag(0x0020, 0x000D));
        assert_eq!(key.as_deref(), Some(&b"1.2.3\0"[..]));
    }

    #[test]
    fn the_summary_names_the_level_and_each_key_with_its_value() {
        let (level, keys) = summary("1.2.840.10008.5.1.4.1.2.2.1", STUDY_QUERY, IMPLICIT);
        assert_eq!(level, "STUDY");
        let keys: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k.keyword.as_str(), k.value.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("PatientName", "DOE^J*"), ("StudyInstanceUID", "1.2.3")]
        );
        assert_eq!(summary(WORKLIST_FIND, STUDY_QUERY, IMPLICIT).0, "WORKLIST");
        let unreadable = summary(WORKLIST_FIND, STUDY_QUERY, "1.2.3.4");
        assert_eq!(unreadable, ("?".to_string(), Vec::new()));
    }
}
