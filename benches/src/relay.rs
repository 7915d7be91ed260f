//! The least CPU time a durable store-and-forward spends per instance: one
//! thread (the relay) receives each instance from a TCP connection, writes
//! it to a file, `fdatasync`s it, answers one byte, and sends it on over a
//! second connection; a sender waits for each answer, as storescu does, and
//! a sink reads and drops what the relay sends. Nothing else: no DICOM, no
//! store, no tasks. The relay's CPU time per instance (user and system, from
//! `/proc/thread-self/schedstat`) is what any engine doing the same work
//! with the same system calls cannot go below; on loopback it includes the
//! receiving side's TCP processing of what the relay sends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use switchboard::store::spool::SpoolWriter;

/// The chunk the relay moves at once: a 64 KiB PDU's worth.
const CHUNK: usize = 64 * 1024;

/// How the relay moves the bytes.
#[derive(Debug, Clone, Copy)]
pub enum Moving {
    /// `recv` into a buffer, `pwrite` (write-out started at once, as the
    /// engine spools), `pread`, `send`: four copies of every byte.
    Copy,
    /// `recv` into a buffer of the whole instance, `pwrite` as each 64 KiB
    /// fills (write-out started at once), `send` from the same buffer, not
    /// read back: three copies.
    Kept,
    /// Socket → pipe → file with `splice(2)` (write-out started at once),
    /// file → socket with `sendfile(2)`: one copy (pipe into the page
    /// cache).
    Splice,
    /// Socket → pipe → file with `splice(2)`, then `pread`, `send` as
    /// `Copy` does: what splicing only the receive saves.
    SpliceIn,
    /// As `Kept`, but written with `O_DIRECT` (the disk reads the buffer:
    /// no page cache): two copies, both TCP's.
    Direct,
}

/// Where the relay writes each instance.
#[derive(Debug, Clone, Copy)]
pub enum Files {
    /// A new file each (as the engine and storescp do).
    New,
    /// One file, overwritten in place (its blocks already allocated).
    Overwritten,
    /// A file each that was written and synced before the run, its pages
    /// dropped from the page cache: what a body file recycled by retention
    /// is (blocks allocated, data cold).
    Recycled,
    /// One large file written and synced before the run, its pages dropped
    /// from the page cache, each instance written after the one before: a
    /// segment of bodies overwritten in place (blocks allocated, data cold,
    /// no file opened per instance).
    Segment,
    /// One file, new at the start of the run, each instance written after
    /// the one before: a segment of bodies appended to (blocks allocated
    /// as it grows, no file opened per instance).
    Appended,
}

/// Relays `count` instances of `size` bytes through files in `dir`; the
/// relay's CPU seconds and the wall-clock seconds.
///
/// # Errors
/// A socket, pipe or file operation failed.
pub fn run(
    dir: &Path,
    size: usize,
    count: usize,
    moving: Moving,
    files: Files,
) -> anyhow::Result<(f64, f64)> {
    let inbound = TcpListener::bind("127.0.0.1:0")?;
    let outbound = TcpListener::bind("127.0.0.1:0")?;
    let (in_addr, out_addr) = (inbound.local_addr()?, outbound.local_addr()?);
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect(in_addr)?;
        s.set_nodelay(true)?;
        let data: Vec<u8> = (0..size).map(|n| (n * 7) as u8).collect();
        let mut answer = [0u8; 1];
        for _ in 0..count {
            s.write_all(&data)?;
            s.read_exact(&mut answer)?;
        }
        Ok(())
    });
    let sink = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = outbound.accept()?;
        std::io::copy(&mut s, &mut std::io::sink())
    });
    let (mut from, _) = inbound.accept()?;
    from.set_nodelay(true)?;
    let mut to = TcpStream::connect(out_addr)?;
    to.set_nodelay(true)?;
    let dir = dir.to_path_buf();
    match files {
        Files::Recycled => write_cold_files(&dir, size, count, 1)?,
        Files::Segment => write_cold_files(&dir, size * count, 1, count)?,
        Files::New | Files::Overwritten | Files::Appended => {}
    }
    let relay = std::thread::spawn(move || -> std::io::Result<(f64, f64)> {
        let cpu0 = thread_cpu_seconds()?;
        let start = std::time::Instant::now();
        let mut buf = vec![0u8; CHUNK];
        let pipe = Pipe::new()?;
        let direct = matches!(moving, Moving::Direct);
        let mut whole = Aligned::new(size);
        let segment = match files {
            Files::Segment | Files::Appended => Some(open(&dir.join("0.part"), direct)?),
            _ => None,
        };
        for n in 0..count {
            let (file, base) = match (&segment, files) {
                (Some(segment), _) => (segment.try_clone()?, n * size),
                (None, Files::Overwritten) => (open(&dir.join("0.part"), direct)?, 0),
                (None, _) => (open(&dir.join(format!("{n}.part")), direct)?, 0),
            };
            let file = match moving {
                Moving::Copy => {
                    let mut writer = SpoolWriter::starting_at(file, base as u64);
                    let mut left = size;
                    while left > 0 {
                        let want = left.min(CHUNK);
                        let got = from.read(&mut buf[..want])?;
                        if got == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                        writer.write(&buf[..got])?;
                        left -= got;
                    }
                    writer.finish().complete()?
                }
                Moving::Splice | Moving::SpliceIn => {
                    let mut at = 0;
                    while at < size {
                        let got = pipe.splice_in(&from, (size - at).min(CHUNK))?;
                        pipe.splice_out(&file, (base + at) as i64, got)?;
                        // As the other ways and the engine's spool do.
                        start_write_out(&file, base + at, got);
                        at += got;
                    }
                    file
                }
                Moving::Direct | Moving::Kept => {
                    let buf = whole.bytes();
                    let (mut at, mut written) = (0, 0);
                    while at < size {
                        let got = from.read(&mut buf[at..(at + CHUNK).min(size)])?;
                        if got == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                        at += got;
                        let ready = if at == size { size } else { at / CHUNK * CHUNK };
                        if ready > written {
                            file.write_all_at(&buf[written..ready], (base + written) as u64)?;
                            if !direct {
                                start_write_out(&file, base + written, ready - written);
                            }
                            written = ready;
                        }
                    }
                    file
                }
            };
            file.sync_data()?;
            from.write_all(&[0])?;
            match moving {
                Moving::Copy | Moving::SpliceIn => {
                    let mut at = 0;
                    while at < size {
                        let want = (size - at).min(CHUNK);
                        file.read_exact_at(&mut buf[..want], (base + at) as u64)?;
                        to.write_all(&buf[..want])?;
                        at += want;
                    }
                }
                Moving::Splice => send_file(&to, &file, base, size)?,
                Moving::Direct | Moving::Kept => {
                    for piece in whole.bytes().chunks(CHUNK) {
                        to.write_all(piece)?;
                    }
                }
            }
        }
        drop(to);
        Ok((thread_cpu_seconds()? - cpu0, start.elapsed().as_secs_f64()))
    });
    let measured = relay
        .join()
        .map_err(|_| anyhow::anyhow!("the relay panicked"))??;
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender panicked"))??;
    let sunk = sink
        .join()
        .map_err(|_| anyhow::anyhow!("the sink panicked"))??;
    anyhow::ensure!(sunk == (size * count) as u64, "the sink got {sunk} bytes");
    Ok(measured)
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`, as the engine's spool does.
#[allow(unsafe_code)]
fn start_write_out(file: &std::fs::File, at: usize, len: usize) {
    // SAFETY: a plain descriptor, borrowed from `file` for the call.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            at as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

/// Opens (creating when missing) a file to write and read, with `O_DIRECT`
/// when `direct`.
fn open(path: &Path, direct: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .read(true)
        .truncate(false)
        .custom_flags(if direct { libc::O_DIRECT } else { 0 })
        .open(path)
}

/// A buffer whose bytes start on a 4 KiB boundary, as `O_DIRECT` needs.
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let buf = vec![0u8; len + 4096];
        let start = buf.as_ptr().align_offset(4096);
        Self { buf, start, len }
    }

    fn bytes(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// Files `0.part` … of `size` bytes, each written in `pieces` writes,
/// durable, none of their pages cached.
#[allow(unsafe_code)]
fn write_cold_files(dir: &Path, size: usize, count: usize, pieces: usize) -> std::io::Result<()> {
    let piece = size / pieces;
    let data = vec![1u8; piece];
    for n in 0..count {
        let file = std::fs::File::create(dir.join(format!("{n}.part")))?;
        for p in 0..pieces {
            file.write_all_at(&data, (p * piece) as u64)?;
        }
        file.sync_data()?;
        // SAFETY: a plain descriptor, borrowed from `file` for the call.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    std::fs::File::open(dir)?.sync_all()
}

/// This thread's time on a CPU so far (`/proc/thread-self/schedstat`, in ns).
fn thread_cpu_seconds() -> std::io::Result<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| std::io::Error::other("unreadable schedstat"))?;
    Ok(ns as f64 / 1e9)
}

/// A pipe between a socket and a file, for `splice(2)`.
struct Pipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
}

impl Pipe {
    #[allow(unsafe_code)]
    fn new() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are open descriptors we own.
        let (read, write) = unsafe {
            (
                std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            )
        };
        Ok(Self { read, write })
    }

    /// Moves up to `len` bytes from the socket into the pipe; how many.
    #[allow(unsafe_code)]
    fn splice_in(&self, from: &TcpStream, len: usize) -> std::io::Result<usize> {
        // SAFETY: plain descriptors and null offsets (both are streams).
        let n = unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                self.write.as_raw_fd(),
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
            )
        };
        match n {
            n if n < 0 => Err(std::io::Error::last_os_error()),
            0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => Ok(n.unsigned_abs()),
        }
    }

    /// Moves exactly `len` bytes from the pipe into `file` at `at`.
    #[allow(unsafe_code)]
    fn splice_out(&self, file: &std::fs::File, mut at: i64, mut len: usize) -> std::io::Result<()> {
        while len > 0 {
            // SAFETY: plain descriptors; `at` is a valid offset we own.
            let n = unsafe {
                libc::splice(
                    self.read.as_raw_fd(),
                    std::ptr::null_mut(),
                    file.as_raw_fd(),
                    &mut at,
                    len,
                    libc::SPLICE_F_MOVE,
                )
            };
            if n <= 0 {
                return Err(std::io::Error::last_os_error());
            }
            len -= n.unsigned_abs();
        }
        Ok(())
    }
}

/// Sends `len` bytes of `file` from `from` with `sendfile(2)`.
#[allow(unsafe_code)]
fn send_file(to: &TcpStream, file: &std::fs::File, from: usize, len: usize) -> std::io::Result<()> {
    let mut offset = libc::off_t::try_from(from).map_err(std::io::Error::other)?;
    let mut left = len;
    while left > 0 {
        // SAFETY: plain descriptors and a valid offset we own.
        let n = unsafe { libc::sendfile(to.as_raw_fd(), file.as_raw_fd(), &mut offset, left) };
        if n <= 0 {
            return Err(std::io::Error::last_os_error());
        }
        left -= n.unsigned_abs();
    }
    Ok(())
}
