//! The plugin's attribute reads, answered from a DICOM data set read lazily.
//!
//! Nothing is read until the plugin asks for its first attribute; then the
//! data set is read once, up to Pixel Data (never the pixels), and kept for
//! the rest of the call.

use std::path::PathBuf;
use std::sync::OnceLock;

use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_object::collector::DicomCollector;
use dicom_object::file::ReadPreamble;
use dicom_object::{DicomCollectorOptions, InMemDicomObject};

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
        let mut object = InMemDicomObject::new_empty();
        match &self.origin {
            Origin::Spooled {
                path,
                transfer_syntax,
                size,
            } => {
                let file = BoundedFile::open(path, *size)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut collector = DicomCollectorOptions::new()
                    .read_preamble(ReadPreamble::Never)
                    .expected_ts(transfer_syntax.clone())
                    .from_reader(std::io::BufReader::new(file));
                collector
                    .read_dataset_up_to_pixeldata(&mut object)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Origin::Part10 { path } => {
                let mut collector = DicomCollector::open_file(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                collector
                    .read_file_meta()
                    .map_err(|e| format!("{}: not a DICOM Part-10 file: {e}", path.display()))?;
                collector
                    .read_dataset_up_to_pixeldata(&mut object)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Origin::Loaded => {}
        }
        Ok(object)
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

/// A file seen as only its first `len` bytes (a body's data set without its trailer).
#[derive(Debug)]
pub struct BoundedFile {
    file: std::fs::File,
    len: u64,
    pos: u64,
}

impl BoundedFile {
    /// Opens `path`, limited to `len` bytes (the whole file when `None`).
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(path: &std::path::Path, len: Option<u64>) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let actual = file.metadata()?.len();
        Ok(BoundedFile {
            file,
            len: len.map_or(actual, |l| l.min(actual)),
            pos: 0,
        })
    }
}

impl std::io::Read for BoundedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.len.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for BoundedFile {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        self.pos = self.file.seek(std::io::SeekFrom::Start(target))?;
        Ok(self.pos)
    }
}
