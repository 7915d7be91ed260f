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
//! `fdatasync` (data, size and trailer) to be durable. Unused pool files
//! have no trailer and are removed on start like any other unacknowledged
//! file.
//!
//! Retention recycles the files of the bodies it purges into the pool
//! ([`Bodies::recycle`]), where they are taken first: a data set written
//! over blocks already allocated costs less CPU and a shorter sync than one
//! in a new file. Such a file is longer than what is spooled into it, so the
//! trailer is written to end it: zeros fill a small gap before the trailer
//! (readers take the data set from the start and the trailer from the end)
//! and a large one is cut off.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
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

/// Files in the bodies folder whose directory entries are already durable
/// and that hold no trailer, ready for the SCP to spool into.
#[derive(Debug, Default)]
struct SpoolPool {
    ready: Mutex<Ready>,
    /// Recycled files renamed but whose folder entries are not yet durable
    /// (see [`Bodies::publish_recycled`]), with their sizes.
    renamed: Mutex<Vec<(PathBuf, u64)>>,
    refilling: AtomicBool,
    next: AtomicU64,
}

#[derive(Debug, Default)]
struct Ready {
    /// Empty files created ahead.
    empty: Vec<PathBuf>,
    /// Former bodies whose trailers were wiped (see [`Bodies::recycle`]),
    /// with their sizes: taken first, their blocks already allocated.
    recycled: Vec<(PathBuf, u64)>,
    /// The sizes of `recycled` and of the files in `renamed` together.
    recycled_bytes: u64,
}

/// Recycled files the pool holds at most, all together: they take disk
/// space that retention freed, so only about a minute's worth of a busy
/// day's intake is kept for reuse; the rest is removed as before.
const RECYCLED_BYTES: u64 = 256 << 20;
/// Larger bodies are removed, not recycled: a small data set spooled into
/// a large file would leave most of it to be truncated.
const RECYCLED_FILE_MAX: u64 = 16 << 20;
/// Up to this many bytes between the end of a data set and its trailer are
/// filled with zeros to keep a recycled file's size (no metadata change at
/// the sync); a larger file is cut to size instead.
const PAD_MAX: u64 = 256 << 10;
/// Renamed recycled files are made durable (one folder fsync) and offered
/// in batches of this many.
const PUBLISH_BATCH: usize = 32;

impl SpoolPool {
    fn ready(&self) -> std::sync::MutexGuard<'_, Ready> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn renamed(&self) -> std::sync::MutexGuard<'_, Vec<(PathBuf, u64)>> {
        self.renamed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
                self.release_recycled();
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
    pub(super) fn sync_file(&self, file: &File, path: &Path) -> std::io::Result<()> {
        self.latch.watch(path, file.sync_data())
    }

    /// Takes a spool file from the pool, a recycled one first: it exists in
    /// [`Self::spool_dir`], has no trailer, and its directory entry is
    /// already durable, so [`Self::adopt`] need not sync the folder for it.
    /// A recycled file still holds old bytes: write from the start, and
    /// [`Self::adopt`] puts the trailer at its end. `None` when the pool is
    /// empty (the caller then creates its own file); either way a
    /// background refill starts when the pool runs low.
    pub fn take_spool_file(&self) -> Option<PathBuf> {
        let (taken, left) = {
            let mut ready = self.pool.ready();
            let taken = match ready.recycled.pop() {
                Some((path, size)) => {
                    ready.recycled_bytes = ready.recycled_bytes.saturating_sub(size);
                    Some(path)
                }
                None => ready.empty.pop(),
            };
            (taken, ready.empty.len())
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
        let have = self.pool.ready().empty.len();
        let mut created = Vec::with_capacity(POOL_SIZE.saturating_sub(have));
        let result = (|| {
            for _ in have..POOL_SIZE {
                let path = self.pool_file_name('p');
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
                self.pool.ready().empty.extend(created);
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

    /// A new name in the folder for a file of the pool (`kind`: `p` for one
    /// created empty, `r` for a recycled one).
    fn pool_file_name(&self, kind: char) -> PathBuf {
        let n = self.pool.next.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        self.dir
            .join(format!("{nanos}-{}-{kind}{n}.part", std::process::id()))
    }

    /// Removes the body of a purged message, or hands its file to the spool
    /// pool: a new data set written over allocated blocks costs less CPU
    /// and a shorter sync than one in a new file (see `cpu-floor` in
    /// BENCHMARKS.md). Recycling renames the file, so that no record names
    /// it, then wipes its trailer and makes that durable, so that the file
    /// can never again pass for its old message, even with new bytes half
    /// written over it when the machine stops. It reaches
    /// the pool with [`Self::publish_recycled`] (one folder fsync for a
    /// batch). Files over 16 MiB, any beyond what the pool holds (256 MiB),
    /// and all while the disk is below the free-space floor, are removed.
    /// Missing is fine.
    ///
    /// # Errors
    /// The file could be neither renamed nor removed: it stays, unchanged.
    pub fn recycle(&self, header: &MessageHeader) -> std::io::Result<()> {
        let path = self.path(header);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let room = {
            let mut ready = self.pool.ready();
            let room = (12..=RECYCLED_FILE_MAX).contains(&len)
                && ready.recycled_bytes + len <= RECYCLED_BYTES
                && !self.space.low.load(Ordering::Acquire);
            if room {
                ready.recycled_bytes += len;
            }
            room
        };
        if !room {
            drop(file);
            return remove_if_present(&path);
        }
        // Renamed first: from then on no record names the file, and a
        // failure leaves nothing half done under the message's name.
        let new = self.pool_file_name('r');
        if let Err(e) = std::fs::rename(&path, &new) {
            self.forget_recycled(len);
            return match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            };
        }
        let wiped = wipe_trailer(&file, len).and_then(|()| self.sync_file(&file, &new));
        if let Err(error) = wiped {
            self.forget_recycled(len);
            tracing::warn!(%error, path = %new.display(), "Could not recycle a body file; removing it instead.");
            if let Err(error) = remove_if_present(&new) {
                tracing::warn!(%error, path = %new.display(), "Could not remove a purged body file either; it stays until removed by hand.");
            }
            return Ok(());
        }
        let batch = {
            let mut renamed = self.pool.renamed();
            renamed.push((new, len));
            renamed.len()
        };
        if batch >= PUBLISH_BATCH {
            // The file is recycled either way; the batch waits for the next
            // call when the folder sync fails.
            if let Err(error) = self.publish_recycled() {
                tracing::warn!(%error, "Could not offer recycled body files for reuse.");
            }
        }
        Ok(())
    }

    /// Makes the names of the files recycled since the last call durable
    /// (one folder fsync) and offers them to the SCP. Until then they are
    /// not used; on a failure they stay waiting.
    ///
    /// # Errors
    /// The folder sync failed (which latches).
    pub fn publish_recycled(&self) -> std::io::Result<()> {
        let batch = std::mem::take(&mut *self.pool.renamed());
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.sync_dir() {
            self.pool.renamed().extend(batch);
            return Err(e);
        }
        self.pool.ready().recycled.extend(batch);
        Ok(())
    }

    /// The bytes of recycled files waiting in the pool: in the folder, but
    /// no message's body.
    pub fn recycled_bytes(&self) -> u64 {
        self.pool.ready().recycled_bytes
    }

    fn forget_recycled(&self, len: u64) {
        let mut ready = self.pool.ready();
        ready.recycled_bytes = ready.recycled_bytes.saturating_sub(len);
    }

    /// Removes every recycled file not taken yet (the disk is low on space).
    fn release_recycled(&self) {
        let files = {
            let mut ready = self.pool.ready();
            ready.recycled_bytes = 0;
            let mut files = std::mem::take(&mut ready.recycled);
            files.append(&mut self.pool.renamed());
            files
        };
        for (path, _) in files {
            if let Err(error) = remove_if_present(&path) {
                tracing::warn!(%error, path = %path.display(), "Could not remove a recycled body file.");
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
        let end = file.stream_position()?;
        if end != trailer.header.size {
            return Err(std::io::Error::other(format!(
                "spooled data set is {end} bytes, expected {}",
                trailer.header.size
            )));
        }
        // A recycled file is longer than what was spooled into it.
        let len = file.metadata()?.len();
        write_trailer_at(&file, end, len, trailer)?;
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
            let size = trailer.header.size;
            write_trailer_at(&file, size, size, trailer)?;
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

    /// Drops a body's pages from the page cache (`POSIX_FADV_DONTNEED`;
    /// they are clean, the body being durable): for a message that has
    /// reached every target, whose body only a resend reads again. Kept,
    /// every forwarded body would stay cached until memory runs short, and
    /// on a virtual machine a page cache that grows into memory the host
    /// must back again costs every writer several times its CPU (see
    /// BENCHMARKS.md). A hint: failures are ignored.
    pub fn forget_cached(&self, header: &MessageHeader) {
        if let Ok(file) = File::open(self.path(header)) {
            self.forget_cached_file(&file);
        }
    }

    /// As [`Self::forget_cached`], for a body its caller has open.
    pub fn forget_cached_file(&self, file: &File) {
        advise_dont_need(file);
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

/// Writes the trailer after a data set of `end` bytes in a file of `len`
/// bytes, so that it ends the file. A longer file (a recycled one) keeps its
/// size when the gap is small (zeros before the trailer, which readers never
/// see: they take the trailer back from the file's end and the data set
/// from its start), and is cut to size otherwise.
fn write_trailer_at(file: &File, end: u64, len: u64, trailer: &BodyTrailer) -> std::io::Result<()> {
    let json = serde_json::to_vec(trailer).map_err(std::io::Error::other)?;
    let n = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    let trailer_len = json.len() as u64 + 12;
    let gap = len.saturating_sub(end + trailer_len);
    let pad = if gap <= PAD_MAX { gap } else { 0 };
    let mut tail = vec![0u8; usize::try_from(pad).map_err(std::io::Error::other)?];
    tail.extend_from_slice(&json);
    tail.extend_from_slice(&n.to_le_bytes());
    tail.extend_from_slice(TRAILER_MAGIC);
    tail.extend_from_slice(TRAILER_VERSION);
    file.write_all_at(&tail, end)?;
    if gap > pad {
        file.set_len(end + pad + trailer_len)?;
    }
    Ok(())
}

/// Overwrites with zeros the whole trailer that ends a file of `len` bytes
/// (at least its last 12 bytes): not only can the file no longer pass for
/// its message, a later trailer torn by a crash cannot either, by reading
/// the old message's JSON where the new one was meant to be.
fn wipe_trailer(file: &File, len: u64) -> std::io::Result<()> {
    let mut tail = [0u8; 12];
    file.read_exact_at(&mut tail, len - 12)?;
    let n = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let whole = &tail[4..10] == TRAILER_MAGIC && n <= u64::from(MAX_TRAILER) && n + 12 <= len;
    let wipe = if whole { n + 12 } else { 12 };
    let zeros = vec![0u8; usize::try_from(wipe).map_err(std::io::Error::other)?];
    file.write_all_at(&zeros, len - wipe)
}

/// Asks the kernel to drop a file's clean pages from the page cache.
#[cfg(target_os = "linux")]
fn advise_dont_need(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call (borrowed
    // from `file`); the call only reads its arguments.
    #[allow(unsafe_code)]
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_dont_need(_file: &File) {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ItemAddress;
    use crate::store::spool::SpoolWriter;

    fn trailer(id: u64, size: u64) -> BodyTrailer {
        BodyTrailer {
            id: MessageId(id),
            namespace: NamespaceId::new("demo").unwrap(),
            header: MessageHeader {
                size,
                ..crate::store::test_header(id)
            },
            targets: vec![ItemAddress::new("p", "OUT")],
        }
    }

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|n| (n as u8).wrapping_mul(7) ^ seed).collect()
    }

    /// A body of `len` bytes written the way Part 10 files are taken in.
    fn body(bodies: &Bodies, id: u64, len: usize) -> BodyTrailer {
        let mut t = trailer(id, 0);
        bodies.write(&data(len, 1)[..], &mut t).unwrap();
        t
    }

    /// Spools `bytes` into `path` as the SCP does and adopts it as message
    /// `id`'s body.
    fn spool_into(bodies: &Bodies, path: &Path, id: u64, bytes: &[u8]) -> BodyTrailer {
        let file = OpenOptions::new().write(true).open(path).unwrap();
        let mut writer = SpoolWriter::new(file);
        for fragment in bytes.chunks(16_000) {
            writer.write(fragment).unwrap();
        }
        let file = writer.finish().complete().unwrap();
        let mut t = trailer(id, bytes.len() as u64);
        bodies.adopt(path, file, true, &mut t).unwrap();
        t
    }

    /// Bodies in a fresh folder whose pool is never refilled in the
    /// background (a take would otherwise start creating empty files).
    fn opened(dir: &Path) -> Bodies {
        let bodies = Bodies::open(dir).unwrap();
        bodies.pool.refilling.store(true, Ordering::Release);
        bodies
    }

    fn read_data_set(bodies: &Bodies, t: &BodyTrailer) -> Vec<u8> {
        let mut out = Vec::new();
        bodies
            .open_data_set(&t.header)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// A recycled body loses its trailer before anything else (it can
    /// never come back as its message, nor be restored on start), takes
    /// a new name, and is offered once published, before the empty files.
    /// A new data set spooled into it reads back whole with its own trailer,
    /// whether shorter (the file keeps its size), much shorter (the file is
    /// cut) or longer than what the file held.
    #[test]
    fn a_recycled_body_never_passes_for_its_old_message_and_takes_a_new_one() {
        let dir = crate::store::private_tempdir();
        let bodies = opened(dir.path());
        for (n, (old, new)) in [(100_000, 60_000), (1 << 20, 10_000), (50_000, 200_000)]
            .into_iter()
            .enumerate()
        {
            let n = n as u64 * 10;
            let old_body = body(&bodies, n + 1, old);
            let old_path = bodies.path(&old_body.header);
            let old_len = std::fs::metadata(&old_path).unwrap().len();
            bodies.recycle(&old_body.header).unwrap();
            assert!(!old_path.exists(), "renamed: no record names it");
            assert_eq!(bodies.recycled_bytes(), old_len);
            let files = bodies.list().unwrap();
            assert_eq!(files.len(), 1, "{files:?}");
            let (recycled, len) = files[0].clone();
            assert_eq!(len, old_len, "the blocks stay");
            assert!(matches!(
                Bodies::read_trailer(&recycled),
                Err(TrailerError::Missing)
            ));
            let bytes = std::fs::read(&recycled).unwrap();
            assert!(bytes[..old] == data(old, 1)[..], "the data set stays");
            assert!(
                bytes[old..].iter().all(|b| *b == 0),
                "the whole trailer is wiped"
            );

            bodies.publish_recycled().unwrap();
            assert_eq!(bodies.take_spool_file(), Some(recycled.clone()));
            assert_eq!(bodies.recycled_bytes(), 0);
            let bytes = data(new, 2);
            let t = spool_into(&bodies, &recycled, n + 2, &bytes);
            let read = Bodies::read_trailer(&recycled).unwrap();
            assert_eq!(read, t);
            assert!(read_data_set(&bodies, &t) == bytes);
            let len = std::fs::metadata(&recycled).unwrap().len();
            if new < old && old_len - new as u64 <= PAD_MAX {
                assert_eq!(len, old_len, "padded, the size kept");
            } else {
                assert!(len < old_len.max(new as u64 + 1024), "{len}");
            }
            std::fs::remove_file(&recycled).unwrap();
        }
    }

    /// How many of a file's pages are in the page cache (`mincore` on a
    /// mapping of it), and whether its file system has a page cache apart
    /// from its storage (not tmpfs).
    #[allow(unsafe_code)]
    fn resident_pages(file: &File) -> (usize, bool) {
        use std::os::fd::AsRawFd;
        let len = file.metadata().unwrap().len() as usize;
        // SAFETY: plain calls on an open descriptor; the mapping is read
        // only through `mincore`, sized to the file, and unmapped before
        // returning; `stat` and `resident` are buffers the calls fill.
        unsafe {
            let mut stat: libc::statfs = std::mem::zeroed();
            assert_eq!(libc::fstatfs(file.as_raw_fd(), &raw mut stat), 0);
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            let mut resident = vec![0u8; len.div_ceil(page)];
            assert_eq!(libc::mincore(map, len, resident.as_mut_ptr()), 0);
            libc::munmap(map, len);
            let cached = resident.iter().filter(|b| **b & 1 == 1).count();
            (cached, stat.f_type != libc::TMPFS_MAGIC)
        }
    }

    /// A forgotten body leaves the page cache, and still reads back whole.
    #[test]
    fn a_forgotten_body_leaves_the_page_cache() {
        let dir = crate::store::private_tempdir();
        let bodies = opened(dir.path());
        let t = body(&bodies, 1, 256 << 10);
        let bytes = read_data_set(&bodies, &t);
        let file = File::open(bodies.path(&t.header)).unwrap();
        let (cached, own_cache) = resident_pages(&file);
        assert!(cached > 0, "just read");
        bodies.forget_cached(&t.header);
        if own_cache {
            assert_eq!(resident_pages(&file).0, 0);
        }
        assert!(read_data_set(&bodies, &t) == bytes);
        // Through a descriptor the caller has open: the same.
        assert!(resident_pages(&file).0 > 0, "read again");
        bodies.forget_cached_file(&file);
        if own_cache {
            assert_eq!(resident_pages(&file).0, 0);
        }
        bodies.forget_cached(&trailer(2, 0).header);
    }

    /// A recycled file that was never used has no trailer: removed on start
    /// like any file of a transfer cut short.
    #[test]
    fn an_unused_recycled_file_is_removed_on_start() {
        let dir = crate::store::private_tempdir();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let bodies = Bodies::open(dir.path()).unwrap();
        let old = body(&bodies, 1, 5_000);
        bodies.recycle(&old.header).unwrap();
        bodies.publish_recycled().unwrap();
        let done = crate::store::recover::restore_missing(&store, &bodies).unwrap();
        assert_eq!((done.restored, done.removed_partial), (0, 1));
        assert!(bodies.list().unwrap().is_empty());
    }

    /// Files over 16 MiB, and any beyond the pool's 256 MiB, are removed;
    /// so is everything recycled when the disk runs low.
    #[test]
    fn the_pool_holds_only_so_much_and_lets_go_when_the_disk_is_low() {
        let dir = crate::store::private_tempdir();
        let bodies = opened(dir.path());
        let large = body(&bodies, 1, 100);
        let path = bodies.path(&large.header);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(RECYCLED_FILE_MAX + 1)
            .unwrap();
        bodies.recycle(&large.header).unwrap();
        assert!(bodies.list().unwrap().is_empty());
        assert_eq!(bodies.recycled_bytes(), 0);

        let kept = body(&bodies, 2, 100);
        bodies.pool.ready().recycled_bytes = RECYCLED_BYTES - 10;
        bodies.recycle(&kept.header).unwrap();
        assert!(bodies.list().unwrap().is_empty(), "no room left");
        bodies.pool.ready().recycled_bytes = 0;

        for id in [3, 4] {
            let b = body(&bodies, id, 100);
            bodies.recycle(&b.header).unwrap();
            if id == 3 {
                bodies.publish_recycled().unwrap();
            }
        }
        assert_eq!(bodies.list().unwrap().len(), 2);
        let bodies = bodies.with_free_space_floor(u64::MAX);
        assert!(bodies.refuses().is_some());
        assert!(bodies.list().unwrap().is_empty());
        assert_eq!(bodies.recycled_bytes(), 0);
        assert_eq!(bodies.take_spool_file(), None);
        let late = body(&bodies, 5, 100);
        bodies.recycle(&late.header).unwrap();
        assert!(bodies.list().unwrap().is_empty(), "removed while low");
    }
}
