//! The association model: AE titles, UIDs, presentation contexts and the
//! association context stored for one (calling AET, called AET) pair.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::binding::CertificateBinding;

/// Implicit VR Little Endian, the DICOM default transfer syntax (PS3.5 §10.1).
pub const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
/// The Verification SOP class, used by C-ECHO (PS3.4 Annex A).
pub const VERIFICATION: &str = "1.2.840.10008.1.1";

/// Longest name of an association context.
pub const MAX_NAME_LEN: usize = 64;
/// Longest description of an association context.
pub const MAX_DESCRIPTION_LEN: usize = 254;
/// Smallest maximum PDU length the standard allows a peer to announce
/// (besides 0, "unlimited").
pub const MIN_MAX_PDU_LENGTH: u32 = 1024;

/// A value the model refuses, with the value and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("invalid AE title {value:?}: {rule}")]
    AeTitle { value: String, rule: &'static str },
    #[error("invalid UID {value:?}: {rule}")]
    Uid { value: String, rule: &'static str },
    #[error("name is {len} characters long; at most {MAX_NAME_LEN} are allowed")]
    NameTooLong { len: usize },
    #[error("description is {len} characters long; at most {MAX_DESCRIPTION_LEN} are allowed")]
    DescriptionTooLong { len: usize },
    #[error(
        "transfer syntax {transfer_syntax} is listed twice for abstract syntax {abstract_syntax}"
    )]
    DuplicateTransferSyntax {
        abstract_syntax: String,
        transfer_syntax: String,
    },
    #[error("abstract syntax {0} has no transfer syntax; give at least one")]
    NoTransferSyntax(String),
    #[error("abstract syntax {0} is listed twice")]
    DuplicateAbstractSyntax(String),
    #[error(
        "maximum PDU length {0} is too small: use 0 (unlimited) or at least {MIN_MAX_PDU_LENGTH}"
    )]
    MaxPduLength(u32),
}

/// An application entity title: 1–16 characters once leading and trailing
/// spaces are trimmed (they are not significant), no backslash and no control
/// characters (PS3.5 §6.2, VR AE). `*` is the wildcard that matches any title.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AeTitle(String);

impl AeTitle {
    /// The wildcard AE title.
    pub const WILDCARD: &'static str = "*";

    /// Validates and trims an AE title.
    ///
    /// # Errors
    /// [`ModelError::AeTitle`] naming the value and the broken rule.
    pub fn new(value: &str) -> Result<Self, ModelError> {
        let err = |rule| ModelError::AeTitle {
            value: value.to_string(),
            rule,
        };
        let trimmed = value.trim_matches(' ');
        if trimmed.is_empty() {
            return Err(err("must have 1 to 16 characters besides spaces"));
        }
        if trimmed.chars().count() > 16 {
            return Err(err("must have at most 16 characters"));
        }
        if trimmed.contains('\\') {
            return Err(err("must not contain a backslash"));
        }
        if trimmed.chars().any(|c| c.is_control()) {
            return Err(err("must not contain control characters"));
        }
        if !trimmed.is_ascii() {
            return Err(err("must use the default character repertoire (ASCII)"));
        }
        Ok(Self(trimmed.to_string()))
    }

    /// The wildcard `*`.
    pub fn wildcard() -> Self {
        Self(Self::WILDCARD.to_string())
    }

    /// Whether this is the wildcard `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0 == Self::WILDCARD
    }

    /// The title, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AeTitle {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<AeTitle> for String {
    fn from(value: AeTitle) -> Self {
        value.0
    }
}

impl std::str::FromStr for AeTitle {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A DICOM UID: at most 64 characters of digits and dots, no empty
/// component, no leading zero in a multi-digit component (PS3.5 §9.1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uid(String);

impl Uid {
    /// Validates a UID. Trailing NUL padding (as found on the wire) and
    /// surrounding spaces are removed first.
    ///
    /// # Errors
    /// [`ModelError::Uid`] naming the value and the broken rule.
    pub fn new(value: &str) -> Result<Self, ModelError> {
        let err = |rule| ModelError::Uid {
            value: value.to_string(),
            rule,
        };
        let v = value.trim_end_matches('\0').trim();
        if v.is_empty() {
            return Err(err("must not be empty"));
        }
        if v.len() > 64 {
            return Err(err("must have at most 64 characters"));
        }
        if !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(err("may contain only digits and dots"));
        }
        for component in v.split('.') {
            if component.is_empty() {
                return Err(err(
                    "must not have an empty component (no leading, trailing or double dot)",
                ));
            }
            if component.len() > 1 && component.starts_with('0') {
                return Err(err(
                    "must not have a leading zero in a multi-digit component",
                ));
            }
        }
        Ok(Self(v.to_string()))
    }

    /// Implicit VR Little Endian, the DICOM default transfer syntax.
    pub fn implicit_vr_little_endian() -> Self {
        Self(IMPLICIT_VR_LITTLE_ENDIAN.to_string())
    }

    /// The UID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Uid {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Uid> for String {
    fn from(value: Uid) -> Self {
        value.0
    }
}

impl std::str::FromStr for Uid {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// The key of an association context: (calling AET, called AET). It never
/// changes after creation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PairKey {
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
}

impl PairKey {
    pub fn new(calling_ae_title: AeTitle, called_ae_title: AeTitle) -> Self {
        Self {
            calling_ae_title,
            called_ae_title,
        }
    }
}

impl fmt::Display for PairKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.calling_ae_title, self.called_ae_title)
    }
}

/// One abstract syntax with its transfer syntaxes, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentationContext {
    pub abstract_syntax: Uid,
    pub transfer_syntaxes: Vec<Uid>,
}

impl PresentationContext {
    /// A context with the given transfer syntaxes, refusing an empty list or a
    /// duplicate.
    ///
    /// # Errors
    /// [`ModelError::NoTransferSyntax`] or [`ModelError::DuplicateTransferSyntax`].
    pub fn new(abstract_syntax: Uid, transfer_syntaxes: Vec<Uid>) -> Result<Self, ModelError> {
        let pc = Self {
            abstract_syntax,
            transfer_syntaxes,
        };
        pc.validate()?;
        Ok(pc)
    }

    /// Checks the invariants: at least one transfer syntax, none twice.
    ///
    /// # Errors
    /// [`ModelError::NoTransferSyntax`] or [`ModelError::DuplicateTransferSyntax`].
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.transfer_syntaxes.is_empty() {
            return Err(ModelError::NoTransferSyntax(
                self.abstract_syntax.to_string(),
            ));
        }
        for (i, ts) in self.transfer_syntaxes.iter().enumerate() {
            if self.transfer_syntaxes[..i].contains(ts) {
                return Err(ModelError::DuplicateTransferSyntax {
                    abstract_syntax: self.abstract_syntax.to_string(),
                    transfer_syntax: ts.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Appends each transfer syntax not already listed, keeping order.
    pub fn add_transfer_syntaxes(&mut self, transfer_syntaxes: impl IntoIterator<Item = Uid>) {
        for ts in transfer_syntaxes {
            if !self.transfer_syntaxes.contains(&ts) {
                self.transfer_syntaxes.push(ts);
            }
        }
    }
}

/// The stored agreement for one (calling AET, called AET) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationContext {
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
    /// Optional display name, at most 64 characters.
    pub name: String,
    /// Optional description, at most 254 characters.
    pub description: String,
    /// Ordered: the order is kept for display and export.
    pub presentation_contexts: Vec<PresentationContext>,
    /// The maximum PDU length to use with this peer, overriding the
    /// service's setting; `None` uses the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pdu_length: Option<u32>,
    /// The client certificates the calling AE title comes with over TLS;
    /// empty: any, or none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateBinding>,
}

impl AssociationContext {
    /// An empty association context for a pair.
    pub fn new(calling_ae_title: AeTitle, called_ae_title: AeTitle) -> Self {
        Self {
            calling_ae_title,
            called_ae_title,
            name: String::new(),
            description: String::new(),
            presentation_contexts: Vec::new(),
            max_pdu_length: None,
            certificates: Vec::new(),
        }
    }

    /// The key of this context.
    pub fn key(&self) -> PairKey {
        PairKey::new(self.calling_ae_title.clone(), self.called_ae_title.clone())
    }

    /// The presentation context for an abstract syntax, if stored.
    pub fn context_for(&self, abstract_syntax: &str) -> Option<&PresentationContext> {
        self.presentation_contexts
            .iter()
            .find(|pc| pc.abstract_syntax.as_str() == abstract_syntax)
    }

    /// Checks every invariant of the model.
    ///
    /// # Errors
    /// The first [`ModelError`] found.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_name(&self.name)?;
        check_description(&self.description)?;
        if let Some(len) = self.max_pdu_length {
            check_max_pdu_length(len)?;
        }
        for (i, pc) in self.presentation_contexts.iter().enumerate() {
            pc.validate()?;
            if self.presentation_contexts[..i]
                .iter()
                .any(|other| other.abstract_syntax == pc.abstract_syntax)
            {
                return Err(ModelError::DuplicateAbstractSyntax(
                    pc.abstract_syntax.to_string(),
                ));
            }
        }
        Ok(())
    }
}

/// Checks an association context's name (at most 64 characters).
///
/// # Errors
/// [`ModelError::NameTooLong`].
pub fn check_name(name: &str) -> Result<(), ModelError> {
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(ModelError::NameTooLong { len });
    }
    Ok(())
}

/// Checks an association context's description (at most 254 characters).
///
/// # Errors
/// [`ModelError::DescriptionTooLong`].
pub fn check_description(description: &str) -> Result<(), ModelError> {
    let len = description.chars().count();
    if len > MAX_DESCRIPTION_LEN {
        return Err(ModelError::DescriptionTooLong { len });
    }
    Ok(())
}

/// Checks a maximum PDU length: 0 (unlimited) or at least 1024.
///
/// # Errors
/// [`ModelError::MaxPduLength`].
pub fn check_max_pdu_length(len: u32) -> Result<(), ModelError> {
    if len != 0 && len < MIN_MAX_PDU_LENGTH {
        return Err(ModelError::MaxPduLength(len));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
