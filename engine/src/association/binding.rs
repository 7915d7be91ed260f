//! AE-title ↔ certificate binding: an association context may name the
//! client certificates its calling AE title comes with, by subject common
//! name, DNS subject alternative name or SHA-256 fingerprint. Pure logic:
//! the TLS layer reads a [`PeerCertificate`] from the handshake, the
//! service asks [`refusal`] whether the requester may use the title it
//! claims.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::{AeTitle, AssociationContext};

/// A binding that cannot be read, with the value and the forms it may take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid certificate binding {value:?}: {rule}; write cn:NAME (subject common name), \
     san:DNS-NAME (subject alternative name) or sha256:HEX (fingerprint of the certificate, \
     as `openssl x509 -noout -fingerprint -sha256` prints it)"
)]
pub struct BindingError {
    pub value: String,
    pub rule: &'static str,
}

/// One certificate a calling AE title is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CertificateBinding {
    /// `cn:NAME`: a common name of the certificate's subject, exactly.
    CommonName(String),
    /// `san:NAME`: a DNS name of its subject alternative names, ASCII case
    /// ignored.
    DnsName(String),
    /// `sha256:HEX`: the SHA-256 of the whole certificate (DER).
    Sha256([u8; 32]),
}

impl CertificateBinding {
    /// Reads `cn:…`, `san:…` or `sha256:…` (hex, colons and case free).
    ///
    /// # Errors
    /// [`BindingError`] naming the value and what is wrong.
    pub fn new(value: &str) -> Result<Self, BindingError> {
        let err = |rule| BindingError {
            value: value.to_string(),
            rule,
        };
        let (form, rest) = value.trim().split_once(':').ok_or(err("no form given"))?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(err("nothing follows the form"));
        }
        if rest.chars().any(char::is_control) {
            return Err(err("must not contain control characters"));
        }
        match form.trim().to_ascii_lowercase().as_str() {
            "cn" => Ok(Self::CommonName(rest.to_string())),
            "san" => Ok(Self::DnsName(rest.to_ascii_lowercase())),
            "sha256" => {
                let hex: String = rest.chars().filter(|c| *c != ':').collect();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(err("a SHA-256 fingerprint is 64 hexadecimal digits"));
                }
                let mut digest = [0u8; 32];
                for (i, byte) in digest.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                        .map_err(|_| err("a SHA-256 fingerprint is 64 hexadecimal digits"))?;
                }
                Ok(Self::Sha256(digest))
            }
            _ => Err(err("unknown form")),
        }
    }

    /// Whether `certificate` is the one this binding names.
    pub fn matches(&self, certificate: &PeerCertificate) -> bool {
        match self {
            Self::CommonName(name) => certificate.common_names.iter().any(|n| n == name),
            Self::DnsName(name) => certificate
                .dns_names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name)),
            Self::Sha256(digest) => certificate.sha256 == *digest,
        }
    }
}

impl fmt::Display for CertificateBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CommonName(name) => write!(f, "cn:{name}"),
            Self::DnsName(name) => write!(f, "san:{name}"),
            Self::Sha256(digest) => {
                f.write_str("sha256:")?;
                for (i, b) in digest.iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{b:02X}")?;
                }
                Ok(())
            }
        }
    }
}

impl TryFrom<String> for CertificateBinding {
    type Error = BindingError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<CertificateBinding> for String {
    fn from(value: CertificateBinding) -> Self {
        value.to_string()
    }
}

impl std::str::FromStr for CertificateBinding {
    type Err = BindingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// What a requester's certificate says of itself, as far as bindings look.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCertificate {
    /// The subject, for logs ("O=Hospital, CN=STORESCU").
    pub subject: String,
    pub common_names: Vec<String>,
    pub dns_names: Vec<String>,
    pub sha256: [u8; 32],
}

/// Why a requester may not use the calling AE title it claims with the
/// certificate it presented, if so: `association` is the context that
/// governs the pair; `bound_elsewhere` the other calling AE titles whose
/// associations bind `certificate` (a certificate bound to one title
/// cannot call as another).
pub fn refusal(
    calling: &AeTitle,
    association: &AssociationContext,
    certificate: Option<&PeerCertificate>,
    bound_elsewhere: impl FnOnce(&PeerCertificate) -> Vec<AeTitle>,
) -> Option<String> {
    let bound = &association.certificates;
    let listed = || {
        bound
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match certificate {
        None if bound.is_empty() => None,
        None => Some(format!(
            "Calling AE title {calling} is bound to a client certificate ({}), and the \
             requester presented none",
            listed()
        )),
        Some(c) if bound.is_empty() => {
            let others: Vec<AeTitle> = bound_elsewhere(c)
                .into_iter()
                .filter(|t| t != calling && !t.is_wildcard())
                .collect();
            (!others.is_empty()).then(|| {
                let titles: Vec<&str> = others.iter().map(AeTitle::as_str).collect();
                format!(
                    "The requester's certificate ({}) is bound to calling AE title {}, \
                     not to {calling}",
                    c.subject,
                    titles.join(", ")
                )
            })
        }
        Some(c) if bound.iter().any(|b| b.matches(c)) => None,
        Some(c) => Some(format!(
            "The requester's certificate ({}) is not one calling AE title {calling} is bound \
             to ({})",
            c.subject,
            listed()
        )),
    }
}

#[cfg(test)]
mod tests;
