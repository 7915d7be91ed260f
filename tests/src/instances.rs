//! Test instances: small CT and MR Part 10 files in explicit or implicit VR,
//! and the data set bytes of a Part 10 file (after its meta group), to check
//! that what arrives is identical to what was sent.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

use crate::dicom::{CT_IMAGE_STORAGE, MR_IMAGE_STORAGE};

/// A kind of test instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    Ct,
    Mr,
}

/// Writes `count` instances into `dir` (`<prefix>-<n>.dcm`) with the given
/// transfer syntax and about `pixel_bytes` of pixel data each; returns
/// (path, SOP instance UID) in order.
pub fn write_instances(
    dir: &Path,
    prefix: &str,
    modality: Modality,
    transfer_syntax: &str,
    count: usize,
    pixel_bytes: usize,
) -> Vec<(PathBuf, String)> {
    let root = "1.2.826.0.1.3680043.10.1142";
    let series = format!("{root}.{}.{}", std::process::id(), prefix.len() + count);
    (1..=count)
        .map(|n| {
            let uid = format!(
                "{series}.{}.{n}",
                if modality == Modality::Ct { 1 } else { 2 }
            );
            let path = dir.join(format!("{prefix}-{n:04}.dcm"));
            write_instance(
                &path,
                modality,
                &uid,
                &series,
                transfer_syntax,
                pixel_bytes,
                n,
            );
            (path, uid)
        })
        .collect()
}

fn write_instance(
    path: &Path,
    modality: Modality,
    sop_instance_uid: &str,
    series: &str,
    transfer_syntax: &str,
    pixel_bytes: usize,
    n: usize,
) {
    let (sop_class, code) = match modality {
        Modality::Ct => (CT_IMAGE_STORAGE, "CT"),
        Modality::Mr => (MR_IMAGE_STORAGE, "MR"),
    };
    let pixels: Vec<u8> = (0..pixel_bytes)
        .map(|i| ((i + n) * 7 % 256) as u8)
        .collect();
    let side = u16::try_from(((pixel_bytes / 2) as f64).sqrt() as usize).unwrap_or(16);
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(sop_class)),
        DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance_uid),
        ),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from(code)),
        DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("Forward^Test"),
        ),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("SF-1")),
        DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(format!("{series}.9")),
        ),
        DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(series),
        ),
        DataElement::new(
            tags::INSTANCE_NUMBER,
            VR::IS,
            PrimitiveValue::from(n.to_string()),
        ),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(side)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(side)),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)),
    ]);
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(transfer_syntax)
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(sop_instance_uid),
    )
    .expect("meta group")
    .write_to_file(path)
    .expect("write the test file");
}

/// The data set bytes of a Part 10 file: everything after the meta group.
///
/// # Panics
/// When the file is not Part 10.
pub fn data_set_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[128..132],
        b"DICM",
        "{} is not Part 10",
        path.display()
    );
    let group_length = u32::from_le_bytes(bytes[140..144].try_into().expect("4 bytes")) as usize;
    bytes[144 + group_length..].to_vec()
}
