//! Body files: the data sets of messages, one file per message in
//! `<data-dir>/bodies/`, written once and never changed.
//!
//! A body file holds the data set exactly as received (no preamble, no meta
//! group, in the transfer syntax it arrived in), followed by a trailer: the
//! message's id, namespace, header and targets as JSON, its length (u32 LE)
//! and the magic `SWBTRL` followed by the trailer's format version as two
//! ASCII digits (`SWBTRL01`). Readers use the header's `size` and never see
//! the trailer. The trailer makes every body self-describing: if sled's files
//! are ever corrupt, scanning `bodies/` and reading the trailers is enough
//! to rebuild the message headers and queues (see [`super::recover`]).
//!
//! C-STORE data sets are spooled straight into this folder by the SCP, and
//! the body keeps the spool file's name (recorded in the header): no rename,
//! so making a message durable costs one `fdatasync` of its file (which on
//! a journaling file system also commits its creation) and a shared fsync of
//! the folder in the group commit. A file without a valid trailer was never
//! acknowledged (a transfer cut short) and is removed on start; a file
//! whose trailer is there but cannot be read (an I/O error, a damaged or
//! newer trailer) goes to quarantine instead (see [`super::quarantine`]).
//!
//! The folder fsync that makes a new file's entry durable costs a journal
//! commit (about 1.5 ms here, more than the 512 KiB data sync), so the SCP
//! spools into files of a pool ([`Bodies::take_spool_file`]): empty files
//! created ahead in batches, each batch made durable by one folder fsync
//! before any of its files is handed out. Such a body needs only its own
//! `fdatasync` (data, size and trailer) to be durable. Unused pool files are
//! empty, so they have no trailer and are removed on start like any other
//! unacknowledged file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::latch::SyncLatch;
use crate::ids::NamespaceId;
use crate::message::{ItemAddress, MessageHeader, MessageId};

/// The folder of body files inside the data directory.
pub const BODIES_DIR: &str = "bodies";
/// The trailer's magic, followed by its format version (two ASCII digits).
const TRAILER_MAGIC: &[u8; 6] = b"SWBTRL";
/// The trailer format this engine writes and reads.
const TRAILER_VERSION: &[u8; 2] = b"01";
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

/// How many pre-created spool files the pool holds after a refill.
const POOL_SIZE: usize = 32;
/// A refill starts when fewer than this many are left.
const POOL_LOW_WATER: usize = 16;

/// The body files of a data directory.
#[derive(Debug, Clone)]
pub struct Bodies {
    dir: PathBuf,
    pool: Arc<SpoolPool>,
    /// Shared with the store ([`super::Store::bodies`]).
    latch: SyncLatch,
    /// The free-space floor below which nothing more is taken in.
    space: Arc<SpaceFloor>,
}

/// Intake stops while the data directory's file system has less than
/// `floor` bytes free: the store's own log must never be the write that
/// finds the disk full (sled 0.34 keeps such an error until reopened),
/// and a body cut short by a full disk only costs a refused C-STORE.
#[derive(Debug, Default)]
struct SpaceFloor {
    floor: u64,
    /// Below the floor at the last look (logged once per change).
    low: AtomicBool,
}

/// Empty files in the bodies folder whose directory entries are already
/// durable, ready for the SCP to spool into.
#[derive(Debug, Default)]
struct SpoolPool {
    ready: Mutex<Vec<PathBuf>>,
    refilling: AtomicBool,
    next: AtomicU64,
}

impl Bodies {
    /// Creates the folder when missing.
    ///
    /// # Errors
    /// The folder cannot be created.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join(BODIES_DIR);
        std::fs::create_dir_all(&dir)?;
        sync_dir(data_dir)?;
        Ok(Self {
            dir,
            pool: Arc::default(),
            latch: SyncLatch::default(),
            space: Arc::default(),
        })
    }

    /// These bodies with a free-space floor (bytes; 0 checks nothing).
    pub fn with_free_space_floor(mut self, floor: u64) -> Self {
        self.space = Arc::new(SpaceFloor {
            floor,
            low: AtomicBool::new(false),
        });
        self
    }

    /// Why nothing can be taken in now, if so: an earlier sync failed, or
    /// the file system is below the free-space floor. Each change of the
    /// free-space state is logged once, not once per refused message.
    pub fn refuses(&self) -> Option<String> {
        if let Err(latched) = self.latch.check() {
            return Some(latched.to_string());
        }
        let floor = self.space.floor;
        if floor == 0 {
            return None;
        }
        let free = match fs2::available_space(&self.dir) {
            Ok(free) => free,
            // Cannot tell: the writes themselves will say.
            Err(_) => return None,
        };
        let low = free < floor;
        if self.space.low.swap(low, Ordering::AcqRel) != low {
            if low {
                tracing::error!(
                    free_mib = free >> 20,
                    floor_mib = floor >> 20,
                    folder = %self.dir.display(),
                    "Low on disk space: new messages are refused (A700) until space is freed. Nothing acknowledged is affected."
                );
            } else {
                tracing::info!(
                    free_mib = free >> 20,
                    "Disk space is back above the floor: taking messages in again."
                );
            }
        }
        low.then(|| {
            format!(
                "only {} MiB free in {}, below the floor of {} MiB",
                free >> 20,
                self.dir.display(),
                floor >> 20
            )
        })
    }

    /// These bodies with the store's sync latch.
    pub(super) fn with_latch(mut self, latch: SyncLatch) -> Self {
        self.latch = latch;
        self
    }

    /// fdatasyncs a body file; a failure latches.
    fn sync_file(&self, file: &File, path: &Path) -> std::io::Result<()> {
        self.latch.watch(path, file.sync_data())
    }

    /// Takes an empty spool file from the pool: it exists in
    /// [`Self::spool_dir`] and its directory entry is already durable, so
    /// [`Self::adopt`] need not sync the folder for it. `None` when the pool
    /// is empty (the caller then creates its own file); either way a
    /// background refill starts when the pool runs low.
    pub fn take_spool_file(&self) -> Option<PathBuf> {
        let (taken, left) = {
            let mut ready = self
                .pool
                .ready
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let taken = ready.pop();
            (taken, ready.len())
        };
        if left < POOL_LOW_WATER && !self.pool.refilling.swap(true, Ordering::AcqRel) {
            let bodies = self.clone();
            let spawned = std::thread::Builder::new()
                .name("spool-pool".into())
                .spawn(move || {
                    if let Err(error) = bodies.refill_pool() {
                        tracing::warn!(%error, "Could not pre-create spool files; new files will be created per message.");
                    }
                    bodies.pool.refilling.store(false, Ordering::Release);
                });
            if spawned.is_err() {
                self.pool.refilling.store(false, Ordering::Release);
            }
        }
        taken
    }

    /// Creates empty files up to [`POOL_SIZE`], fsyncs the folder once, and
    /// only then offers them.
    fn refill_pool(&self) -> std::io::Result<()> {
        let have = self
            .pool
            .ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        let mut created = Vec::with_capacity(POOL_SIZE.saturating_sub(have));
        let result = (|| {
            for _ in have..POOL_SIZE {
                let n = self.pool.next.fetch_add(1, Ordering::Relaxed);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                let path = self
                    .dir
                    .join(format!("{nanos}-{}-p{n}.part", std::process::id()));
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                created.push(path);
            }
            self.sync_dir()
        })();
        match result {
            Ok(()) => {
                self.pool
                    .ready
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(created);
                Ok(())
            }
            Err(e) => {
                for path in created {
                    std::fs::remove_file(path).ok();
                }
                Err(e)
            }
        }
    }

    /// Where the SCP spools data sets as they arrive (the bodies folder
    /// itself: a spooled file becomes a body in place).
    pub fn spool_dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of body files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The body file named in a header.
    pub fn path(&self, header: &MessageHeader) -> PathBuf {
        self.dir.join(&header.body)
    }

    /// Makes a spooled data set (a file in [`Self::spool_dir`], open in
    /// `file` and positioned at its end) the body of a message: records its
    /// name in the header, appends the trailer and
    /// fdatasyncs the file, and fsyncs the folder unless the file's entry
    /// is already durable (`entry_durable`: a file of
    /// [`Self::take_spool_file`]).
    ///
    /// # Errors
    /// I/O errors, or a spool file outside the bodies folder.
    pub fn adopt(
        &self,
        spool_path: &Path,
        mut file: File,
        entry_durable: bool,
        trailer: &mut BodyTrailer,
    ) -> std::io::Result<PathBuf> {
        if spool_path.parent() != Some(self.dir.as_path()) {
            return Err(std::io::Error::other(format!(
                "{} is not in the bodies folder {}",
                spool_path.display(),
                self.dir.display()
            )));
        }
        let name = spool_path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| std::io::Error::other("spool file name is not UTF-8"))?;
        trailer.header.body = name.to_string();
        self.latch.check()?;
        let len = file.metadata()?.len();
        if len != trailer.header.size {
            return Err(std::io::Error::other(format!(
                "spooled data set is {len} bytes, expected {}",
                trailer.header.size
            )));
        }
        write_trailer(&mut file, trailer)?;
        if entry_durable {
            self.sync_file(&file, spool_path)?;
            return Ok(spool_path.to_path_buf());
        }
        // The file's data and its directory entry (created when the spool
        // file was opened) must both be durable; neither depends on the
        // other, so both syncs run at once (on ext4 they usually share one
        // journal commit).
        std::thread::scope(|s| {
            let dir = s.spawn(|| self.sync_dir());
            let data = self.sync_file(&file, spool_path);
            let dir = dir
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the folder sync panicked")));
            data.and(dir)
        })?;
        Ok(spool_path.to_path_buf())
    }

    /// Writes a body from a reader (e.g. the data set of a Part 10 file),
    /// with its trailer, and fdatasyncs it.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(
        &self,
        mut data: impl Read,
        trailer: &mut BodyTrailer,
    ) -> std::io::Result<PathBuf> {
        self.latch.check()?;
        trailer.header.body = format!("{}.dcm", trailer.id.0);
        let path = self.dir.join(&trailer.header.body);
        let result = (|| {
            let mut file = File::create(&path)?;
            trailer.header.size = std::io::copy(&mut data, &mut file)?;
            write_trailer(&mut file, trailer)?;
            self.sync_file(&file, &path)?;
            Ok(path.clone())
        })();
        if result.is_err() {
            std::fs::remove_file(&path).ok();
        }
        result
    }

    /// fsyncs the bodies folder, making new files in it durable; a failure
    /// latches.
    ///
    /// # Errors
    /// I/O errors, or [`super::latch::Latched`] after an earlier failure.
    pub fn sync_dir(&self) -> std::io::Result<()> {
        self.latch.check()?;
        self.latch.watch(&self.dir, sync_dir(&self.dir))
    }

    /// Opens a body for reading, limited to its data set.
    ///
    /// # Errors
    /// I/O errors (e.g. the body was purged).
    pub fn open_data_set(&self, header: &MessageHeader) -> std::io::Result<std::io::Take<File>> {
        Ok(File::open(self.path(header))?.take(header.size))
    }

    /// Removes a body file (retention). Missing is fine.
    ///
    /// # Errors
    /// I/O errors other than "not found".
    pub fn remove(&self, header: &MessageHeader) -> std::io::Result<()> {
        remove_if_present(&self.path(header))
    }

    /// Every file in the folder with its size.
    ///
    /// # Errors
    /// I/O errors reading the folder.
    pub fn list(&self) -> std::io::Result<Vec<(PathBuf, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                out.push((entry.path(), meta.len()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads the trailer of a body file: the basis of a rebuild of the
    /// message store from the bodies alone.
    ///
    /// # Errors
    /// [`TrailerError::Missing`] only for a file that was read and provably
    /// has no complete trailer (never acknowledged); anything else that
    /// stops the read is [`TrailerError::Unreadable`].
    pub fn read_trailer(path: &Path) -> Result<BodyTrailer, TrailerError> {
        let unreadable = |reason: String| TrailerError::Unreadable(reason);
        let io = |what: &str, e: std::io::Error| unreadable(format!("cannot {what}: {e}"));
        let mut file = File::open(path).map_err(|e| io("open it", e))?;
        let len = file.metadata().map_err(|e| io("read its size", e))?.len();
        if len < 12 {
            return Err(TrailerError::Missing);
        }
        let mut tail = [0u8; 12];
        file.seek(SeekFrom::Start(len - 12))
            .and_then(|_| file.read_exact(&mut tail))
            .map_err(|e| io("read its last 12 bytes", e))?;
        if &tail[4..10] != TRAILER_MAGIC {
            return Err(TrailerError::Missing);
        }
        if &tail[10..] != TRAILER_VERSION {
            return Err(unreadable(format!(
                "its trailer has format version {:?}, this engine reads {:?} (written by a newer engine?)",
                String::from_utf8_lossy(&tail[10..]),
                String::from_utf8_lossy(TRAILER_VERSION)
            )));
        }
        let n = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if n > MAX_TRAILER || u64::from(n) + 12 > len {
            return Err(unreadable(format!(
                "its trailer claims {n} bytes in a file of {len}"
            )));
        }
        let mut json = vec![0u8; n as usize];
        file.seek(SeekFrom::Start(len - 12 - u64::from(n)))
            .and_then(|_| file.read_exact(&mut json))
            .map_err(|e| io("read its trailer", e))?;
        let mut trailer: BodyTrailer = serde_json::from_slice(&json)
            .map_err(|e| unreadable(format!("its trailer does not parse: {e}")))?;
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            trailer.header.body = name.to_string();
        }
        Ok(trailer)
    }
}

/// Why a body's trailer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TrailerError {
    /// The file was read and has no complete trailer: a transfer cut short
    /// or an unused spool file, never acknowledged.
    #[error("no trailer: a transfer cut short, never acknowledged")]
    Missing,
    /// It may hold an acknowledged message but cannot be read now (I/O
    /// error, a damaged trailer, a newer format): never to be removed.
    #[error("{0}")]
    Unreadable(String),
}

fn write_trailer(file: &mut File, trailer: &BodyTrailer) -> std::io::Result<()> {
    let json = serde_json::to_vec(trailer).map_err(std::io::Error::other)?;
    let n = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    let mut tail = json;
    tail.extend_from_slice(&n.to_le_bytes());
    tail.extend_from_slice(TRAILER_MAGIC);
    tail.extend_from_slice(TRAILER_VERSION);
    file.write_all(&tail)
}

/// Removes a file; a missing one is fine.
///
/// # Errors
/// I/O errors other than "not found".
pub fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// fsyncs a directory so that entries created or renamed in it are durable.
///
/// # Errors
/// I/O errors.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}
