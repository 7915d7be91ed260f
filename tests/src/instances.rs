//! The one DICOM file writer: CT and MR Part 10 files in any uncompressed
//! transfer syntax, with or without (multi-frame) pixel data; and the data
//! set bytes of a Part 10 file (after its meta group), to check that what
//! arrives is identical to what was sent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

use crate::uids::{CT_IMAGE_STORAGE, EXPLICIT, MR_IMAGE_STORAGE};

/// The root of the UIDs the kit makes up.
const UID_ROOT: &str = "1.2.826.0.1.3680043.10.1142";

/// A kind of test instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// CT Image Storage, Modality `CT`.
    Ct,
    /// MR Image Storage, Modality `MR`.
    Mr,
}

impl Modality {
    fn sop_class_uid(self) -> &'static str {
        match self {
            Self::Ct => CT_IMAGE_STORAGE,
            Self::Mr => MR_IMAGE_STORAGE,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Ct => "CT",
            Self::Mr => "MR",
        }
    }
}

/// One test instance, written with [`Instance::write`]. Besides what is set
/// here it carries Patient's Name `Doe^Jane` and Institution Name `General
/// Hospital` (what the routing plugins' tests edit and read).
#[derive(Debug, Clone)]
pub struct Instance {
    modality: Modality,
    sop_instance_uid: String,
    transfer_syntax: String,
    patient_id: String,
    series_instance_uid: String,
    instance_number: Option<usize>,
    pixel_bytes: usize,
    frames: usize,
}

impl Instance {
    /// An instance with fixed UIDs, Patient ID `ID-1`, in Explicit VR Little
    /// Endian, without pixel data.
    pub fn new(modality: Modality) -> Self {
        Self {
            modality,
            sop_instance_uid: format!("{UID_ROOT}.1.1"),
            transfer_syntax: EXPLICIT.to_string(),
            patient_id: "ID-1".to_string(),
            series_instance_uid: format!("{UID_ROOT}.1"),
            instance_number: None,
            pixel_bytes: 0,
            frames: 1,
        }
    }

    /// With this SOP Instance UID.
    pub fn sop_instance_uid(mut self, uid: &str) -> Self {
        uid.clone_into(&mut self.sop_instance_uid);
        self
    }

    /// In this transfer syntax (Implicit or Explicit VR, little or big
    /// endian).
    pub fn transfer_syntax(mut self, uid: &str) -> Self {
        uid.clone_into(&mut self.transfer_syntax);
        self
    }

    /// With this Patient ID (the test plugin reads what to do from it).
    pub fn patient_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.patient_id);
        self
    }

    /// With `bytes` of 16-bit pixel data in `frames` frames.
    pub fn pixel_data(mut self, bytes: usize, frames: usize) -> Self {
        self.pixel_bytes = bytes;
        self.frames = frames.max(1);
        self
    }

    /// Writes it as a Part 10 file and returns its data set bytes (what a
    /// C-STORE carries).
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write(&self, path: &Path) -> Vec<u8> {
        let study = format!("{}.9", self.series_instance_uid);
        let mut elements = vec![
            element(tags::SOP_CLASS_UID, VR::UI, self.modality.sop_class_uid()),
            element(tags::SOP_INSTANCE_UID, VR::UI, &self.sop_instance_uid),
            element(tags::MODALITY, VR::CS, self.modality.code()),
            element(tags::INSTITUTION_NAME, VR::LO, "General Hospital"),
            element(tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
            element(tags::PATIENT_ID, VR::LO, &self.patient_id),
            element(tags::STUDY_INSTANCE_UID, VR::UI, &study),
            element(tags::SERIES_INSTANCE_UID, VR::UI, &self.series_instance_uid),
        ];
        if let Some(n) = self.instance_number {
            elements.push(element(tags::INSTANCE_NUMBER, VR::IS, &n.to_string()));
        }
        if self.pixel_bytes > 0 {
            // Different bytes per instance, so that a mix-up shows.
            let seed = self.instance_number.unwrap_or(0);
            let pixels: Vec<u8> = (0..self.pixel_bytes)
                .map(|i| ((i + seed) * 7 % 256) as u8)
                .collect();
            let side = ((self.pixel_bytes / self.frames / 2) as f64).sqrt() as u16;
            if self.frames > 1 {
                elements.push(element(
                    tags::NUMBER_OF_FRAMES,
                    VR::IS,
                    &self.frames.to_string(),
                ));
            }
            elements.extend([
                DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(side.max(1))),
                DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(side.max(1))),
                DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
                DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)),
            ]);
        }
        InMemDicomObject::from_element_iter(elements)
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(&self.transfer_syntax)
                    .media_storage_sop_class_uid(self.modality.sop_class_uid())
                    .media_storage_sop_instance_uid(&self.sop_instance_uid),
            )
            .expect("meta group")
            .write_to_file(path)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        data_set_bytes(path)
    }
}

fn element(tag: dicom_core::Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// Makes each series of this process new: instances of two series never
/// share a UID.
static SERIES: AtomicUsize = AtomicUsize::new(1);

/// Writes `count` instances like `template` into `dir`, as a new series
/// (`<prefix>-<n>.dcm`, instance numbers 1…count, each with its own SOP
/// Instance UID), and returns (path, SOP Instance UID) in order.
///
/// # Panics
/// When the folder or a file cannot be written.
pub fn write_series(
    dir: &Path,
    prefix: &str,
    count: usize,
    template: &Instance,
) -> Vec<(PathBuf, String)> {
    std::fs::create_dir_all(dir).expect("the instances' folder");
    let series = format!(
        "{UID_ROOT}.{}.{}",
        std::process::id(),
        SERIES.fetch_add(1, Ordering::Relaxed)
    );
    (1..=count)
        .map(|n| {
            let uid = format!("{series}.{n}");
            let path = dir.join(format!("{prefix}-{n:05}.dcm"));
            let mut instance = template.clone().sop_instance_uid(&uid);
            instance.series_instance_uid.clone_from(&series);
            instance.instance_number = Some(n);
            instance.write(&path);
            (path, uid)
        })
        .collect()
}

/// The paths of written instances (as [`write_series`] returns them).
pub fn paths_of(written: &[(PathBuf, String)]) -> Vec<PathBuf> {
    written.iter().map(|(p, _)| p.clone()).collect()
}

/// The SOP Instance UIDs of written instances (as [`write_series`]
/// returns them).
pub fn uids_of(written: &[(PathBuf, String)]) -> Vec<String> {
    written.iter().map(|(_, u)| u.clone()).collect()
}

/// [`write_series`] of `count` instances in `transfer_syntax` with
/// `pixel_bytes` of pixel data each.
pub fn write_instances(
    dir: &Path,
    prefix: &str,
    modality: Modality,
    transfer_syntax: &str,
    count: usize,
    pixel_bytes: usize,
) -> Vec<(PathBuf, String)> {
    let template = Instance::new(modality)
        .transfer_syntax(transfer_syntax)
        .pixel_data(pixel_bytes, 1);
    write_series(dir, prefix, count, &template)
}

/// The data set bytes of a Part 10 file: everything after the meta group.
///
/// # Panics
/// When the file is not Part 10.
pub fn data_set_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_data_set(&bytes).unwrap_or_else(|| panic!("{} is not Part 10", path.display()))
}

/// The data set bytes of a Part 10 file's bytes, if they are one (a file
/// still being written may not be yet).
pub fn read_data_set(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(128..132)? != b"DICM" {
        return None;
    }
    let group_length = u32::from_le_bytes(bytes.get(140..144)?.try_into().ok()?) as usize;
    Some(bytes.get(144 + group_length..)?.to_vec())
}

/// The study of instances written by [`write_instances`] (their series UID
/// with `.9`).
pub fn study_of(sop_instance_uid: &str) -> String {
    let series = sop_instance_uid.rsplit_once('.').map_or("", |(s, _)| s);
    format!("{series}.9")
}

/// Asserts that each instance of `sent` (file, SOP Instance UID) is in
/// `received` (files by SOP Instance UID) with the same data set;
/// `context` starts each message.
///
/// # Panics
/// On the first one missing or different.
pub fn assert_same_instances(
    sent: &[(PathBuf, String)],
    received: &std::collections::BTreeMap<String, PathBuf>,
    context: &str,
) {
    for (path, uid) in sent {
        let got = received
            .get(uid)
            .unwrap_or_else(|| panic!("{context}{uid} missing"));
        assert!(
            data_set_bytes(got) == data_set_bytes(path),
            "{context}{uid} differs"
        );
    }
}
