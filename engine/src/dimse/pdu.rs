//! Upper-layer PDU I/O over any `AsyncRead + AsyncWrite + Unpin` stream
//! (PS3.8 §9.3): read the 6-byte header, bound the length by the PDU type
//! and our limits BEFORE reading the body, then decode with dicom-ul's codec.
//!
//! The stream is generic so TLS can be layered in later.
//!
//! Reads are cancellation-safe (a read abandoned by `select!` keeps the
//! bytes it got and the next read resumes), so an association can wait for
//! the peer's next PDU and for its own outgoing responses at once.

use std::io;
use std::time::Duration;

use dicom_ul::pdu::{
    AbortRQServiceProviderReason, AbortRQSource, MAXIMUM_PDU_SIZE, PDataValue, PDataValueType, Pdu,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The 6-byte PDU header: type, reserved, 32-bit big-endian length.
pub const PDU_HEADER_LENGTH: usize = 6;

/// The bytes of a P-DATA-TF PDU that are not data: the PDV item's 4-byte
/// length, presentation context ID and message control header.
pub const PDV_OVERHEAD: usize = 6;

/// The largest A-ASSOCIATE-RQ/AC we accept. Each presentation context item is
/// bounded by its 16-bit length, and 128 contexts with a dozen transfer
/// syntaxes each stay far below this.
pub const MAX_ASSOCIATE_PDU_LENGTH: u32 = 1024 * 1024;

/// The largest P-DATA PDU we accept when our announced maximum is 0
/// ("unlimited"), and the largest we send to a peer that announced 0.
pub const UNLIMITED_PDU_CAP: u32 = 4 * 1024 * 1024;

/// Why a PDU could not be read. Each maps to what the association does next.
#[derive(Debug, thiserror::Error)]
pub enum PduReadError {
    /// The peer closed the connection before the first byte of a PDU.
    #[error("the peer closed the connection")]
    Closed,
    /// The connection ended in the middle of a PDU.
    #[error("the connection closed in the middle of a PDU ({got} of {expected} bytes)")]
    Truncated { got: usize, expected: usize },
    /// The first byte is not a PDU type (PS3.8 §9.3.1): garbage or another
    /// protocol, e.g. an HTTP request.
    #[error("unrecognized PDU type {pdu_type:#04x}{}", printable_hint(*.header))]
    UnrecognizedType { pdu_type: u8, header: [u8; 6] },
    /// The header claims more bytes than this PDU type may have.
    #[error("{name} PDU claims {length} bytes; at most {limit} are accepted")]
    TooLong {
        name: &'static str,
        length: u32,
        limit: u32,
    },
    /// The body does not decode.
    #[error("malformed {name} PDU: {reason}")]
    Malformed { name: &'static str, reason: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl PduReadError {
    /// The A-ABORT to send before closing, if any (nothing for a closed or
    /// broken connection).
    pub fn abort_reason(&self) -> Option<AbortRQServiceProviderReason> {
        match self {
            Self::Closed | Self::Truncated { .. } | Self::Io(_) => None,
            Self::UnrecognizedType { .. } => Some(AbortRQServiceProviderReason::UnrecognizedPdu),
            Self::TooLong { .. } | Self::Malformed { .. } => {
                Some(AbortRQServiceProviderReason::InvalidPduParameter)
            }
        }
    }
}

fn printable_hint(header: [u8; 6]) -> String {
    if header.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!(
            " (text {:?}: not DICOM, maybe another protocol)",
            String::from_utf8_lossy(&header)
        )
    } else {
        String::new()
    }
}

/// Why [`PduStream::read_pdu_within`] got no PDU.
#[derive(Debug, thiserror::Error)]
pub enum ReadWithinError {
    /// Nothing came in time; the association was aborted.
    #[error("no answer within {0:?}; the association was aborted")]
    TimedOut(Duration),
    #[error(transparent)]
    Read(#[from] PduReadError),
}

/// A PDU that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PduWriteError {
    #[error("could not encode the {name} PDU: {reason}")]
    Encode { name: &'static str, reason: String },
    #[error("refusing to send a {length}-byte PDU: the peer accepts at most {limit}")]
    TooLong { length: usize, limit: u32 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The standard's name of a PDU type, e.g. "A-ASSOCIATE-RQ".
pub fn pdu_type_name(pdu_type: u8) -> Option<&'static str> {
    Some(match pdu_type {
        0x01 => "A-ASSOCIATE-RQ",
        0x02 => "A-ASSOCIATE-AC",
        0x03 => "A-ASSOCIATE-RJ",
        0x04 => "P-DATA-TF",
        0x05 => "A-RELEASE-RQ",
        0x06 => "A-RELEASE-RP",
        0x07 => "A-ABORT",
        _ => return None,
    })
}

/// The name of a decoded PDU, e.g. "A-ASSOCIATE-RQ".
pub fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::PData { .. } => "P-DATA-TF",
        Pdu::ReleaseRQ => "A-RELEASE-RQ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        Pdu::AbortRQ { .. } => "A-ABORT",
        Pdu::Unknown { .. } => "unknown",
    }
}

/// The trace form of a PDU: `A-ASSOCIATE-RQ PDU`, `P-DATA-TF PDU (2 PDVs,
/// 16384 bytes)`, `A-ABORT PDU (service-provider: unexpected PDU)`.
pub fn describe_pdu(pdu: &Pdu) -> String {
    match pdu {
        Pdu::PData { data } => {
            let bytes: usize = data.iter().map(|v| v.data.len()).sum();
            let kinds = if data.iter().all(|v| v.value_type == PDataValueType::Command) {
                "command"
            } else if data.iter().all(|v| v.value_type == PDataValueType::Data) {
                "data"
            } else {
                "command and data"
            };
            format!(
                "P-DATA-TF PDU ({} {kinds} PDV{}, {bytes} bytes)",
                data.len(),
                if data.len() == 1 { "" } else { "s" }
            )
        }
        Pdu::AbortRQ { source } => format!("A-ABORT PDU ({})", describe_abort_source(source)),
        Pdu::AssociationRJ(rj) => format!(
            "A-ASSOCIATE-RJ PDU ({})",
            crate::association::negotiation::Rejection(rj.clone())
        ),
        other => format!("{} PDU", pdu_name(other)),
    }
}

/// An abort source in words, e.g. "service-provider: unexpected PDU".
pub fn describe_abort_source(source: &AbortRQSource) -> String {
    match source {
        AbortRQSource::ServiceUser => "service-user".to_string(),
        AbortRQSource::Reserved => "reserved source".to_string(),
        AbortRQSource::ServiceProvider(reason) => format!("service-provider: {reason}"),
    }
}

/// One end of an upper-layer connection: a stream plus reusable read and
/// write buffers, and the PDU length limits in force.
///
/// Lifecycle: created on connect/accept with [`MAX_ASSOCIATE_PDU_LENGTH`]
/// limits; once the association is negotiated, [`PduStream::set_limits`]
/// installs our announced maximum (for reading) and the peer's (for
/// writing).
#[derive(Debug)]
pub struct PduStream<S> {
    stream: S,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    /// Largest P-DATA PDU length we accept (the maximum we announced).
    max_receive: u32,
    /// Largest PDU length the peer accepts (what it announced), capped.
    max_send: u32,
    /// How long one write may wait for a peer that does not read.
    write_timeout: Duration,
    /// A PDU is partly in `read_buf` (a read was cancelled half-way).
    reading: bool,
    /// The name and whole length of that PDU, once its header is in.
    partial: Option<(&'static str, usize)>,
}

/// How long a write waits for a peer that does not read, unless set.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the A-ABORT of a connection being torn down may take.
const ABORT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

impl<S: AsyncRead + AsyncWrite + Unpin> PduStream<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            read_buf: Vec::new(),
            write_buf: Vec::new(),
            max_receive: UNLIMITED_PDU_CAP,
            max_send: UNLIMITED_PDU_CAP,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            reading: false,
            partial: None,
        }
    }

    /// Sets how long one write may wait for a peer that stops reading (a
    /// full TCP window); past it the write fails with `TimedOut` and the
    /// association must end.
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.write_timeout = timeout;
    }

    /// Installs the negotiated limits. `ours` is the maximum length we
    /// announced, `peer` the one the peer announced; 0 means unlimited and
    /// is capped at [`UNLIMITED_PDU_CAP`].
    pub fn set_limits(&mut self, ours: u32, peer: u32) {
        self.max_receive = effective_max(ours);
        self.max_send = effective_max(peer);
    }

    /// The largest PDU length we may send.
    pub fn max_send(&self) -> u32 {
        self.max_send
    }

    /// The underlying stream.
    #[cfg(test)]
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Reads one PDU.
    ///
    /// # Errors
    /// [`PduReadError`]; see [`PduReadError::abort_reason`] for what to send
    /// back before closing.
    pub async fn read_pdu(&mut self) -> Result<Pdu, PduReadError> {
        let name = self.read_raw().await?;
        decode(&self.read_buf, name)
    }

    /// Reads one PDU within `timeout`. When none comes in time, sends
    /// A-ABORT (service-user) and closes: a peer that does not answer in
    /// time has ended the association for us.
    ///
    /// # Errors
    /// [`ReadWithinError::TimedOut`], or the read's own error.
    pub async fn read_pdu_within(&mut self, timeout: Duration) -> Result<Pdu, ReadWithinError> {
        match tokio::time::timeout(timeout, self.read_pdu()).await {
            Ok(pdu) => Ok(pdu?),
            Err(_) => {
                self.abort(AbortRQSource::ServiceUser).await;
                Err(ReadWithinError::TimedOut(timeout))
            }
        }
    }

    /// Reads one PDU; a P-DATA-TF PDU comes back undecoded, its PDVs
    /// borrowed from the bytes as they arrived (no copy). Give the PDU back
    /// with [`Self::recycle`] so that its buffer serves the next read.
    ///
    /// # Errors
    /// As [`Self::read_pdu`].
    pub async fn read_incoming(&mut self) -> Result<Incoming, PduReadError> {
        let name = self.read_raw().await?;
        if self.read_buf[0] != 0x04 {
            return decode(&self.read_buf, name).map(Incoming::Other);
        }
        let items = pdv_items(&self.read_buf[PDU_HEADER_LENGTH..]).map_err(|reason| {
            PduReadError::Malformed {
                name,
                reason: reason.into(),
            }
        })?;
        Ok(Incoming::PData(PDataPdu {
            bytes: std::mem::take(&mut self.read_buf),
            items,
        }))
    }

    /// Takes back the buffer of a P-DATA-TF PDU from [`Self::read_incoming`].
    pub fn recycle(&mut self, pdu: PDataPdu) {
        if pdu.bytes.capacity() > self.read_buf.capacity() {
            self.read_buf = pdu.bytes;
        }
    }

    /// Reads one whole PDU into `read_buf`; returns its type's name.
    ///
    /// Cancellation-safe: every byte read is kept in `read_buf` (and the
    /// PDU's name and length in `partial`), so a read abandoned by a
    /// `select!` resumes where it stopped. Reads never go past the PDU's
    /// last byte.
    async fn read_raw(&mut self) -> Result<&'static str, PduReadError> {
        if !self.reading {
            self.read_buf.clear();
            self.partial = None;
            self.reading = true;
        }
        let result = self.read_raw_resumable().await;
        // Done or failed: the next read starts a new PDU. A cancelled read
        // never gets here and keeps its progress.
        self.reading = false;
        result
    }

    async fn read_raw_resumable(&mut self) -> Result<&'static str, PduReadError> {
        loop {
            let have = self.read_buf.len();
            let want = match self.partial {
                Some((name, expected)) if have >= expected => return Ok(name),
                Some((_, expected)) => expected - have,
                None if have >= PDU_HEADER_LENGTH => {
                    self.partial = Some(self.check_header()?);
                    continue;
                }
                None => PDU_HEADER_LENGTH - have,
            };
            // The buffer grows only as bytes actually arrive, so even a
            // bounded claim costs nothing until the peer sends the bytes.
            self.read_buf.reserve(want.min(256 * 1024));
            let n = (&mut self.stream)
                .take(want as u64)
                .read_buf(&mut self.read_buf)
                .await?;
            if n == 0 {
                return Err(match self.partial {
                    None if have == 0 => PduReadError::Closed,
                    None => PduReadError::Truncated {
                        got: have,
                        expected: PDU_HEADER_LENGTH,
                    },
                    Some((_, expected)) => PduReadError::Truncated {
                        got: have,
                        expected,
                    },
                });
            }
        }
    }

    /// Checks the header in `read_buf`: a known type and a length within
    /// the limit for it. Returns the type's name and the whole PDU's length.
    fn check_header(&self) -> Result<(&'static str, usize), PduReadError> {
        let mut header = [0u8; PDU_HEADER_LENGTH];
        header.copy_from_slice(&self.read_buf[..PDU_HEADER_LENGTH]);
        let pdu_type = header[0];
        let length = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        let Some(name) = pdu_type_name(pdu_type) else {
            return Err(PduReadError::UnrecognizedType { pdu_type, header });
        };
        let limit = match pdu_type {
            0x01 | 0x02 => MAX_ASSOCIATE_PDU_LENGTH,
            0x04 => self.max_receive,
            // RJ, release and abort have a 4-byte body (PS3.8 §9.3.4, 9.3.6-9.3.8).
            _ => 64,
        };
        if length > limit {
            return Err(PduReadError::TooLong {
                name,
                length,
                limit,
            });
        }
        Ok((name, PDU_HEADER_LENGTH + length as usize))
    }

    /// Writes one PDU and flushes it. P-DATA larger than the peer's maximum
    /// is refused here; use [`crate::dimse::pdata`] to fragment.
    ///
    /// # Errors
    /// [`PduWriteError`].
    pub async fn write_pdu(&mut self, pdu: &Pdu) -> Result<(), PduWriteError> {
        self.write_buf.clear();
        dicom_ul::pdu::write_pdu(&mut self.write_buf, pdu).map_err(|e| PduWriteError::Encode {
            name: pdu_name(pdu),
            reason: e.to_string(),
        })?;
        if matches!(pdu, Pdu::PData { .. }) {
            let length = self.write_buf.len() - PDU_HEADER_LENGTH;
            if length > self.max_send as usize {
                return Err(PduWriteError::TooLong {
                    length,
                    limit: self.max_send,
                });
            }
        }
        let Self {
            stream,
            write_buf,
            write_timeout,
            ..
        } = self;
        within(*write_timeout, async {
            stream.write_all(write_buf).await?;
            stream.flush().await
        })
        .await?;
        Ok(())
    }

    /// Writes bytes that already form whole PDUs (built by the fragmenter)
    /// and flushes.
    ///
    /// # Errors
    /// I/O errors.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = &mut self.stream;
        within(self.write_timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
    }

    /// Sends an A-ABORT with the given source, ignoring write errors (the
    /// connection is being torn down anyway), and shuts the stream down;
    /// a peer that does not read gets a short while, not the write timeout.
    pub async fn abort(&mut self, source: AbortRQSource) {
        let write_timeout = self.write_timeout;
        self.write_timeout = write_timeout.min(ABORT_WRITE_TIMEOUT);
        let _sent = self.write_pdu(&Pdu::AbortRQ { source }).await;
        self.write_timeout = write_timeout;
        self.shutdown().await;
    }

    /// Shuts the write side down (TCP FIN), within a short while.
    pub async fn shutdown(&mut self) {
        let stream = &mut self.stream;
        let _closed = within(ABORT_WRITE_TIMEOUT, stream.shutdown()).await;
    }
}

/// Runs a write within `timeout`; past it, a `TimedOut` error that says so.
async fn within(timeout: Duration, write: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    tokio::time::timeout(timeout, write)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer took nothing for {timeout:?} (it stopped reading)"),
            ))
        })
}

/// The PDU length a peer's announced maximum allows: 0 (unlimited) and
/// anything larger are capped at [`UNLIMITED_PDU_CAP`].
pub(crate) fn effective_max(announced: u32) -> u32 {
    if announced == 0 {
        UNLIMITED_PDU_CAP
    } else {
        announced.min(UNLIMITED_PDU_CAP)
    }
}

/// Decodes a whole PDU (header included). The codec is defensive, but a
/// panic on a malformed input must never take the association task down
/// without an answer, so it is contained here.
fn decode(bytes: &[u8], name: &'static str) -> Result<Pdu, PduReadError> {
    if bytes.first() == Some(&0x04) {
        return decode_pdata(bytes).map_err(|reason| PduReadError::Malformed {
            name,
            reason: reason.into(),
        });
    }
    let decoded =
        std::panic::catch_unwind(|| dicom_ul::pdu::read_pdu(bytes, MAXIMUM_PDU_SIZE, false));
    match decoded {
        Ok(Ok(Some(pdu))) => Ok(pdu),
        Ok(Ok(None)) => Err(PduReadError::Malformed {
            name,
            reason: "incomplete PDU".into(),
        }),
        Ok(Err(e)) => Err(PduReadError::Malformed {
            name,
            reason: e.to_string(),
        }),
        Err(_) => Err(PduReadError::Malformed {
            name,
            reason: "the decoder failed on this input".into(),
        }),
    }
}

/// One PDV, borrowed from the PDU it came in (see
/// [`PDataPdu`]) or from a decoded [`PDataValue`].
#[derive(Debug, Clone)]
pub struct PdvRef<'a> {
    pub presentation_context_id: u8,
    pub value_type: PDataValueType,
    pub is_last: bool,
    pub data: &'a [u8],
}

impl<'a> From<&'a PDataValue> for PdvRef<'a> {
    fn from(pdv: &'a PDataValue) -> Self {
        Self {
            presentation_context_id: pdv.presentation_context_id,
            value_type: pdv.value_type.clone(),
            is_last: pdv.is_last,
            data: &pdv.data,
        }
    }
}

/// A P-DATA-TF PDU as it arrived (from [`PduStream::read_incoming`]), with
/// the places of its PDVs.
#[derive(Debug)]
pub struct PDataPdu {
    /// The whole PDU, header included.
    bytes: Vec<u8>,
    items: Vec<PdvItem>,
}

/// Where one PDV is in a [`PDataPdu`]: context, message control header, data.
#[derive(Debug, Clone, Copy)]
struct PdvItem {
    pc_id: u8,
    control: u8,
    start: usize,
    end: usize,
}

impl PdvItem {
    /// The PDV this item locates in `pdu` (the whole PDU's bytes).
    fn lend<'a>(&self, pdu: &'a [u8]) -> PdvRef<'a> {
        PdvRef {
            presentation_context_id: self.pc_id,
            value_type: if self.control & 0x01 != 0 {
                PDataValueType::Command
            } else {
                PDataValueType::Data
            },
            is_last: self.control & 0x02 != 0,
            data: &pdu[self.start..self.end],
        }
    }
}

impl PDataPdu {
    /// The PDVs, in order, borrowed from the PDU.
    pub fn pdvs(&self) -> impl Iterator<Item = PdvRef<'_>> {
        self.items.iter().map(|i| i.lend(&self.bytes))
    }

    /// How many PDVs and data bytes, for logs.
    pub fn sizes(&self) -> (usize, usize) {
        (
            self.items.len(),
            self.items.iter().map(|i| i.end - i.start).sum(),
        )
    }
}

/// What [`PduStream::read_incoming`] read.
#[derive(Debug)]
pub enum Incoming {
    PData(PDataPdu),
    Other(Pdu),
}

/// Finds the PDV items of a P-DATA-TF PDU's body (PS3.8 §9.3.5): each a
/// 4-byte length, a presentation context ID, a message control header and
/// the data. Offsets are into the whole PDU (header included).
fn pdv_items(mut body: &[u8]) -> Result<Vec<PdvItem>, &'static str> {
    let mut items = Vec::with_capacity(1);
    let mut at = PDU_HEADER_LENGTH;
    while !body.is_empty() {
        let Some((length, rest)) = body.split_first_chunk::<4>() else {
            return Err("truncated PDV item header");
        };
        let length = u32::from_be_bytes(*length) as usize;
        if length < 2 {
            return Err("PDV item shorter than its header");
        }
        if length > rest.len() {
            return Err("PDV item longer than the PDU");
        }
        items.push(PdvItem {
            pc_id: rest[0],
            control: rest[1],
            start: at + 6,
            end: at + 4 + length,
        });
        at += 4 + length;
        body = &rest[length..];
    }
    if items.is_empty() {
        return Err("P-DATA-TF PDU without a PDV item");
    }
    Ok(items)
}

/// Decodes a P-DATA-TF PDU (header included) into owned PDVs: one copy per
/// PDV, where the codec made two.
fn decode_pdata(bytes: &[u8]) -> Result<Pdu, &'static str> {
    let items = pdv_items(&bytes[PDU_HEADER_LENGTH..])?;
    let data = items
        .iter()
        .map(|i| {
            let pdv = i.lend(bytes);
            PDataValue {
                presentation_context_id: pdv.presentation_context_id,
                value_type: pdv.value_type,
                is_last: pdv.is_last,
                data: pdv.data.to_vec(),
            }
        })
        .collect();
    Ok(Pdu::PData { data })
}

#[cfg(test)]
mod tests;
