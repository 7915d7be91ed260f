//! DICOM Part 10 files (PS3.10 §7.1): a 128-byte preamble, `DICM`, the file
//! meta group, then the data set. The one place that reads and writes them:
//! the file service and `plugin run` read them, the SCU sends their data
//! set, the file operation writes them. The data set itself is never
//! decoded or re-encoded here: it is copied as it is.
//!
//! Everything blocks (file I/O): from async code, call it on the blocking
//! pool.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use dicom_object::meta::{FileMetaTable, FileMetaTableBuilder};

use crate::uids::{IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME};

/// The preamble's length; `DICM` follows it.
const PREAMBLE: usize = 128;

/// What a Part 10 file's meta group says, and where its data set starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10Meta {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax: String,
    /// Byte offset of the data set in the file.
    pub data_set_offset: u64,
}

/// A file that could not be read or written as Part 10.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct Part10Error {
    pub path: PathBuf,
    pub problem: Problem,
}

/// What is wrong with a Part 10 file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a DICOM Part 10 file (no DICM prefix, with or without the 128-byte preamble)")]
    NotPart10,
    /// Boxed: the library's error is large (it carries a backtrace).
    #[error("unreadable file meta group: {0}")]
    Meta(Box<dicom_object::meta::Error>),
}

impl From<dicom_object::meta::Error> for Problem {
    fn from(e: dicom_object::meta::Error) -> Self {
        Self::Meta(Box::new(e))
    }
}

impl Problem {
    fn at(self, path: &Path) -> Part10Error {
        Part10Error {
            path: path.to_path_buf(),
            problem: self,
        }
    }
}

/// Reads the meta group of the Part 10 file at `path` (with or without the
/// 128-byte preamble).
///
/// # Errors
/// [`Part10Error`] naming the file and the problem.
pub fn read_meta(path: &Path) -> Result<Part10Meta, Part10Error> {
    let file = File::open(path).map_err(|e| Problem::from(e).at(path))?;
    read_meta_from(file).map_err(|p| p.at(path))
}

/// Opens the Part 10 file at `path` positioned at its data set, with what
/// its meta group says.
///
/// # Errors
/// [`Part10Error`] naming the file and the problem.
pub fn open_data_set(path: &Path) -> Result<(Part10Meta, File), Part10Error> {
    let mut file = File::open(path).map_err(|e| Problem::from(e).at(path))?;
    let meta = read_meta_from(&mut file).map_err(|p| p.at(path))?;
    file.seek(SeekFrom::Start(meta.data_set_offset))
        .map_err(|e| Problem::from(e).at(path))?;
    Ok((meta, file))
}

/// Reads a meta group from the start of `source`.
///
/// # Errors
/// [`Problem`].
pub fn read_meta_from<R: Read + Seek>(mut source: R) -> Result<Part10Meta, Problem> {
    let mut head = [0u8; PREAMBLE + 4];
    // One read may return fewer bytes than a valid file has (a pipe, a
    // network file system): read until the buffer is full or the file ends.
    let n = read_up_to(&mut source, &mut head)?;
    let start = if n == head.len() && &head[PREAMBLE..] == b"DICM" {
        PREAMBLE as u64
    } else if n >= 4 && &head[..4] == b"DICM" {
        0
    } else {
        return Err(Problem::NotPart10);
    };
    source.seek(SeekFrom::Start(start))?;
    let meta = FileMetaTable::from_reader(std::io::BufReader::new(&mut source))?;
    Ok(Part10Meta {
        sop_class_uid: meta.media_storage_sop_class_uid().to_string(),
        sop_instance_uid: meta.media_storage_sop_instance_uid().to_string(),
        transfer_syntax: meta.transfer_syntax().to_string(),
        // DICM + the (0002,0000) element (12 bytes, explicit VR LE) + the group.
        data_set_offset: start + 4 + 12 + u64::from(meta.information_group_length),
    })
}

/// Reads into `buf` until it is full or the source ends; returns the bytes
/// read.
fn read_up_to(source: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What the meta group of a new Part 10 file says.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    pub sop_class_uid: &'a str,
    pub sop_instance_uid: &'a str,
    /// The transfer syntax `data` is encoded in.
    pub transfer_syntax: &'a str,
    /// The AE title the data set came from, if any (empty: none).
    pub source_ae_title: &'a str,
    /// The file's mode, set whatever the umask (`None`: as the umask says).
    pub mode: Option<u32>,
}

/// Writes a Part 10 file at `path`: preamble, `DICM`, a meta group naming
/// this engine as the implementation, then `data` verbatim. Written to a
/// hidden temporary name in the same folder, fdatasynced, renamed over
/// `path` and the folder fsynced: a reader never sees half a file, and the
/// file survives a crash once this returns.
///
/// # Errors
/// [`Part10Error`]; no temporary file is left behind.
pub fn write(path: &Path, new: NewFile<'_>, mut data: impl Read) -> Result<(), Part10Error> {
    let mut builder = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(new.sop_class_uid)
        .media_storage_sop_instance_uid(new.sop_instance_uid)
        .transfer_syntax(new.transfer_syntax)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME);
    if !new.source_ae_title.is_empty() {
        builder = builder.source_application_entity_title(new.source_ae_title);
    }
    let meta = builder.build().map_err(|e| Problem::from(e).at(path))?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = folder.join(format!(".{}.part", name.unwrap_or_default()));
    let result = (|| -> Result<(), Problem> {
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
        out.write_all(&[0u8; PREAMBLE])?;
        out.write_all(b"DICM")?;
        meta.write(&mut out)?;
        std::io::copy(&mut data, &mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if let Some(mode) = new.mode {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.sync_data()?;
        std::fs::rename(&tmp, path)?;
        File::open(folder)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result.map_err(|p| p.at(path))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    const EXPLICIT: &str = "1.2.840.10008.1.2.1";

    fn new_file() -> NewFile<'static> {
        NewFile {
            sop_class_uid: CT,
            sop_instance_uid: "1.2.3.4",
            transfer_syntax: EXPLICIT,
            source_ae_title: "MODALITY",
            mode: Some(0o640),
        }
    }

    /// A reader that hands out one byte per call, as a pipe or a network
    /// file system may.
    struct Trickle(Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    impl Seek for Trickle {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.0.seek(to)
        }
    }

    #[test]
    fn a_written_file_reads_back_with_its_data_set_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.2.3.4.dcm");
        let data = b"\x08\x00\x60\x00\x02\x00\x00\x00CT".to_vec();
        write(&path, new_file(), &data[..]).unwrap();
        let meta = read_meta(&path).unwrap();
        assert_eq!(meta.sop_class_uid, CT);
        assert_eq!(meta.sop_instance_uid, "1.2.3.4");
        assert_eq!(meta.transfer_syntax, EXPLICIT);
        let (_, mut file) = open_data_set(&path).unwrap();
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    /// Regression: the prefix was read with a single `read`, which may
    /// return fewer bytes than a valid file has, and the file was refused
    /// as not Part 10.
    #[test]
    fn a_short_read_does_not_reject_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.dcm");
        write(&path, new_file(), &b""[..]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let meta = read_meta_from(Trickle(Cursor::new(bytes.clone()))).unwrap();
        assert_eq!(meta, read_meta(&path).unwrap());
        assert_eq!(meta.data_set_offset, bytes.len() as u64);
        // Without the preamble too.
        let meta = read_meta_from(Trickle(Cursor::new(bytes[PREAMBLE..].to_vec()))).unwrap();
        assert_eq!(meta.sop_instance_uid, "1.2.3.4");
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(
            &path,
            "not DICOM at all, but longer than a preamble ".repeat(4),
        )
        .unwrap();
        let e = read_meta(&path).unwrap_err();
        assert!(matches!(e.problem, Problem::NotPart10), "{e}");
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        assert!(matches!(
            read_meta(&dir.path().join("missing.dcm"))
                .unwrap_err()
                .problem,
            Problem::Io(_)
        ));
    }
}
