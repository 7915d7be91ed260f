//! Configuration values (associations, AE directory entries) as stored: one
//! format-version byte, then JSON, so that a newer build's values are
//! refused by name instead of misread.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The only format this build writes and reads.
const FORMAT_V1: u8 = 1;

/// The stored bytes of `record`.
///
/// # Errors
/// Only if JSON serialisation fails, which plain data does not.
pub(super) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = vec![FORMAT_V1];
    serde_json::to_writer(&mut out, record)?;
    Ok(out)
}

/// The record in stored bytes.
///
/// # Errors
/// Why they cannot be read: empty, another format version, or bad JSON.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (version, body) = bytes
        .split_first()
        .ok_or_else(|| "empty value".to_string())?;
    if *version != FORMAT_V1 {
        return Err(format!(
            "format version {version} is not known to this build (it reads version {FORMAT_V1})"
        ));
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}
