//! Data sets read from bytes the engine did not write: a body received over
//! the network, a file dropped in a folder. Every length is checked against
//! what is left before the decoder sees it, so a length that lies (by one
//! byte or by four gigabytes) cuts the data set there instead of sizing an
//! allocation; what comes before the lie is still read.
//!
//! - [`walk`]: the one pass that checks lengths and repairs what it can.
//!
//! Everything blocks (file I/O): from async code, call it on the blocking
//! pool.

mod walk;

use std::io::{Read, Seek, SeekFrom};

use dicom_encoding::{Codec, TransferSyntaxIndex};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

pub use walk::{Encoding, Stop};

/// A data set, read as far as its lengths allow.
#[derive(Debug)]
pub struct DataSet {
    pub object: InMemDicomObject,
    /// Where and why the data set was cut short, if it was.
    pub cut: Option<String>,
    /// Elements read otherwise than the transfer syntax says (an element
    /// without a VR, a UN holding a sequence).
    pub repairs: Vec<String>,
}

/// Reads the data set (no preamble or meta group) in the next `len` bytes
/// of `input`, encoded in `transfer_syntax`, up to `stop`.
///
/// The bytes are walked once to check every length; when none lies and
/// none needs a repair, the decoder reads the input itself, else the walk
/// runs again and the decoder reads the well-formed copy it writes (at
/// most the size of the input).
///
/// # Errors
/// An unknown or unsupported transfer syntax, an I/O error, or a value the
/// decoder refuses.
pub fn read<R: Read + Seek>(
    mut input: R,
    len: u64,
    transfer_syntax: &str,
    stop: Stop,
) -> Result<DataSet, String> {
    let uid = transfer_syntax.trim_end_matches(['\0', ' ']);
    let ts = TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| format!("unknown transfer syntax {uid}"))?;
    if matches!(ts.codec(), Codec::Dataset(_)) {
        return Err(format!("{} data sets cannot be read", ts.name()));
    }
    let encoding = encoding(uid)?;
    let start = input.stream_position().map_err(|e| e.to_string())?;
    let walked = walk::walk(&mut input, len, encoding, stop, None).map_err(|e| e.to_string())?;
    input
        .seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let decoded = if walked.clean() {
        InMemDicomObject::read_dataset_with_ts(std::io::BufReader::new(input.take(walked.end)), ts)
    } else {
        let mut copy = Vec::new();
        walk::walk(&mut input, len, encoding, stop, Some(&mut copy)).map_err(|e| e.to_string())?;
        InMemDicomObject::read_dataset_with_ts(&copy[..], ts)
    };
    let object = decoded.map_err(|e| e.to_string())?;
    Ok(DataSet {
        object,
        cut: walked.cut,
        repairs: walked.repairs,
    })
}

/// Reads the data set in the first `size` bytes (all when `None`) of the
/// file at `path`, as [`read`] does; errors name the file.
///
/// # Errors
/// As [`read`], and a file that cannot be opened.
pub fn read_file(
    path: &std::path::Path,
    size: Option<u64>,
    transfer_syntax: &str,
    stop: Stop,
) -> Result<DataSet, String> {
    let open = || -> std::io::Result<(std::fs::File, u64)> {
        let file = std::fs::File::open(path)?;
        let actual = file.metadata()?.len();
        Ok((file, size.map_or(actual, |s| s.min(actual))))
    };
    let (file, len) = open().map_err(|e| format!("{}: {e}", path.display()))?;
    read(file, len, transfer_syntax, stop).map_err(|e| format!("{}: {e}", path.display()))
}

/// Implicit VR Little Endian and Explicit VR Little Endian: a data set in
/// one can be re-encoded in the other by rewriting its element headers.
const LITTLE_ENDIAN: [&str; 2] = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"];

/// Whether [`reencode`] can turn a data set in `from` into one in `to`.
pub fn can_reencode(from: &str, to: &str) -> bool {
    let plain = |ts: &str| LITTLE_ENDIAN.contains(&ts.trim_end_matches(['\0', ' ']));
    plain(from) && plain(to)
}

/// A data set (no preamble or meta group) in `from`, re-encoded in `to`:
/// element headers are rewritten (the VR of an implicit VR element comes
/// from the dictionary, UN when unknown), value bytes are copied as they
/// are, so text is never transcoded.
///
/// # Errors
/// Transfer syntaxes [`can_reencode`] refuses, or a data set whose lengths
/// lie or that has an element the other encoding cannot hold (a part of
/// it would be lost).
pub fn reencode(bytes: &[u8], from: &str, to: &str) -> Result<Vec<u8>, String> {
    if !can_reencode(from, to) {
        return Err(format!(
            "cannot re-encode {} as {}: only between implicit and explicit VR little endian",
            crate::dictionary::transfer_syntax_name_or_unknown(from),
            crate::dictionary::transfer_syntax_name_or_unknown(to)
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 4);
    let walked = walk::walk_into(
        std::io::Cursor::new(bytes),
        bytes.len() as u64,
        encoding(from.trim_end_matches(['\0', ' ']))?,
        encoding(to.trim_end_matches(['\0', ' ']))?,
        Stop::End,
        Some(&mut out),
    )
    .map_err(|e| e.to_string())?;
    match walked.cut {
        Some(cut) => Err(cut),
        None if walked.left_out => Err(format!(
            "re-encoding would leave an element out: {}",
            walked.repairs.join("; ")
        )),
        None => Ok(out),
    }
}

/// How the transfer syntax with this UID encodes element headers.
fn encoding(uid: &str) -> Result<Encoding, String> {
    let info = crate::dictionary::transfer_syntax(uid)
        .ok_or_else(|| format!("unknown transfer syntax {uid}"))?;
    Ok(Encoding {
        explicit_vr: info.explicit_vr,
        big_endian: info.big_endian,
    })
}

#[cfg(test)]
mod tests;
