//! The plugin's attribute reads, answered from a DICOM data set read lazily.
//!
//! Nothing is read until the plugin asks for its first attribute; then the
//! data set is read once, up to Pixel Data (never the pixels), and kept for
//! the rest of the call. A data set whose lengths lie is read up to the lie
//! (see [`crate::dataset`]).

use std::path::PathBuf;
use std::sync::OnceLock;

use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_object::InMemDicomObject;

use crate::dataset::{self, Stop};
use crate::part10;
use crate::plugin::{AttributeSource, AttributeValue, PathStep};

/// Where the data set is.
#[derive(Debug, Clone)]
enum Origin {
    /// A data set without preamble or meta group (what a C-STORE SCP
    /// spools), encoded in this transfer syntax, in the first `size` bytes
    /// of the file (a body file has a trailer after it).
    Spooled {
        path: PathBuf,
        transfer_syntax: String,
        size: Option<u64>,
    },
    /// A Part-10 file.
    Part10 { path: PathBuf },
    /// Bytes in memory (a query's identifier, a match): a data set in this
    /// transfer syntax.
    Bytes {
        bytes: Vec<u8>,
        transfer_syntax: String,
    },
    /// Already in memory.
    Loaded,
}

/// Attribute reads over one message's data set.
#[derive(Debug)]
pub struct DicomSource {
    origin: Origin,
    header: OnceLock<Result<InMemDicomObject, String>>,
}

impl DicomSource {
    /// A spooled data set (no preamble, no meta group) in `transfer_syntax`.
    #[must_use]
    pub fn spooled(path: impl Into<PathBuf>, transfer_syntax: &str) -> Self {
        DicomSource {
            origin: Origin::Spooled {
                path: path.into(),
                transfer_syntax: transfer_syntax.trim_end_matches('\0').to_string(),
                size: None,
            },
            header: OnceLock::new(),
        }
    }

    /// A message body: the first `size` bytes of the file are the data set
    /// (no preamble or meta group) in `transfer_syntax`.
    #[must_use]
    pub fn body(path: impl Into<PathBuf>, size: u64, transfer_syntax: &str) -> Self {
        DicomSource {
            origin: Origin::Spooled {
                path: path.into(),
                transfer_syntax: transfer_syntax.trim_end_matches('\0').to_string(),
                size: Some(size),
            },
            header: OnceLock::new(),
        }
    }

    /// A Part-10 file (preamble, `DICM`, meta group, data set).
    #[must_use]
    pub fn part10(path: impl Into<PathBuf>) -> Self {
        DicomSource {
            origin: Origin::Part10 { path: path.into() },
            header: OnceLock::new(),
        }
    }

    /// A data set in `bytes` (no preamble or meta group), in `transfer_syntax`.
    #[must_use]
    pub fn bytes(bytes: Vec<u8>, transfer_syntax: &str) -> Self {
        DicomSource {
            origin: Origin::Bytes {
                bytes,
                transfer_syntax: transfer_syntax.trim_end_matches('\0').to_string(),
            },
            header: OnceLock::new(),
        }
    }

    /// A data set already in memory.
    #[must_use]
    pub fn in_memory(object: InMemDicomObject) -> Self {
        DicomSource {
            origin: Origin::Loaded,
            header: OnceLock::from(Ok(object)),
        }
    }

    /// Whether the data set has been read (a plugin that reads no attribute never reads it).
    #[must_use]
    pub fn is_loaded(&self) -> bool {
        self.header.get().is_some()
    }

    /// The data set up to Pixel Data, read on first use.
    ///
    /// # Errors
    /// Why the data set cannot be read.
    pub fn header(&self) -> Result<&InMemDicomObject, String> {
        self.header
            .get_or_init(|| {
                // The data set came from the network: a parser bug it
                // triggers must fail this message only, not the process.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.read()))
                    .unwrap_or_else(|_| {
                        Err(
                            "the data set could not be parsed (the DICOM parser failed on it)"
                                .to_string(),
                        )
                    })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn read(&self) -> Result<InMemDicomObject, String> {
        let (data_set, path) = match &self.origin {
            Origin::Spooled {
                path,
                transfer_syntax,
                size,
            } => (
                dataset::read_file(path, *size, transfer_syntax, Stop::BeforePixelData)?,
                path,
            ),
            Origin::Part10 { path } => {
                let (meta, file) = part10::open_data_set(path).map_err(|e| e.to_string())?;
                let len = file
                    .metadata()
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .len()
                    .saturating_sub(meta.data_set_offset);
                let data_set =
                    dataset::read(file, len, &meta.transfer_syntax, Stop::BeforePixelData)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                (data_set, path)
            }
            Origin::Bytes {
                bytes,
                transfer_syntax,
            } => {
                let data_set = dataset::read(
                    std::io::Cursor::new(bytes),
                    bytes.len() as u64,
                    transfer_syntax,
                    Stop::BeforePixelData,
                )?;
                return Ok(data_set.object);
            }
            Origin::Loaded => return Ok(InMemDicomObject::new_empty()),
        };
        // The plugin sees what could be read; the log says what could not.
        if let Some(cut) = &data_set.cut {
            tracing::warn!(file = %path.display(), "Data set read only in part: {cut}.");
        }
        if let Some(first) = data_set.repairs.first() {
            tracing::info!(
                file = %path.display(),
                repairs = data_set.repairs.len(),
                "Data set mis-encoded, read as DICOM readers do: {first}."
            );
        }
        Ok(data_set.object)
    }
}

/// Converts one element into the contract's text form.
#[must_use]
pub fn to_attribute_value(
    vr: VR,
    value: &Value<InMemDicomObject, dicom_object::mem::InMemFragment>,
) -> AttributeValue {
    let vr_text = vr.to_string().to_owned();
    match value {
        Value::Sequence(seq) => AttributeValue {
            vr: "SQ".to_string(),
            values: Vec::new(),
            items: u32::try_from(seq.items().len()).unwrap_or(u32::MAX),
        },
        Value::PixelSequence(_) => AttributeValue {
            vr: vr_text,
            values: Vec::new(),
            items: 0,
        },
        Value::Primitive(p) => {
            let binary = matches!(
                vr,
                VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN
            );
            let values = if binary {
                Vec::new()
            } else {
                p.to_multi_str()
                    .iter()
                    .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
                    .collect()
            };
            AttributeValue {
                vr: vr_text,
                values,
                items: 0,
            }
        }
    }
}

impl AttributeSource for DicomSource {
    fn attribute(&self, path: &[PathStep], tag: u32) -> Result<Option<AttributeValue>, String> {
        let mut object = self.header()?;
        for step in path {
            let Some(element) = object.get(to_tag(step.sequence)) else {
                return Ok(None);
            };
            let Some(item) = element
                .value()
                .items()
                .and_then(|items| items.get(usize::try_from(step.item).ok()?))
            else {
                return Ok(None);
            };
            object = item;
        }
        Ok(object
            .get(to_tag(tag))
            .map(|e| to_attribute_value(e.vr(), e.value())))
    }
}

fn to_tag(tag: u32) -> Tag {
    Tag((tag >> 16) as u16, (tag & 0xFFFF) as u16)
}
