//! Tree names and key encodings. Keys sort the way the data should come back
//! from a scan; nothing outside `store/` sees them.

use crate::association::{AeTitle, PairKey};
use crate::ids::NamespaceId;

/// Separates the calling and called AE titles in a pair key. AE titles never
/// hold control characters, so NUL cannot occur inside one, and a shorter
/// calling AE title sorts before a longer one that starts with it.
const PAIR_SEPARATOR: u8 = 0;

/// The tree holding a namespace's association contexts. Namespace names are
/// letters, digits, `-` and `_` only, so the `/` cannot be forged.
pub(crate) fn associations_tree(namespace: &NamespaceId) -> String {
    format!("{namespace}/associations")
}

/// `calling AET` NUL `called AET`, so scans come back sorted by calling
/// then called AE title.
pub(crate) fn pair_key(key: &PairKey) -> Vec<u8> {
    let calling = key.calling_ae_title.as_str().as_bytes();
    let called = key.called_ae_title.as_str().as_bytes();
    let mut out = Vec::with_capacity(calling.len() + 1 + called.len());
    out.extend_from_slice(calling);
    out.push(PAIR_SEPARATOR);
    out.extend_from_slice(called);
    out
}

/// The inverse of [`pair_key`]; `None` for bytes it did not produce.
pub(crate) fn decode_pair_key(bytes: &[u8]) -> Option<PairKey> {
    let at = bytes.iter().position(|b| *b == PAIR_SEPARATOR)?;
    let calling = std::str::from_utf8(&bytes[..at]).ok()?;
    let called = std::str::from_utf8(&bytes[at + 1..]).ok()?;
    Some(PairKey::new(
        AeTitle::new(calling).ok()?,
        AeTitle::new(called).ok()?,
    ))
}

/// A printable form of a raw key, for error messages.
pub(crate) fn display_key(bytes: &[u8]) -> String {
    match decode_pair_key(bytes) {
        Some(key) => key.to_string(),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}
