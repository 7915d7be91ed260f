//! The identifier of a C-FIND, C-MOVE or C-GET as it arrives, bounded.

/// The largest identifier taken: query keys are a few hundred bytes; this
/// bounds what a peer can make the service hold.
const MAX_IDENTIFIER: usize = 1 << 20;

/// An identifier's bytes so far.
#[derive(Debug, Default)]
pub(super) struct Identifier {
    bytes: Vec<u8>,
    too_large: bool,
}

impl Identifier {
    /// One fragment, in order; past the limit, nothing more is kept.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.bytes.len() + bytes.len() > MAX_IDENTIFIER {
            self.too_large = true;
            self.bytes = Vec::new();
        }
        if !self.too_large {
            self.bytes.extend_from_slice(bytes);
        }
    }

    /// The whole identifier, or why it was not kept (the Error Comment of
    /// an A700H answer).
    pub(super) fn take(self) -> Result<Vec<u8>, String> {
        if self.too_large {
            Err(format!(
                "the identifier is larger than {} KiB",
                MAX_IDENTIFIER >> 10
            ))
        } else {
            Ok(self.bytes)
        }
    }
}
