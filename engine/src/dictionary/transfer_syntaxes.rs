//! Transfer syntaxes, as dicom-rs's transfer syntax registry knows them: the
//! list shows exactly what the engine can read and write.

use std::borrow::Cow;
use std::sync::LazyLock;

use dicom_core::header::{DataElementHeader, Length};
use dicom_core::{Tag, VR};
use dicom_encoding::{Endianness, TransferSyntax, TransferSyntaxIndex};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use serde::Serialize;

use super::Row;

/// One transfer syntax of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TransferSyntaxInfo {
    /// The transfer syntax UID, e.g. `1.2.840.10008.1.2.1`.
    pub uid: &'static str,
    /// Its name, e.g. `Explicit VR Little Endian`.
    pub name: &'static str,
    /// Whether data elements carry their VR (false only for implicit VR).
    pub explicit_vr: bool,
    /// Whether the byte order is big endian.
    pub big_endian: bool,
    /// Whether pixel data is encapsulated (compressed, or fragments).
    pub encapsulated: bool,
}

static TRANSFER_SYNTAXES: LazyLock<Vec<TransferSyntaxInfo>> = LazyLock::new(|| {
    let mut all: Vec<TransferSyntaxInfo> = TransferSyntaxRegistry.iter().map(info).collect();
    all.sort_by(|a, b| uid_order(a.uid, b.uid));
    all
});

/// Every transfer syntax of the registry, sorted by UID (numerically,
/// component by component).
pub fn transfer_syntaxes() -> Vec<TransferSyntaxInfo> {
    TRANSFER_SYNTAXES.clone()
}

/// The transfer syntax with this UID, if the registry knows it.
pub fn transfer_syntax(uid: &str) -> Option<TransferSyntaxInfo> {
    TRANSFER_SYNTAXES
        .iter()
        .find(|t| t.uid == uid.trim())
        .copied()
}

/// The name of the transfer syntax with this UID, if the registry knows it.
pub fn transfer_syntax_name(uid: &str) -> Option<&'static str> {
    TransferSyntaxRegistry
        .get(uid.trim())
        .map(TransferSyntax::name)
}

fn info(ts: &TransferSyntax) -> TransferSyntaxInfo {
    TransferSyntaxInfo {
        uid: ts.uid(),
        name: ts.name(),
        explicit_vr: writes_vr(ts),
        big_endian: ts.endianness() == Endianness::Big,
        encapsulated: ts.is_encapsulated_pixel_data(),
    }
}

/// Whether the transfer syntax writes the VR into element headers.
/// dicom-rs keeps that flag private, so ask its encoder: an explicit VR
/// header of a PN element carries the bytes `PN` after the tag; an implicit
/// one carries the value length there.
fn writes_vr(ts: &TransferSyntax) -> bool {
    let Some(encoder) = ts.encoder_for::<Vec<u8>>() else {
        // Only implicit VR big endian has no encoder, and it does not exist.
        return false;
    };
    let mut bytes = Vec::new();
    let header = DataElementHeader::new(Tag(0x0010, 0x0010), VR::PN, Length(4));
    encoder.encode_element_header(&mut bytes, header).is_ok() && bytes.get(4..6) == Some(b"PN")
}

/// Orders UIDs numerically, component by component (`1.2.840.10008.1.2` <
/// `1.2.840.10008.1.2.1` < `1.2.840.10008.1.2.4.50`).
pub(crate) fn uid_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(uid: &str) -> impl Iterator<Item = (usize, &str)> {
        uid.split('.').map(|c| (c.len(), c))
    }
    key(a).cmp(key(b))
}

impl Row for TransferSyntaxInfo {
    const HEADERS: &'static [&'static str] = &["UID", "Name", "VR", "Byte order", "Pixel data"];

    fn cells(&self) -> Vec<Cow<'static, str>> {
        vec![
            self.uid.into(),
            self.name.into(),
            if self.explicit_vr {
                "explicit"
            } else {
                "implicit"
            }
            .into(),
            if self.big_endian {
                "big endian"
            } else {
                "little endian"
            }
            .into(),
            if self.encapsulated {
                "encapsulated"
            } else {
                "native"
            }
            .into(),
        ]
    }
}
