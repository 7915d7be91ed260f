//! Body files: the data sets of messages, one file per message under
//! `<data-dir>/bodies/<id>.dcm`, written once and never changed.
//!
//! A body file holds the data set exactly as received (no preamble, no meta
//! group, in the transfer syntax it arrived in), followed by a trailer: the
//! message's namespace, header and targets as JSON, its length (u32 LE) and
//! the magic `SWBTRL01`. Readers use the header's `size` and never see the
//! trailer. The trailer makes every body self-describing: if sled's files
//! are ever corrupt, scanning `bodies/` and reading the trailers is enough
//! to rebuild the message headers and queues ([`Bodies::read_trailer`]).
//!
//! C-STORE data sets arrive in `<data-dir>/spool/` (same file system, so the
//! move into `bodies/` is a rename). A spool file left by a crash was never
//! acknowledged and is removed on start.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::messages::{ItemAddress, MessageHeader, MessageId};
use crate::ids::NamespaceId;

/// The folder of body files inside the data directory.
pub const BODIES_DIR: &str = "bodies";
/// The folder C-STORE data sets are spooled into while they arrive.
pub const SPOOL_DIR: &str = "spool";
const TRAILER_MAGIC: &[u8; 8] = b"SWBTRL01";
/// A trailer longer than this is not ours.
const MAX_TRAILER: u32 = 1 << 20;

/// What a body's trailer says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyTrailer {
    pub id: MessageId,
    pub namespace: NamespaceId,
    pub header: MessageHeader,
    pub targets: Vec<ItemAddress>,
}

/// The body files of a data directory.
#[derive(Debug, Clone)]
pub struct Bodies {
    dir: PathBuf,
    spool: PathBuf,
}

impl Bodies {
    /// Creates the folders when missing and clears the spool.
    ///
    /// # Errors
    /// The folders cannot be created.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join(BODIES_DIR);
        let spool = data_dir.join(SPOOL_DIR);
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(&spool)?;
        for entry in std::fs::read_dir(&spool)?.flatten() {
            std::fs::remove_file(entry.path()).ok();
        }
        sync_dir(data_dir)?;
        Ok(Self { dir, spool })
    }

    /// Where data sets are spooled while they arrive.
    pub fn spool_dir(&self) -> &Path {
        &self.spool
    }

    /// The folder of body files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The body file of a message.
    pub fn path(&self, id: MessageId) -> PathBuf {
        self.dir.join(format!("{}.dcm", id.0))
    }

    /// Makes a spooled data set the body of message `id`: appends the
    /// trailer, fsyncs the file and renames it into `bodies/`. The rename
    /// becomes durable with the next [`Self::sync_dir`] (the group commit).
    ///
    /// # Errors
    /// I/O errors; the spool file is left for the caller to remove.
    pub fn adopt(&self, spool_path: &Path, trailer: &BodyTrailer) -> std::io::Result<PathBuf> {
        let mut file = OpenOptions::new().append(true).open(spool_path)?;
        let len = file.metadata()?.len();
        if len != trailer.header.size {
            return Err(std::io::Error::other(format!(
                "spooled data set is {len} bytes, expected {}",
                trailer.header.size
            )));
        }
        write_trailer(&mut file, trailer)?;
        file.sync_data()?;
        let path = self.path(trailer.id);
        std::fs::rename(spool_path, &path)?;
        Ok(path)
    }

    /// Writes a body from a reader (e.g. the data set of a Part 10 file):
    /// spool, trailer, fsync, rename.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(
        &self,
        mut data: impl Read,
        trailer: &mut BodyTrailer,
    ) -> std::io::Result<PathBuf> {
        let spool = self.spool.join(format!("{}.part", trailer.id.0));
        let result = (|| {
            let mut file = File::create(&spool)?;
            trailer.header.size = std::io::copy(&mut data, &mut file)?;
            write_trailer(&mut file, trailer)?;
            file.sync_data()?;
            let path = self.path(trailer.id);
            std::fs::rename(&spool, &path)?;
            Ok(path)
        })();
        if result.is_err() {
            std::fs::remove_file(&spool).ok();
        }
        result
    }

    /// fsyncs the bodies folder, making renames into it durable.
    ///
    /// # Errors
    /// I/O errors.
    pub fn sync_dir(&self) -> std::io::Result<()> {
        sync_dir(&self.dir)
    }

    /// Opens a body for reading, limited to its data set.
    ///
    /// # Errors
    /// I/O errors (e.g. the body was purged).
    pub fn open_data_set(&self, id: MessageId, size: u64) -> std::io::Result<std::io::Take<File>> {
        Ok(File::open(self.path(id))?.take(size))
    }

    /// Removes a body file (retention). Missing is fine.
    ///
    /// # Errors
    /// I/O errors other than "not found".
    pub fn remove(&self, id: MessageId) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every body file with its id, size on disk and modification time.
    ///
    /// # Errors
    /// I/O errors reading the folder.
    pub fn list(&self) -> std::io::Result<Vec<(MessageId, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".dcm"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((MessageId(id), size));
        }
        out.sort();
        Ok(out)
    }

    /// Reads the trailer of a body file: the basis of a rebuild of the
    /// message store from the bodies alone.
    ///
    /// # Errors
    /// I/O errors, or a file without a valid trailer.
    pub fn read_trailer(path: &Path) -> std::io::Result<BodyTrailer> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < 12 {
            return Err(std::io::Error::other("too short for a trailer"));
        }
        let mut tail = [0u8; 12];
        file.seek(SeekFrom::Start(len - 12))?;
        file.read_exact(&mut tail)?;
        if &tail[4..] != TRAILER_MAGIC {
            return Err(std::io::Error::other("no trailer"));
        }
        let n = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if n > MAX_TRAILER || u64::from(n) + 12 > len {
            return Err(std::io::Error::other("trailer length out of range"));
        }
        let mut json = vec![0u8; n as usize];
        file.seek(SeekFrom::Start(len - 12 - u64::from(n)))?;
        file.read_exact(&mut json)?;
        serde_json::from_slice(&json).map_err(std::io::Error::other)
    }
}

fn write_trailer(file: &mut File, trailer: &BodyTrailer) -> std::io::Result<()> {
    let json = serde_json::to_vec(trailer).map_err(std::io::Error::other)?;
    let n = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    let mut tail = json;
    tail.extend_from_slice(&n.to_le_bytes());
    tail.extend_from_slice(TRAILER_MAGIC);
    file.write_all(&tail)
}

/// fsyncs a directory so that entries created or renamed in it are durable.
///
/// # Errors
/// I/O errors.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}
