//! The file a C-STORE data set is spooled into while it arrives: large
//! writes, most followed by the start of their write-out to disk, so that
//! the final `fdatasync` of the ingest hook has little left to wait for.
//!
//! Starting the write-out early costs CPU: each call submits its own I/O
//! (on a virtual disk, an exit to the host). It pays when one data set
//! arrives alone, since its sender waits for the sync, and for large ones,
//! whose dirty pages must not pile up until the end. With several arriving
//! at once it does not: the final syncs then share the disk anyway, and
//! leaving a data set's first MiB to its `fdatasync` (one submission)
//! took about a tenth less CPU per 512 KiB instance with 20 senders, and
//! answered them as soon or sooner (see BENCHMARKS.md). So a writer starts
//! the write-out of a range when it is the only one receiving in the
//! process, or past its first MiB. Past the first MiB it starts it for
//! 2 MiB or more at a time rather than for every write, since large data
//! sets arrive faster than a submission per write pays for: that took a
//! sixth less CPU and time for 100 MiB instances (see BENCHMARKS.md), and
//! leaves at most 2 MiB to the final sync.
//!
//! The writes are made by the association's task itself, not handed to the
//! blocking pool: a 256 KiB write into the page cache takes tens of
//! microseconds, less than the two thread wake-ups of a hand-off (measured:
//! 7–10 % less CPU per instance and 5–8 % more throughput). When the disk
//! cannot keep up, the kernel may make such a write wait; that holds up
//! this association's worker thread, and the runtime's other workers go on.
//!
//! A [`SpoolFollower`] reads the data set while it is still arriving, for
//! cut-through forwarding: it gets the bytes written so far, waits for
//! more, ends where the data set ends (never in the trailer written after
//! it), and fails when the writer goes away before the end: the inbound
//! transfer failed, and what was sent on must be abandoned.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

/// Bytes gathered before one write to the file.
const CHUNK: usize = 256 * 1024;
/// Fragments at least this large are written without gathering.
const DIRECT: usize = 64 * 1024;

/// Under concurrency, write-out starts only past this many bytes of a data
/// set (see the module documentation).
const EARLY_WRITE_OUT_PAST: u64 = 1 << 20;
/// Past [`EARLY_WRITE_OUT_PAST`], write-out is started for this many bytes
/// or more at a time (see the module documentation).
const WRITE_OUT_STEP: u64 = 2 << 20;

/// Spool writers receiving now, in this process.
static RECEIVING: AtomicUsize = AtomicUsize::new(0);

/// One writer counted in [`RECEIVING`] while it lives.
#[derive(Debug)]
struct Receiving;

impl Receiving {
    fn new() -> Self {
        RECEIVING.fetch_add(1, Ordering::Relaxed);
        Self
    }

    /// Whether to start the write-out of bytes written `at` bytes into the
    /// data set, now.
    fn write_out_early(&self, at: u64) -> bool {
        write_out_early(at, receiving())
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        RECEIVING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many data sets are arriving now, in this process.
pub fn receiving() -> usize {
    RECEIVING.load(Ordering::Relaxed)
}

/// Whether to start the write-out of bytes written `at` bytes into a data
/// set while `receiving` writers (this one included) receive.
fn write_out_early(at: u64, receiving: usize) -> bool {
    at >= EARLY_WRITE_OUT_PAST || receiving <= 1
}

/// After a write that ends at `end` in the file, `at` bytes into its data
/// set, with the write-out started up to `written_out`: the range (offset,
/// length) whose write-out to start now, if any, and where the started
/// write-out ends then. In the first MiB every write's range starts at
/// once, when `early`; past it, ranges of [`WRITE_OUT_STEP`] or more. A
/// range not started `early` is skipped: the data set's `fdatasync` writes
/// it.
fn write_out_after(written_out: u64, at: u64, end: u64, early: bool) -> (Option<(u64, u64)>, u64) {
    if !early {
        return (None, end);
    }
    let step = if at >= EARLY_WRITE_OUT_PAST {
        WRITE_OUT_STEP
    } else {
        1
    };
    let len = end.saturating_sub(written_out);
    if len >= step {
        (Some((written_out, len)), end)
    } else {
        (None, written_out)
    }
}

/// How far the data set in a spool file has come, as a follower sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// This many bytes from the start are in the file; more may come.
    Written(u64),
    /// The data set is whole, this many bytes (a trailer may follow).
    Whole(u64),
}

/// A spool file being written. Memory use is at most one chunk and a page.
#[derive(Debug)]
pub struct SpoolWriter {
    file: File,
    buf: Vec<u8>,
    /// Where the data set starts in the file.
    start: u64,
    /// Where the next byte goes (the offset of `buf`'s first byte).
    offset: u64,
    /// Told each write, when the file is followed.
    progress: Option<watch::Sender<Progress>>,
    receiving: Receiving,
    /// Where the write-out started so far ends (or was skipped to).
    written_out: u64,
}

impl SpoolWriter {
    pub fn new(file: File) -> Self {
        Self::starting_at(file, 0)
    }

    /// A writer whose data set starts at `offset` in the file (a file that
    /// holds more than one); offsets it reports are the file's.
    pub fn starting_at(file: File, offset: u64) -> Self {
        Self {
            file,
            buf: Vec::new(),
            start: offset,
            offset,
            progress: None,
            receiving: Receiving::new(),
            written_out: offset,
        }
    }

    /// A reader of the data set as it arrives, from its first byte; `path`
    /// is this writer's file, opened again to read.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn follow(&mut self, path: &std::path::Path) -> std::io::Result<SpoolFollower> {
        let file = File::open(path)?;
        let offset = self.offset;
        let progress = self
            .progress
            .get_or_insert_with(|| watch::Sender::new(Progress::Written(offset)))
            .subscribe();
        Ok(SpoolFollower {
            file: Arc::new(file),
            progress,
        })
    }

    /// Appends bytes: a large fragment is written at once, small ones are
    /// gathered into chunks. Each write ends on a page boundary of the file
    /// (what is past the last whole page waits for the next write): a
    /// write that covers only part of a page not in the page cache makes
    /// the kernel read that page from disk first, and a recycled body
    /// file's pages are not cached (with 128 KiB PDUs, the engine spent
    /// 3.5 % of its CPU on such reads, and waited for them).
    ///
    /// # Errors
    /// I/O errors of the file.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let pending = self.buf.len() + bytes.len();
        if bytes.len() < DIRECT && pending < CHUNK {
            self.buf.extend_from_slice(bytes);
            return Ok(());
        }
        let end = page_floor(self.offset + pending as u64);
        let now = usize::try_from(end - self.offset).unwrap_or(pending);
        if now <= self.buf.len() {
            // Not one whole page more (a data set starting mid-page).
            self.buf.extend_from_slice(bytes);
            return Ok(());
        }
        let (head, rest) = bytes.split_at(now - self.buf.len());
        let gathered = std::mem::take(&mut self.buf);
        let written = self.write_parts(&gathered, head);
        self.buf = gathered;
        self.buf.clear();
        self.buf.extend_from_slice(rest);
        written
    }

    /// Writes `first` then `second` at the offset, in one system call
    /// when the kernel takes them whole.
    fn write_parts(&mut self, first: &[u8], second: &[u8]) -> std::io::Result<()> {
        if first.is_empty() {
            return self.write_out(second);
        }
        write_all_vectored_at(&self.file, [first, second], self.offset)?;
        self.advance((first.len() + second.len()) as u64);
        Ok(())
    }

    fn write_out(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(bytes, self.offset)?;
        self.advance(bytes.len() as u64);
        Ok(())
    }

    /// Counts `len` bytes written at the offset: starts their write-out
    /// when it is time, and tells the followers.
    fn advance(&mut self, len: u64) {
        let at = self.offset - self.start;
        let end = self.offset + len;
        let early = self.receiving.write_out_early(at);
        let (range, written_out) = write_out_after(self.written_out, at, end, early);
        if let Some((from, len)) = range {
            start_write_out(&self.file, from, len);
        }
        self.written_out = written_out;
        self.offset = end;
        if let Some(progress) = &self.progress {
            progress.send_replace(Progress::Written(self.offset));
        }
    }

    /// The data set so far (it is no longer counted as receiving); the
    /// rest, less than one chunk, is left for the ingest hook to write with
    /// [`SpooledData::complete`], in the same blocking call that makes the
    /// file durable.
    pub fn finish(self) -> SpooledData {
        SpooledData {
            file: self.file,
            tail: self.buf,
            offset: self.offset,
            progress: self.progress,
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
    progress: Option<watch::Sender<Progress>>,
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
        let end = self.offset + self.tail.len() as u64;
        file.write_all_at(&self.tail, self.offset)?;
        if let Some(progress) = &self.progress {
            progress.send_replace(Progress::Whole(end));
        }
        file.seek(SeekFrom::Start(end))?;
        Ok(file)
    }
}

/// Follows a spool file's data set while it arrives (see the module
/// documentation): what an SCU streams a C-STORE from, reading the file
/// itself (from the page cache, where the writer just put the bytes) as
/// far as [`Self::grown_beyond`] says it has come.
#[derive(Debug)]
pub struct SpoolFollower {
    file: Arc<File>,
    progress: watch::Receiver<Progress>,
}

impl SpoolFollower {
    /// The spool file, opened to read; its data set starts at byte 0.
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// Waits until more than `at` bytes of the data set are in the file, or
    /// it is whole; then how far it has come (never into the trailer
    /// written after it).
    ///
    /// # Errors
    /// `ErrorKind::UnexpectedEof` when the writer went away before the data
    /// set was whole: the inbound transfer failed.
    pub async fn grown_beyond(&mut self, at: u64) -> std::io::Result<Progress> {
        loop {
            let now = *self.progress.borrow_and_update();
            match now {
                Progress::Written(end) if end <= at => {}
                reached => return Ok(reached),
            }
            if self.progress.changed().await.is_err() {
                // The writer is gone; unless it finished, the transfer failed.
                return match *self.progress.borrow() {
                    whole @ Progress::Whole(_) => Ok(whole),
                    Progress::Written(end) => Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "the inbound transfer ended after {end} bytes, before its data set was whole"
                        ),
                    )),
                };
            }
        }
    }
}

/// The page size writes are aligned to.
const PAGE: u64 = 4096;

/// The start of the page `offset` is in.
fn page_floor(offset: u64) -> u64 {
    offset / PAGE * PAGE
}

/// Writes the parts one after the other at `offset` (`pwritev(2)`), all of
/// them, whatever the kernel takes per call.
fn write_all_vectored_at(file: &File, parts: [&[u8]; 2], offset: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let total = parts[0].len() + parts[1].len();
    let mut done = 0;
    while done < total {
        // The parts' bytes from `done` on, as at most two iovecs.
        let (a, b) = if done < parts[0].len() {
            (&parts[0][done..], parts[1])
        } else {
            (&parts[1][done - parts[0].len()..], &[][..])
        };
        let iov = [a, b].map(|part| libc::iovec {
            iov_base: part.as_ptr().cast_mut().cast(),
            iov_len: part.len(),
        });
        let at = libc::off_t::try_from(offset + done as u64).map_err(std::io::Error::other)?;
        // SAFETY: both iovecs point into slices borrowed for the call, and
        // the kernel only reads them.
        #[allow(unsafe_code)]
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), 2, at) };
        match usize::try_from(n) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(_) => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

/// Asks the kernel to start writing a range of the file to disk now
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait and gives
/// no durability by itself). A hint: failures are ignored.
#[cfg(target_os = "linux")]
fn start_write_out(file: &File, offset: u64, len: u64) {
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
fn start_write_out(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes fragments of these lengths into a new spool file at `path`:
    /// the writer, every byte written, and the writer's offset after each.
    fn spool(path: &std::path::Path, lengths: &[usize]) -> (SpoolWriter, Vec<u8>, Vec<u64>) {
        let mut writer = SpoolWriter::new(File::create(path).unwrap());
        let (mut written, mut ends) = (Vec::new(), Vec::new());
        for (i, &len) in lengths.iter().enumerate() {
            let fragment: Vec<u8> = (0..len).map(|n| (n * 3 + i) as u8).collect();
            writer.write(&fragment).unwrap();
            written.extend(fragment);
            ends.push(writer.offset);
        }
        (writer, written, ends)
    }

    /// Small fragments are gathered, large ones written at once; the file
    /// holds them in order, whatever the mix.
    #[test]
    fn fragments_of_any_size_end_up_in_order() {
        let dir = crate::store::private_tempdir();
        let path = dir.path().join("spool");
        let lengths = [16_378, 131_066, 131_066, 100, DIRECT, CHUNK + 5, 7];
        let (writer, expected, _) = spool(&path, &lengths);
        writer.finish().complete().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    /// Every write but the data set's last ends on a page boundary of the
    /// file, whatever the fragments' sizes (128 KiB PDUs carry 131,066
    /// bytes each), so that no write covers part of a page: on a recycled
    /// file, whose pages are not cached, that page would be read first.
    #[test]
    fn writes_end_on_page_boundaries() {
        let dir = crate::store::private_tempdir();
        let path = dir.path().join("spool");
        let lengths = [131_066, 131_066, 5, 131_066, 16_378, 70_000, 3];
        let (writer, expected, ends) = spool(&path, &lengths);
        assert!(ends.iter().all(|end| end % PAGE == 0), "{ends:?}");
        assert!(writer.offset > 0 && writer.buf.len() < PAGE as usize);
        writer.finish().complete().unwrap();
        assert!(std::fs::read(&path).unwrap() == expected);
    }

    /// A data set arriving alone starts its write-out at once; with others
    /// arriving, only past its first MiB.
    #[test]
    fn write_out_starts_early_only_alone_or_past_the_first_mib() {
        assert!(write_out_early(0, 1));
        assert!(!write_out_early(0, 2));
        assert!(!write_out_early(EARLY_WRITE_OUT_PAST - 1, 20));
        assert!(write_out_early(EARLY_WRITE_OUT_PAST, 20));

        let dir = crate::store::private_tempdir();
        let open = |name: &str| File::create(dir.path().join(name)).unwrap();
        let (a, b) = (SpoolWriter::new(open("a")), SpoolWriter::new(open("b")));
        // Other tests in this process may hold writers too: only "at least
        // two" is certain.
        assert!(!a.receiving.write_out_early(0), "b receives too");
        assert!(a.receiving.write_out_early(EARLY_WRITE_OUT_PAST));
        drop((a, b.finish()));
    }

    /// Alone, every write of the first MiB starts its write-out at once, and
    /// after it ranges of a step or more (fewer submissions to the disk for
    /// a large data set); with others arriving, nothing in the first MiB.
    /// Either way the ranges follow each other without a gap, and what is
    /// left is less than a step.
    #[test]
    fn write_out_starts_per_write_in_the_first_mib_then_in_steps() {
        const FRAGMENT: u64 = 128 * 1024;
        const SIZE: u64 = 10 << 20;
        for early_at_first in [true, false] {
            let mut written_out = 0;
            let mut ranges = Vec::new();
            for at in (0..SIZE).step_by(FRAGMENT as usize) {
                let early = early_at_first || at >= EARLY_WRITE_OUT_PAST;
                let (range, now) = write_out_after(written_out, at, at + FRAGMENT, early);
                ranges.extend(range);
                written_out = now;
            }
            let first_mib = ranges
                .iter()
                .filter(|(from, _)| *from < EARLY_WRITE_OUT_PAST);
            let later: Vec<_> = ranges
                .iter()
                .filter(|(from, _)| *from >= EARLY_WRITE_OUT_PAST)
                .collect();
            let expected_first = if early_at_first { 8 } else { 0 };
            assert_eq!(first_mib.clone().count(), expected_first);
            assert!(first_mib.into_iter().all(|(_, len)| *len == FRAGMENT));
            assert_eq!(later.len(), 4, "{later:?}");
            assert!(later.iter().all(|(_, len)| *len == WRITE_OUT_STEP));
            let mut next = EARLY_WRITE_OUT_PAST;
            for (from, len) in later {
                assert_eq!(*from, next, "no gap between ranges");
                next += len;
            }
            assert!(SIZE - next < WRITE_OUT_STEP);
        }
    }

    /// Everything a follower could read so far, and whether it ended
    /// (`Ok(true)`), is waiting (`Ok(false)`) or failed.
    async fn drain(follower: &mut SpoolFollower, into: &mut Vec<u8>) -> std::io::Result<bool> {
        loop {
            let at = into.len() as u64;
            let grown = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                follower.grown_beyond(at),
            )
            .await;
            let (end, whole) = match grown {
                Err(_) => return Ok(false),
                Ok(Ok(Progress::Written(end))) => (end, false),
                Ok(Ok(Progress::Whole(end))) => (end, true),
                Ok(Err(e)) => return Err(e),
            };
            let mut bytes = vec![0u8; (end - at) as usize];
            follower.file().read_exact_at(&mut bytes, at)?;
            into.extend(bytes);
            if whole {
                return Ok(true);
            }
        }
    }

    fn fragment(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|n| (n * 7 + seed) as u8).collect()
    }

    /// A follower started late gets the data set from its first byte, only
    /// what has been written (never the gathered tail before it is
    /// written), waits for the rest, and ends where the data set ends:
    /// not in the trailer written after it.
    #[tokio::test]
    async fn a_follower_reads_what_is_written_waits_and_stops_before_the_trailer() {
        let dir = crate::store::private_tempdir();
        let path = dir.path().join("spool");
        let mut writer = SpoolWriter::new(File::create(&path).unwrap());
        let mut sent: Vec<u8> = Vec::new();
        // Fragments as a 16 KiB PDU carries them: gathered until a chunk's
        // worth, then written up to the last whole page, the rest gathered.
        for seed in 0..17 {
            let pdv = fragment(16_000, seed);
            writer.write(&pdv).unwrap();
            sent.extend_from_slice(&pdv);
        }
        let written = page_floor(17 * 16_000) as usize;
        assert!(written >= CHUNK && written < sent.len());
        let mut follower = writer.follow(&path).unwrap();
        let mut seen = Vec::new();
        assert!(!drain(&mut follower, &mut seen).await.unwrap(), "it waits");
        assert!(
            seen == sent[..written],
            "{} bytes seen of the {written} written",
            seen.len()
        );
        // A large fragment is written at once, after what was gathered, up
        // to its last whole page.
        let large = fragment(CHUNK + 100, 99);
        writer.write(&large).unwrap();
        sent.extend_from_slice(&large);
        assert!(!drain(&mut follower, &mut seen).await.unwrap());
        let written = page_floor(sent.len() as u64) as usize;
        assert!(
            seen == sent[..written],
            "{} bytes seen of {written}",
            seen.len()
        );
        let mut file = writer.finish().complete().unwrap();
        std::io::Write::write_all(&mut file, b"TRAILER").unwrap();
        assert!(drain(&mut follower, &mut seen).await.unwrap(), "it ends");
        assert!(seen == sent, "{} bytes seen of {}", seen.len(), sent.len());
    }

    /// A writer dropped before the data set is whole (the inbound transfer
    /// failed) fails every follower, after what was written; one dropped
    /// after completing does not.
    #[tokio::test]
    async fn a_transfer_that_fails_fails_its_followers() {
        let dir = crate::store::private_tempdir();
        let path = dir.path().join("spool");
        let mut writer = SpoolWriter::new(File::create(&path).unwrap());
        let mut followers = [writer.follow(&path).unwrap(), writer.follow(&path).unwrap()];
        writer.write(&fragment(DIRECT, 3)).unwrap();
        let spooled = writer.finish();
        for follower in &mut followers {
            let mut seen = Vec::new();
            assert!(!drain(follower, &mut seen).await.unwrap());
            assert_eq!(seen.len(), DIRECT);
        }
        let waiting = tokio::spawn(async move {
            let [mut a, _] = followers;
            let mut seen = Vec::new();
            drain(&mut a, &mut seen).await
        });
        drop(spooled);
        let error = waiting.await.unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
        assert!(
            error.to_string().contains(&format!("after {DIRECT} bytes")),
            "{error}"
        );

        let whole = dir.path().join("whole");
        let mut writer = SpoolWriter::new(File::create(&whole).unwrap());
        let mut follower = writer.follow(&whole).unwrap();
        writer.write(b"small").unwrap();
        drop(writer.finish().complete().unwrap());
        let mut seen = Vec::new();
        assert!(drain(&mut follower, &mut seen).await.unwrap());
        assert!(seen == b"small");
    }
}
