//! The command set on the wire (PS3.7 §6.3.1: Implicit VR Little Endian,
//! group 0000 only), read and written element by element. A command set
//! is a dozen small elements of known VRs; the generic data-set codec
//! spent more instructions on each C-STORE's two command sets than the rest
//! of their handling (counted with callgrind), so it is only the fallback
//! for values a command never holds.

use dicom_core::header::Header as _;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_object::InMemDicomObject;

use super::{CommandError, MAX_COMMAND_SET_LENGTH};

/// Parses command-set bytes. Every element length is checked against the
/// bytes actually present and against its VR's value size (a UL of 11
/// bytes would leave a parser reading the next header from the middle of a
/// value), so nothing is sized from an untrusted length.
///
/// # Errors
/// [`CommandError::TooLong`] or [`CommandError::Malformed`].
pub(super) fn decode(bytes: &[u8]) -> Result<InMemDicomObject, CommandError> {
    if bytes.len() > MAX_COMMAND_SET_LENGTH {
        return Err(CommandError::TooLong(bytes.len()));
    }
    let mut rest = bytes;
    let mut elements = Vec::with_capacity(12);
    while !rest.is_empty() {
        let Some((header, after)) = rest.split_first_chunk::<8>() else {
            return Err(CommandError::Malformed("truncated element header".into()));
        };
        let group = u16::from_le_bytes([header[0], header[1]]);
        let element = u16::from_le_bytes([header[2], header[3]]);
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if group != 0x0000 {
            return Err(CommandError::Malformed(format!(
                "element of group {group:04X} in a command set"
            )));
        }
        let Some((value, after)) = after.split_at_checked(len) else {
            return Err(CommandError::Malformed(format!(
                "element length {len} exceeds the {} bytes left",
                after.len()
            )));
        };
        let tag = Tag(group, element);
        let vr = vr_of(tag);
        let unit = value_unit(vr);
        if !len.is_multiple_of(unit) {
            return Err(CommandError::Malformed(format!(
                "element (0000,{element:04X}) has {len} bytes, not a multiple of {unit}"
            )));
        }
        // The length read, as the generic reader keeps it.
        let length = Length(u32::try_from(len).unwrap_or(u32::MAX));
        elements.push(DataElement::new_with_len(
            tag,
            vr,
            length,
            primitive(vr, value),
        ));
        rest = after;
    }
    Ok(InMemDicomObject::from_element_iter(elements))
}

/// Encodes a command set.
///
/// # Errors
/// [`CommandError::Encode`].
pub(super) fn encode(obj: &InMemDicomObject) -> Result<Vec<u8>, CommandError> {
    let mut out = Vec::with_capacity(256);
    for element in obj {
        let Value::Primitive(value) = element.value() else {
            return encode_generic(obj);
        };
        let tag = element.tag();
        let start = out.len();
        out.extend_from_slice(&tag.group().to_le_bytes());
        out.extend_from_slice(&tag.element().to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        if !write_value(&mut out, value) {
            return encode_generic(obj);
        }
        if (out.len() - start) % 2 == 1 {
            // UIs are padded with a NUL, other text with a space.
            out.push(if element.vr() == VR::UI { 0 } else { b' ' });
        }
        let len = u32::try_from(out.len() - start - 8)
            .map_err(|_| CommandError::Encode(format!("element {tag} is too long")))?;
        out.get_mut(start + 4..start + 8)
            .ok_or_else(|| CommandError::Encode("element header".into()))?
            .copy_from_slice(&len.to_le_bytes());
    }
    Ok(out)
}

/// The generic data-set writer, for values a command set never holds.
pub(super) fn encode_generic(obj: &InMemDicomObject) -> Result<Vec<u8>, CommandError> {
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut out = Vec::with_capacity(256);
    obj.write_dataset_with_ts(&mut out, &ts)
        .map_err(|e| CommandError::Encode(e.to_string()))?;
    Ok(out)
}

/// Appends a value's bytes; `false` for a kind of value commands never hold.
fn write_value(out: &mut Vec<u8>, value: &PrimitiveValue) -> bool {
    match value {
        PrimitiveValue::Empty => {}
        PrimitiveValue::Str(s) => return write_text(out, s),
        PrimitiveValue::Strs(values) => {
            for (n, s) in values.iter().enumerate() {
                if n > 0 {
                    out.push(b'\\');
                }
                if !write_text(out, s) {
                    return false;
                }
            }
        }
        PrimitiveValue::U16(values) => values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        PrimitiveValue::U32(values) => values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        PrimitiveValue::I16(values) => values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        PrimitiveValue::I32(values) => values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        PrimitiveValue::Tags(values) => values.iter().for_each(|t| {
            out.extend_from_slice(&t.group().to_le_bytes());
            out.extend_from_slice(&t.element().to_le_bytes());
        }),
        PrimitiveValue::U8(bytes) => out.extend_from_slice(bytes),
        _ => return false,
    }
    true
}

/// Appends text as the generic writer does: each character one byte (see
/// [`text`]); `false` for a character beyond that.
fn write_text(out: &mut Vec<u8>, s: &str) -> bool {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
        return true;
    }
    s.chars()
        .all(|c| u8::try_from(u32::from(c)).map(|b| out.push(b)).is_ok())
}

/// A value as the generic reader makes it: numbers by VR, text split at
/// backslashes (padding kept: readers trim it).
fn primitive(vr: VR, value: &[u8]) -> PrimitiveValue {
    if value.is_empty() {
        return PrimitiveValue::Empty;
    }
    let pairs = || value.chunks_exact(2).map(|c| [c[0], c[1]]);
    let quads = || value.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
    match vr {
        VR::US => PrimitiveValue::U16(pairs().map(u16::from_le_bytes).collect()),
        VR::SS => PrimitiveValue::I16(pairs().map(i16::from_le_bytes).collect()),
        VR::UL => PrimitiveValue::U32(quads().map(u32::from_le_bytes).collect()),
        VR::SL => PrimitiveValue::I32(quads().map(i32::from_le_bytes).collect()),
        VR::AT => PrimitiveValue::Tags(
            quads()
                .map(|q| {
                    Tag(
                        u16::from_le_bytes([q[0], q[1]]),
                        u16::from_le_bytes([q[2], q[3]]),
                    )
                })
                .collect(),
        ),
        VR::AE
        | VR::UI
        | VR::LO
        | VR::SH
        | VR::CS
        | VR::DA
        | VR::TM
        | VR::DT
        | VR::IS
        | VR::DS
        | VR::AS
        | VR::PN
        | VR::UC => PrimitiveValue::Strs(text(value).split('\\').map(str::to_string).collect()),
        VR::LT | VR::ST | VR::UT | VR::UR => PrimitiveValue::Str(text(value)),
        _ => PrimitiveValue::U8(value.iter().copied().collect()),
    }
}

/// Text in the default character repertoire, read as the generic reader
/// reads it: each byte one character (bytes outside ASCII, which a command
/// set should not hold, as ISO 8859-1).
fn text(value: &[u8]) -> String {
    value.iter().copied().map(char::from).collect()
}

/// The VR of a command element (PS3.7 Annex E); the dictionary's for the
/// retired ones.
fn vr_of(tag: Tag) -> VR {
    match tag.element() {
        0x0000 => VR::UL,
        0x0002 | 0x0003 | 0x1000 | 0x1001 => VR::UI,
        0x0100
        | 0x0110
        | 0x0120
        | 0x0700
        | 0x0800
        | 0x0900
        | 0x0903
        | 0x1002
        | 0x1008
        | 0x1020..=0x1023
        | 0x1031 => VR::US,
        0x0600 | 0x1030 => VR::AE,
        0x0901 | 0x1005 => VR::AT,
        0x0902 => VR::LO,
        _ => {
            use dicom_core::dictionary::DataDictionary as _;
            dicom_dictionary_std::StandardDataDictionary
                .by_tag(tag)
                .map_or(VR::UN, |entry| entry.vr.relaxed())
        }
    }
}

/// What a value's length must be a multiple of: its VR's value size (every
/// DICOM value length is even).
fn value_unit(vr: VR) -> usize {
    match vr {
        VR::UL | VR::SL | VR::AT | VR::FL | VR::OL | VR::OF => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 2,
    }
}
