//! The file a C-STORE data set is spooled into while it arrives: large
//! writes, each followed by the start of its write-out to disk, so that the
//! final `fdatasync` of the ingest hook has little left to wait for.
//!
//! The writes are made by the association's task itself, not handed to the
//! blocking pool: a 256 KiB write into the page cache takes tens of
//! microseconds, less than the two thread wake-ups of a hand-off (measured:
//! 7–10 % less CPU per instance and 5–8 % more throughput). When the disk
//! cannot keep up, the kernel may make such a write wait; that holds up
//! this association's worker thread, and the runtime's other workers go on.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes gathered before one write to the file.
const CHUNK: usize = 256 * 1024;
/// Fragments at least this large are written without gathering.
const DIRECT: usize = 64 * 1024;

/// A spool file being written. Memory use is at most one chunk.
#[derive(Debug)]
pub struct SpoolWriter {
    file: File,
    buf: Vec<u8>,
    /// Bytes written so far (the offset of `buf`'s first byte).
    offset: u64,
}

impl SpoolWriter {
    pub fn new(file: File) -> Self {
        Self {
            file,
            buf: Vec::new(),
            offset: 0,
        }
    }

    /// Appends bytes, writing a chunk whenever one is full.
    ///
    /// # Errors
    /// I/O errors of the file.
    pub fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        // A large fragment (peers that send 64 KiB PDUs or more) is written
        // as it is, without a copy into the buffer.
        if self.buf.is_empty() && bytes.len() >= DIRECT {
            return self.write_out(bytes);
        }
        while !bytes.is_empty() {
            let take = bytes.len().min(CHUNK - self.buf.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == CHUNK {
                let buf = std::mem::take(&mut self.buf);
                self.write_out(&buf)?;
                self.buf = buf;
                self.buf.clear();
            }
        }
        Ok(())
    }

    fn write_out(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(bytes, self.offset)?;
        start_write_out(&self.file, self.offset, bytes.len());
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// The data set so far; the rest, less than one chunk, is left for the
    /// ingest hook to write with [`SpooledData::complete`], in the same
    /// blocking call that makes the file durable.
    pub fn finish(self) -> SpooledData {
        SpooledData {
            file: self.file,
            tail: self.buf,
            offset: self.offset,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Small fragments are gathered, large ones written as they are; the
    /// file holds them in order, whatever the mix.
    #[test]
    fn fragments_of_any_size_end_up_in_order() {
        let dir = crate::store::private_tempdir();
        let path = dir.path().join("spool");
        let mut writer = SpoolWriter::new(File::create(&path).unwrap());
        let mut expected = Vec::new();
        for (i, len) in [16_378, 131_066, 131_066, 100, DIRECT, CHUNK + 5, 7]
            .into_iter()
            .enumerate()
        {
            let fragment: Vec<u8> = (0..len).map(|n| (n + i) as u8).collect();
            writer.write(&fragment).unwrap();
            expected.extend(fragment);
        }
        writer.finish().complete().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
