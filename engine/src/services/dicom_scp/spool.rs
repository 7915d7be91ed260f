//! The file a C-STORE data set is spooled into while it arrives: large
//! buffered writes done on the blocking pool, and the write-out to disk
//! started as each chunk is written, so that the final `fdatasync` of the
//! ingest hook has little left to wait for.

use std::fs::File;
use std::io::Write;

/// Bytes gathered before one write to the file.
const CHUNK: usize = 256 * 1024;

/// A spool file being written. Memory use is one chunk.
#[derive(Debug)]
pub struct SpoolWriter {
    /// `None` only while a chunk is being written on the blocking pool.
    file: Option<File>,
    buf: Vec<u8>,
    written: u64,
}

impl SpoolWriter {
    pub fn new(file: File) -> Self {
        Self {
            file: Some(file),
            buf: Vec::with_capacity(CHUNK),
            written: 0,
        }
    }

    /// Appends bytes, writing a chunk to the file whenever one is full.
    ///
    /// # Errors
    /// I/O errors of the file.
    pub async fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let take = bytes.len().min(CHUNK - self.buf.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == CHUNK {
                self.write_out().await?;
            }
        }
        Ok(())
    }

    /// Writes what is buffered; the file is complete (not yet synced).
    ///
    /// # Errors
    /// I/O errors of the file.
    pub async fn finish(mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.write_out().await?;
        }
        Ok(())
    }

    /// Writes the buffer at the end of the file on the blocking pool and
    /// starts its write-out to disk without waiting for it.
    async fn write_out(&mut self) -> std::io::Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("an earlier spool write did not finish"))?;
        let buf = std::mem::take(&mut self.buf);
        let offset = self.written;
        let (file, mut buf, result) = tokio::task::spawn_blocking(move || {
            let result = file.write_all(&buf);
            if result.is_ok() {
                start_write_out(&file, offset, buf.len());
            }
            (file, buf, result)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        result?;
        self.written += buf.len() as u64;
        buf.clear();
        self.buf = buf;
        self.file = Some(file);
        Ok(())
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
