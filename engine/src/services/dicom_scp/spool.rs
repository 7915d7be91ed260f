//! The file a C-STORE data set is spooled into while it arrives: large
//! writes done on the blocking pool while the next chunk is received, and
//! the write-out to disk started as each chunk is written, so that the
//! final `fdatasync` of the ingest hook has little left to wait for.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use tokio::task::JoinHandle;

/// Bytes gathered before one write to the file.
const CHUNK: usize = 256 * 1024;

/// A chunk being written on the blocking pool: its buffer comes back for
/// reuse.
type Pending = JoinHandle<(Vec<u8>, std::io::Result<()>)>;

/// A spool file being written. Memory use is two chunks: one being filled
/// while the other is written.
#[derive(Debug)]
pub struct SpoolWriter {
    file: Arc<File>,
    buf: Vec<u8>,
    spare: Option<Vec<u8>>,
    pending: Option<Pending>,
    /// Bytes handed to writes so far (the offset of `buf`'s first byte).
    offset: u64,
}

impl SpoolWriter {
    pub fn new(file: File) -> Self {
        Self {
            file: Arc::new(file),
            buf: Vec::with_capacity(CHUNK),
            spare: None,
            pending: None,
            offset: 0,
        }
    }

    /// Appends bytes, starting a write whenever a chunk is full; waits only
    /// when the previous chunk is still being written.
    ///
    /// # Errors
    /// I/O errors of the file (of this chunk or the previous one).
    pub async fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let take = bytes.len().min(CHUNK - self.buf.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == CHUNK {
                self.start_write().await?;
            }
        }
        Ok(())
    }

    /// Waits for the write in progress; the rest, at most one chunk, is left
    /// for the ingest hook to write with [`SpooledData::complete`], in the
    /// same blocking call that makes the file durable.
    ///
    /// # Errors
    /// I/O errors of the file.
    pub async fn finish(mut self) -> std::io::Result<SpooledData> {
        self.wait_pending().await?;
        let file = Arc::try_unwrap(self.file)
            .map_err(|_| std::io::Error::other("a spool write is still running"))?;
        Ok(SpooledData {
            file,
            tail: self.buf,
            offset: self.offset,
        })
    }

    async fn wait_pending(&mut self) -> std::io::Result<()> {
        if let Some(pending) = self.pending.take() {
            let (mut buf, result) = pending
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            result?;
            buf.clear();
            self.spare = Some(buf);
        }
        Ok(())
    }

    /// Hands the full buffer to the blocking pool and goes on with the spare.
    async fn start_write(&mut self) -> std::io::Result<()> {
        self.wait_pending().await?;
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK));
        let buf = std::mem::replace(&mut self.buf, next);
        let (file, offset) = (Arc::clone(&self.file), self.offset);
        self.offset += buf.len() as u64;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let result = file.write_all_at(&buf, offset);
            if result.is_ok() {
                start_write_out(&file, offset, buf.len());
            }
            (buf, result)
        }));
        Ok(())
    }
}

/// A spooled data set whose last bytes (less than one chunk) are not written
/// yet. Dropping it leaves the file short: the caller removes it then.
#[derive(Debug)]
pub struct SpooledData {
    file: File,
    tail: Vec<u8>,
    offset: u64,
}

impl SpooledData {
    /// The data set's length once complete.
    pub fn len(&self) -> u64 {
        self.offset + self.tail.len() as u64
    }

    /// Whether the data set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the last bytes and returns the file, positioned at its end, for
    /// the trailer and the sync. Blocking: call it on the blocking pool.
    ///
    /// # Errors
    /// I/O errors of the file.
    pub fn complete(self) -> std::io::Result<File> {
        use std::io::{Seek, SeekFrom};
        let mut file = self.file;
        file.write_all_at(&self.tail, self.offset)?;
        file.seek(SeekFrom::Start(self.offset + self.tail.len() as u64))?;
        Ok(file)
    }
}

/// Asks the kernel to start writing a range of the file to disk now
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait and gives
/// no durability by itself). A hint: failures are ignored.
#[cfg(target_os = "linux")]
fn start_write_out(file: &File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open for the duration of the call (borrowed
    // from `file`); the call only reads its arguments.
    #[allow(unsafe_code)]
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_write_out(_file: &File, _offset: u64, _len: usize) {}
