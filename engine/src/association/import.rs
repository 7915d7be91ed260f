//! The association import file: one `SOP` or `SOP\TS` per line, as in the
//! reference engine's `ImportAssociation`.
//!
//! - Lines naming the same SOP class accumulate transfer syntaxes in file
//!   order; SOP classes keep the order of their first line.
//! - A SOP class that never gets a transfer syntax gets Implicit VR Little
//!   Endian, the DICOM default.
//! - `SOP\TS1\TS2` is accepted as a shorthand for two lines.
//! - Blank lines are ignored, and so is everything from a `#` to the end of
//!   the line. CRLF line ends and a UTF-8 byte-order mark are accepted.
//! - `certificate BINDING` lines bind the calling AE title to client
//!   certificates (`cn:NAME`, `san:DNS-NAME`, `sha256:FINGERPRINT`), in
//!   file order.
//! - Every bad line is reported (`FILE:LINE: what is wrong`), not only the
//!   first, and a file with any bad line yields nothing.
//!
//! [`export`] writes the same format, every transfer syntax on its own
//! `SOP\TS` line (also the default one), so that export → import gives back
//! exactly the same presentation contexts in the same order, and the
//! same certificate bindings.
//!
//! Pure functions over bytes; reading and writing files is the caller's job.

use std::collections::HashMap;
use std::fmt;

use super::binding::CertificateBinding;
use super::model::{AssociationContext, PresentationContext, Uid};

/// What an import file holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportFile {
    pub presentation_contexts: Vec<PresentationContext>,
    pub certificates: Vec<CertificateBinding>,
}

/// One meaningful line.
enum Line {
    Context(Uid, Vec<Uid>),
    Certificate(CertificateBinding),
}

/// The keyword of a certificate binding line.
const CERTIFICATE: &str = "certificate";

/// At most this many line errors are listed in an [`ImportError`]'s message;
/// the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 100;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
}

/// Every bad line of one import file. Displays one `FILE:LINE: message` line
/// per error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    /// The file's name as the user gave it.
    pub file: String,
    /// The bad lines, in file order.
    pub errors: Vec<LineError>,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().take(MAX_REPORTED_ERRORS).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}", self.file, e.line, e.message)?;
        }
        if self.errors.len() > MAX_REPORTED_ERRORS {
            write!(
                f,
                "\n{}: {} more bad lines not shown",
                self.file,
                self.errors.len() - MAX_REPORTED_ERRORS
            )?;
        }
        Ok(())
    }
}

/// Parses an import file named `file` (used in error messages).
///
/// # Errors
/// [`ImportError`] listing every bad line; then nothing is returned.
pub fn parse_file(file: &str, bytes: &[u8]) -> Result<ImportFile, ImportError> {
    parse(bytes).map_err(|errors| ImportError {
        file: file.to_string(),
        errors,
    })
}

/// Parses the text of an import file into presentation contexts and
/// certificate bindings.
///
/// # Errors
/// Every bad line, in file order.
pub fn parse(bytes: &[u8]) -> Result<ImportFile, Vec<LineError>> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    // SOP classes in order of first appearance, each with the transfer
    // syntaxes given so far (possibly none yet).
    let mut contexts: Vec<(Uid, Vec<Uid>)> = Vec::new();
    // Where each SOP class sits in `contexts`, so long files stay linear.
    let mut positions: HashMap<Uid, usize> = HashMap::new();
    let mut certificates = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(_) => {
                errors.push(LineError {
                    line,
                    message: "is not valid UTF-8 text".to_string(),
                });
                continue;
            }
        };
        match parse_line(text) {
            Ok(None) => {}
            Ok(Some(Line::Certificate(binding))) => {
                if !certificates.contains(&binding) {
                    certificates.push(binding);
                }
            }
            Ok(Some(Line::Context(sop, tss))) => {
                let pos = *positions.entry(sop.clone()).or_insert_with(|| {
                    contexts.push((sop, Vec::new()));
                    contexts.len() - 1
                });
                let listed = &mut contexts[pos].1;
                for ts in tss {
                    // A repeated pair adds nothing; order is first mention.
                    if !listed.contains(&ts) {
                        listed.push(ts);
                    }
                }
            }
            Err(message) => errors.push(LineError { line, message }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let default_ts = Uid::implicit_vr_little_endian();
    let presentation_contexts = contexts
        .into_iter()
        .map(|(abstract_syntax, mut transfer_syntaxes)| {
            if transfer_syntaxes.is_empty() {
                transfer_syntaxes.push(default_ts.clone());
            }
            PresentationContext {
                abstract_syntax,
                transfer_syntaxes,
            }
        })
        .collect();
    Ok(ImportFile {
        presentation_contexts,
        certificates,
    })
}

/// One line without its line end: `None` when blank or a comment.
fn parse_line(text: &str) -> Result<Option<Line>, String> {
    let content = match text.find('#') {
        Some(at) => &text[..at],
        None => text,
    };
    let content = content.trim();
    if content.is_empty() {
        return Ok(None);
    }
    if let Some(binding) = content.strip_prefix(CERTIFICATE) {
        return binding
            .parse()
            .map(|b| Some(Line::Certificate(b)))
            .map_err(|e: super::binding::BindingError| e.to_string());
    }
    let mut fields = content.split('\\').map(str::trim);
    let sop = match fields.next() {
        Some("") | None => {
            return Err(
                "starts with a backslash: write the SOP class UID first, as `SOP` or `SOP\\TS`"
                    .to_string(),
            );
        }
        Some(sop) => Uid::new(sop).map_err(|e| format!("SOP class (abstract syntax): {e}"))?,
    };
    let mut tss = Vec::new();
    for (i, field) in fields.enumerate() {
        if field.is_empty() {
            return Err(format!(
                "transfer syntax {} after SOP class {sop} is empty: remove the extra backslash",
                i + 1
            ));
        }
        tss.push(Uid::new(field).map_err(|e| format!("transfer syntax: {e}"))?);
    }
    Ok(Some(Line::Context(sop, tss)))
}

/// Writes an association in the import format: a comment header, its
/// certificate bindings, then one `SOP\TS` line per transfer syntax, in
/// order.
pub fn export(ctx: &AssociationContext) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Presentation contexts of association {} -> {}\n",
        ctx.calling_ae_title, ctx.called_ae_title
    ));
    out.push_str(
        "# One SOP class UID and one transfer syntax UID per line, in order of preference.\n",
    );
    for binding in &ctx.certificates {
        out.push_str(&format!("{CERTIFICATE} {binding}\n"));
    }
    for pc in &ctx.presentation_contexts {
        for ts in &pc.transfer_syntaxes {
            out.push_str(pc.abstract_syntax.as_str());
            out.push('\\');
            out.push_str(ts.as_str());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests;
