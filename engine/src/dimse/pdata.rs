//! P-DATA: our fragmenter (honouring the peer's maximum PDU length, PS3.8
//! §9.3.5 and Annex E) and the reassembly of PDVs into command sets and data
//! fragments.
//!
//! A command set is small and is buffered (bounded by
//! [`MAX_COMMAND_SET_LENGTH`]); data-set fragments are handed on as they
//! arrive, so a data set is never held whole in memory.

use dicom_ul::pdu::PDataValueType;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::commands::{CommandError, DimseCommand, MAX_COMMAND_SET_LENGTH};
use super::pdu::{PDU_HEADER_LENGTH, PDV_OVERHEAD, PduStream, PdvRef};

/// A PDV sequence that breaks PS3.8 Annex E or PS3.7 §6.3.1.
#[derive(Debug, thiserror::Error)]
pub enum PdvError {
    #[error(
        "command fragment on presentation context {found} while a command on {expected} is incomplete"
    )]
    InterleavedCommand { expected: u8, found: u8 },
    #[error("data fragment on presentation context {pc_id} but no command announced a data set")]
    UnexpectedData { pc_id: u8 },
    #[error(
        "command fragment on presentation context {pc_id} before the data set of the previous command ended"
    )]
    CommandBeforeDataEnded { pc_id: u8 },
    #[error("data fragment on presentation context {found}; the command was on {expected}")]
    DataContextMismatch { expected: u8, found: u8 },
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Why a data set could not be sent from its file.
#[derive(Debug, thiserror::Error)]
pub enum SendFileError {
    /// Reading the file failed: a local fault, not the peer's.
    #[error("cannot read the data set from its file: {0}")]
    File(#[source] std::io::Error),
    /// Writing to the peer failed.
    #[error(transparent)]
    Stream(std::io::Error),
}

/// What a PDV contributed, once reassembled.
#[derive(Debug)]
pub enum PdvEvent<'a> {
    /// A command set is complete.
    Command {
        presentation_context_id: u8,
        command: DimseCommand,
    },
    /// A fragment of the data set that follows the last command (on the
    /// same presentation context), borrowed from the PDV.
    Data { bytes: &'a [u8], is_last: bool },
}

/// Reassembles PDVs into commands and data fragments for one association.
///
/// Lifecycle: one per association, fed every PDV in arrival order.
#[derive(Debug, Default)]
pub struct Reassembler {
    command: Vec<u8>,
    command_context: Option<u8>,
    /// Set after a command that announced a data set, until its last fragment.
    data_context: Option<u8>,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a command or data set is partly received.
    #[cfg(test)]
    pub fn in_progress(&self) -> bool {
        self.command_context.is_some() || self.data_context.is_some()
    }

    /// Feeds one PDV.
    ///
    /// # Errors
    /// [`PdvError`] when the sequence is invalid or the command set does not
    /// decode; the association should be aborted.
    pub fn push<'a>(&mut self, pdv: PdvRef<'a>) -> Result<Option<PdvEvent<'a>>, PdvError> {
        let pc_id = pdv.presentation_context_id;
        match pdv.value_type {
            PDataValueType::Command => {
                if self.data_context.is_some() {
                    return Err(PdvError::CommandBeforeDataEnded { pc_id });
                }
                match self.command_context {
                    Some(expected) if expected != pc_id => {
                        return Err(PdvError::InterleavedCommand {
                            expected,
                            found: pc_id,
                        });
                    }
                    _ => self.command_context = Some(pc_id),
                }
                if self.command.len() + pdv.data.len() > MAX_COMMAND_SET_LENGTH {
                    return Err(CommandError::TooLong(self.command.len() + pdv.data.len()).into());
                }
                self.command.extend_from_slice(pdv.data);
                if !pdv.is_last {
                    return Ok(None);
                }
                self.command_context = None;
                let bytes = std::mem::take(&mut self.command);
                let command = DimseCommand::from_bytes(&bytes)?;
                if command.has_data_set() {
                    self.data_context = Some(pc_id);
                }
                Ok(Some(PdvEvent::Command {
                    presentation_context_id: pc_id,
                    command,
                }))
            }
            PDataValueType::Data => {
                let Some(expected) = self.data_context else {
                    return Err(PdvError::UnexpectedData { pc_id });
                };
                if expected != pc_id {
                    return Err(PdvError::DataContextMismatch {
                        expected,
                        found: pc_id,
                    });
                }
                if pdv.is_last {
                    self.data_context = None;
                }
                Ok(Some(PdvEvent::Data {
                    bytes: pdv.data,
                    is_last: pdv.is_last,
                }))
            }
        }
    }
}

/// The data bytes that fit in one P-DATA-TF PDU with a single PDV for a
/// peer maximum PDU length (never less than 1, so we always make progress).
pub fn max_fragment_len(max_pdu_length: u32) -> usize {
    (max_pdu_length as usize)
        .saturating_sub(PDV_OVERHEAD)
        .max(1)
}

/// Appends one P-DATA-TF PDU holding a single PDV to `out`.
pub fn encode_pdata(out: &mut Vec<u8>, pc_id: u8, command: bool, is_last: bool, data: &[u8]) {
    out.extend_from_slice(&pdata_header(pc_id, command, is_last, data.len()));
    out.extend_from_slice(data);
}

/// Sends a command set as command PDVs, fragmented to the peer's maximum.
///
/// # Errors
/// I/O errors.
pub async fn send_command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut PduStream<S>,
    pc_id: u8,
    command: &[u8],
) -> std::io::Result<()> {
    send_bytes(stream, pc_id, true, command).await
}

/// Sends an in-memory data set as data PDVs, fragmented to the peer's maximum.
///
/// # Errors
/// I/O errors.
pub async fn send_data<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut PduStream<S>,
    pc_id: u8,
    data: &[u8],
) -> std::io::Result<()> {
    send_bytes(stream, pc_id, false, data).await
}

async fn send_bytes<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut PduStream<S>,
    pc_id: u8,
    command: bool,
    bytes: &[u8],
) -> std::io::Result<()> {
    let fragment = max_fragment_len(stream.max_send());
    let mut out = Vec::with_capacity(bytes.len().min(fragment) + PDU_HEADER_LENGTH + PDV_OVERHEAD);
    let mut chunks = bytes.chunks(fragment).peekable();
    if chunks.peek().is_none() {
        encode_pdata(&mut out, pc_id, command, true, &[]);
        return stream.write_raw(&out).await;
    }
    while let Some(chunk) = chunks.next() {
        out.clear();
        encode_pdata(&mut out, pc_id, command, chunks.peek().is_none(), chunk);
        stream.write_raw(&out).await?;
    }
    Ok(())
}

/// Bytes of data read and sent per write when streaming a data set: several
/// PDUs go out in one system call (peers often announce only 16 KiB).
const STREAM_CHUNK: usize = 1024 * 1024;

/// Streams a data set from a reader as data PDVs fragmented to the peer's
/// maximum, several PDUs per write. Memory use is bounded by a few chunks of
/// [`STREAM_CHUNK`] (or of one fragment, when that is larger), whatever the
/// size of the data set. Returns the bytes sent.
///
/// # Errors
/// I/O errors from the reader or the stream.
pub async fn send_data_from<S, R>(
    stream: &mut PduStream<S>,
    pc_id: u8,
    mut reader: R,
) -> std::io::Result<u64>
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let fragment = max_fragment_len(stream.max_send()).min(1024 * 1024);
    let chunk = (STREAM_CHUNK / fragment).max(1) * fragment;
    let mut current = vec![0u8; chunk];
    let mut next = vec![0u8; chunk];
    let mut current_len = fill(&mut reader, &mut current).await?;
    let pdus = chunk / fragment;
    let mut out = Vec::with_capacity(chunk + pdus * (PDU_HEADER_LENGTH + PDV_OVERHEAD));
    let mut sent = 0u64;
    loop {
        // A short read means end of input; a full one needs a look ahead.
        let next_len = if current_len == chunk {
            fill(&mut reader, &mut next).await?
        } else {
            0
        };
        let ends = next_len == 0;
        out.clear();
        let data = &current[..current_len];
        if data.is_empty() {
            encode_pdata(&mut out, pc_id, false, true, data);
        }
        let mut pieces = data.chunks(fragment).peekable();
        while let Some(piece) = pieces.next() {
            encode_pdata(
                &mut out,
                pc_id,
                false,
                ends && pieces.peek().is_none(),
                piece,
            );
        }
        stream.write_raw(&out).await?;
        sent += current_len as u64;
        if ends {
            return Ok(sent);
        }
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
    }
}

/// Streams `len` bytes of a file, from `offset`, as data PDVs fragmented to
/// the peer's maximum. Each chunk is read with one positioned vectored read
/// straight into the payloads of its PDUs (no copy), then written with one
/// system call. Memory use is one chunk, in `buffer`, which is kept for the
/// next call. Returns the bytes sent.
///
/// # Errors
/// [`SendFileError::File`] when the file cannot be read (including a file
/// shorter than `offset + len`): the data set will not pass by retrying;
/// [`SendFileError::Stream`] when the peer cannot be written to.
pub async fn send_data_from_file<S>(
    stream: &mut PduStream<S>,
    pc_id: u8,
    file: std::sync::Arc<std::fs::File>,
    offset: u64,
    len: u64,
    buffer: &mut Vec<u8>,
) -> Result<u64, SendFileError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut whole = Whole { file, len };
    send_growing_from(stream, pc_id, &mut whole, offset, buffer).await
}

/// A data set already whole in its file: `len` bytes.
struct Whole {
    file: std::sync::Arc<std::fs::File>,
    len: u64,
}

impl GrowingFile for Whole {
    fn file(&self) -> &std::sync::Arc<std::fs::File> {
        &self.file
    }

    async fn grown_beyond(&mut self, _at: u64) -> std::io::Result<Extent> {
        Ok(Extent {
            end: self.len,
            whole: true,
        })
    }
}

/// A data set in a file that is still being written: what a cut-through
/// forward sends while the instance arrives.
pub trait GrowingFile {
    /// The file the data set is in.
    fn file(&self) -> &std::sync::Arc<std::fs::File>;

    /// Waits until more than `at` bytes of the data set are in the file, or
    /// it is whole; then how far it has come.
    ///
    /// # Errors
    /// The data set will not become whole (its writer went away).
    fn grown_beyond(
        &mut self,
        at: u64,
    ) -> impl std::future::Future<Output = std::io::Result<Extent>> + Send;
}

/// How far a [`GrowingFile`]'s data set has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Bytes of the data set so far.
    pub end: u64,
    /// Whether the data set ends there.
    pub whole: bool,
}

/// Streams a data set, from the first byte of its file, while it is
/// written, as [`send_data_from_file`] does a whole one: a chunk goes out once the
/// bytes after it are written too (so that the last one is known as the
/// last), or the data set is whole. Returns the bytes sent.
///
/// # Errors
/// [`SendFileError::File`] when the data set will not become whole or the
/// file cannot be read; [`SendFileError::Stream`] when the peer cannot be
/// written to. The caller aborts the association then, so that the peer
/// never keeps a partial data set.
pub async fn send_data_growing<S, G>(
    stream: &mut PduStream<S>,
    pc_id: u8,
    data: &mut G,
    buffer: &mut Vec<u8>,
) -> Result<u64, SendFileError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    G: GrowingFile,
{
    send_growing_from(stream, pc_id, data, 0, buffer).await
}

/// The loop of [`send_data_growing`] and [`send_data_from_file`]: the data
/// set starts at `offset` in the file.
async fn send_growing_from<S, G>(
    stream: &mut PduStream<S>,
    pc_id: u8,
    data: &mut G,
    offset: u64,
    buffer: &mut Vec<u8>,
) -> Result<u64, SendFileError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    G: GrowingFile,
{
    let file = std::sync::Arc::clone(data.file());
    let mut chunks = Chunks::new(stream, pc_id, file, buffer);
    let mut sent = 0u64;
    let result = loop {
        let grown = data.grown_beyond(sent + chunks.size as u64).await;
        let Extent { end, whole } = match grown {
            Ok(extent) => extent,
            Err(e) => break Err(SendFileError::File(e)),
        };
        let n = usize::try_from(end - sent).map_or(chunks.size, |left| left.min(chunks.size));
        let ends = whole && sent + n as u64 == end;
        if let Err(e) = chunks.send(offset + sent, n, ends).await {
            break Err(e);
        }
        sent += n as u64;
        if ends {
            break Ok(sent);
        }
    };
    chunks.done(buffer);
    result
}

/// Sends a file's bytes chunk by chunk, each as data PDVs fragmented to
/// the peer's maximum, read straight into their payloads.
struct Chunks<'s, S> {
    stream: &'s mut PduStream<S>,
    pc_id: u8,
    file: std::sync::Arc<std::fs::File>,
    /// Bytes of data per PDU, and per chunk (a whole number of PDUs).
    fragment: usize,
    size: usize,
    /// The PDUs of one chunk, headers and payloads.
    out: Vec<u8>,
}

impl<'s, S: AsyncRead + AsyncWrite + Unpin> Chunks<'s, S> {
    /// Takes `buffer` for the PDUs; [`Self::done`] gives it back.
    fn new(
        stream: &'s mut PduStream<S>,
        pc_id: u8,
        file: std::sync::Arc<std::fs::File>,
        buffer: &mut Vec<u8>,
    ) -> Self {
        let fragment = max_fragment_len(stream.max_send()).min(1024 * 1024);
        let size = (STREAM_CHUNK / fragment).max(1) * fragment;
        let need = size + (size / fragment) * (PDU_HEADER_LENGTH + PDV_OVERHEAD);
        let mut out = std::mem::take(buffer);
        if out.len() < need {
            out.resize(need, 0);
        }
        Self {
            stream,
            pc_id,
            file,
            fragment,
            size,
            out,
        }
    }

    fn done(self, buffer: &mut Vec<u8>) {
        *buffer = self.out;
    }

    /// Sends `n` bytes of the file from `position`, the data set's last if
    /// `ends`.
    async fn send(&mut self, position: u64, n: usize, ends: bool) -> Result<(), SendFileError> {
        let overhead = PDU_HEADER_LENGTH + PDV_OVERHEAD;
        // Lay out the PDU headers; the payload slots stay to be filled.
        let mut slots = Vec::with_capacity(n.div_ceil(self.fragment));
        let mut at = 0;
        let mut left = n;
        loop {
            let piece = left.min(self.fragment);
            left -= piece;
            let header = pdata_header(self.pc_id, false, ends && left == 0, piece);
            self.out[at..at + overhead].copy_from_slice(&header);
            slots.push((at + overhead, piece));
            at += overhead + piece;
            if left == 0 {
                break;
            }
        }
        // What was just written (a body forwarded soon after it arrived, a
        // data set still arriving) is in the page cache: read here, without
        // the two thread wake-ups of a hand-off. The rest (what would wait
        // for the disk) is read on the blocking pool.
        let mut pending = slots;
        let cached = read_cached(&self.file, position, &mut self.out, &mut pending)
            .map_err(SendFileError::File)?;
        if !pending.is_empty() {
            let reader = std::sync::Arc::clone(&self.file);
            let mut filled = std::mem::take(&mut self.out);
            let from = position + cached;
            let (buf, result) = tokio::task::spawn_blocking(move || {
                let result = read_into_slots(&reader, from, &mut filled, &mut pending);
                (filled, result)
            })
            .await
            .map_err(|e| SendFileError::File(std::io::Error::other(e.to_string())))?;
            self.out = buf;
            result.map_err(SendFileError::File)?;
        }
        self.stream
            .write_raw(&self.out[..at])
            .await
            .map_err(SendFileError::Stream)
    }
}

/// The 12 bytes before a single PDV's data: PDU type and length, PDV length,
/// presentation context and message control header.
fn pdata_header(pc_id: u8, command: bool, is_last: bool, data_len: usize) -> [u8; 12] {
    let pdv_len = (data_len + 2) as u32;
    let pdu_len = pdv_len + 4;
    let mut h = [0u8; 12];
    h[0] = 0x04;
    h[2..6].copy_from_slice(&pdu_len.to_be_bytes());
    h[6..10].copy_from_slice(&pdv_len.to_be_bytes());
    h[10] = pc_id;
    h[11] = u8::from(command) | (u8::from(is_last) << 1);
    h
}

/// Fills the `(start, len)` slots of `buf` with consecutive bytes of the
/// file from `position`, with as few `preadv` calls as the kernel allows;
/// `slots` ends empty.
fn read_into_slots(
    file: &std::fs::File,
    position: u64,
    buf: &mut [u8],
    slots: &mut Vec<(usize, usize)>,
) -> std::io::Result<()> {
    read_slots(file, position, buf, slots, Wait::Yes).map(drop)
}

/// [`read_into_slots`] as far as the page cache holds the bytes, without
/// waiting for the disk: returns the bytes read, and leaves in `slots`
/// what is still to be filled (from `position` plus those bytes), all of
/// it when such reads are not possible here. An error only when the file
/// ends before the slots are filled.
fn read_cached(
    file: &std::fs::File,
    position: u64,
    buf: &mut [u8],
    slots: &mut Vec<(usize, usize)>,
) -> std::io::Result<u64> {
    read_slots(file, position, buf, slots, Wait::No)
}

/// Whether a read may wait for the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Yes,
    No,
}

fn read_slots(
    file: &std::fs::File,
    position: u64,
    buf: &mut [u8],
    pending: &mut Vec<(usize, usize)>,
    wait: Wait,
) -> std::io::Result<u64> {
    pending.retain(|s| s.1 > 0);
    let mut read = 0u64;
    while !pending.is_empty() {
        let n = match preadv(file, position + read, buf, pending, wait) {
            Ok(n) => n,
            Err(e) if wait == Wait::No && e.kind() != std::io::ErrorKind::Interrupted => {
                return Ok(read);
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the body file is shorter than its recorded size",
            ));
        }
        read += n as u64;
        // Drop what was filled; a short read leaves the rest for the next call.
        let mut done = n;
        pending.retain_mut(|(start, len)| {
            let take = done.min(*len);
            done -= take;
            *start += take;
            *len -= take;
            *len > 0
        });
    }
    Ok(read)
}

/// One `preadv(2)` into the slots of `buf` (at most `IOV_MAX` of them);
/// with [`Wait::No`], `preadv2(RWF_NOWAIT)`, which fails with EAGAIN
/// rather than wait for the disk (where the kernel has no such read, it
/// fails, and the caller reads on the blocking pool).
fn preadv(
    file: &std::fs::File,
    position: u64,
    buf: &mut [u8],
    slots: &[(usize, usize)],
    wait: Wait,
) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let slots = &slots[..slots.len().min(1024)];
    assert!(
        slots.iter().all(|&(s, l)| s + l <= buf.len()),
        "slots lie inside the buffer"
    );
    let base = buf.as_mut_ptr();
    let iov: Vec<libc::iovec> = slots
        .iter()
        .map(|&(start, len)| libc::iovec {
            // SAFETY: `start + len <= buf.len()` (asserted above).
            #[allow(unsafe_code)]
            iov_base: unsafe { base.add(start) }.cast(),
            iov_len: len,
        })
        .collect();
    let offset = libc::off_t::try_from(position).map_err(std::io::Error::other)?;
    let (fd, count) = (file.as_raw_fd(), iov.len() as i32);
    let n = match wait {
        // SAFETY: every iovec points into `buf`, which is borrowed mutably
        // for the whole call; the count is at most 1024 (IOV_MAX on Linux).
        #[allow(unsafe_code)]
        Wait::Yes => unsafe { libc::preadv(fd, iov.as_ptr(), count, offset) },
        Wait::No => preadv_nowait(fd, &iov, offset)?,
    };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// `preadv2(RWF_NOWAIT)` over iovecs into a buffer the caller borrows.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn preadv_nowait(fd: i32, iov: &[libc::iovec], offset: libc::off_t) -> std::io::Result<isize> {
    // SAFETY: as for `preadv` in the caller: the iovecs point into a
    // buffer borrowed mutably for the call, at most 1024 of them.
    #[allow(unsafe_code)]
    let n = unsafe { libc::preadv2(fd, iov.as_ptr(), iov.len() as i32, offset, libc::RWF_NOWAIT) };
    Ok(n)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn preadv_nowait(_fd: i32, _iov: &[libc::iovec], _offset: libc::off_t) -> std::io::Result<isize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

async fn fill<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests;
