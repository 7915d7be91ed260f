//! P-DATA: our fragmenter (honouring the peer's maximum PDU length, PS3.8
//! §9.3.5 and Annex E) and the reassembly of PDVs into command sets and data
//! fragments.
//!
//! A command set is small and is buffered (bounded by
//! [`MAX_COMMAND_SET_LENGTH`]); data-set fragments are handed on as they
//! arrive, so a data set is never held whole in memory.

use dicom_ul::pdu::{PDataValue, PDataValueType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::commands::{CommandError, DimseCommand, MAX_COMMAND_SET_LENGTH};
use super::pdu::{PDU_HEADER_LENGTH, PDV_OVERHEAD, PduStream};

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

/// What a PDV contributed, once reassembled.
#[derive(Debug)]
pub enum PdvEvent {
    /// A command set is complete.
    Command {
        presentation_context_id: u8,
        command: DimseCommand,
    },
    /// A fragment of the data set that follows the last command.
    Data {
        presentation_context_id: u8,
        bytes: Vec<u8>,
        is_last: bool,
    },
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
    pub fn in_progress(&self) -> bool {
        self.command_context.is_some() || self.data_context.is_some()
    }

    /// Feeds one PDV.
    ///
    /// # Errors
    /// [`PdvError`] when the sequence is invalid or the command set does not
    /// decode; the association should be aborted.
    pub fn push(&mut self, pdv: PDataValue) -> Result<Option<PdvEvent>, PdvError> {
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
                self.command.extend_from_slice(&pdv.data);
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
                    presentation_context_id: pc_id,
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
    let pdv_len = (data.len() + 2) as u32;
    let pdu_len = pdv_len + 4;
    out.push(0x04);
    out.push(0x00);
    out.extend_from_slice(&pdu_len.to_be_bytes());
    out.extend_from_slice(&pdv_len.to_be_bytes());
    out.push(pc_id);
    out.push(u8::from(command) | (u8::from(is_last) << 1));
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

/// Streams a data set from a reader as data PDVs, one PDU at a time and
/// fragmented to the peer's maximum; memory use is bounded by one fragment
/// (two while looking ahead for the last one). Returns the bytes sent.
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
    let mut current = vec![0u8; fragment];
    let mut next = vec![0u8; fragment];
    let mut current_len = fill(&mut reader, &mut current).await?;
    let mut out = Vec::with_capacity(fragment + PDU_HEADER_LENGTH + PDV_OVERHEAD);
    let mut sent = 0u64;
    loop {
        // A short read means end of input; a full one needs a look ahead.
        let next_len = if current_len == fragment {
            fill(&mut reader, &mut next).await?
        } else {
            0
        };
        let is_last = next_len == 0;
        out.clear();
        encode_pdata(&mut out, pc_id, false, is_last, &current[..current_len]);
        stream.write_raw(&out).await?;
        sent += current_len as u64;
        if is_last {
            return Ok(sent);
        }
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
    }
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
