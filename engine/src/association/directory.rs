//! The AE directory of a namespace: where each application entity the
//! engine calls is on the network (AE title → host, port, description),
//! and, as a C-MOVE destination, who may move to it.
//! Query operations and C-MOVE destinations resolve remote AE titles
//! through it. Pure logic: the entry and its rules.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::{AeTitle, MAX_DESCRIPTION_LEN};

/// Longest host name (RFC 1035: 253 characters in text form).
pub const MAX_HOST_LEN: usize = 253;

/// One application entity of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AeEntry {
    pub ae_title: AeTitle,
    /// A host name or an IP address.
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub description: String,
    /// As a C-MOVE destination: the calling AE titles that may move to it
    /// (besides itself); empty: any caller the service accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub move_callers: Vec<AeTitle>,
    /// It speaks DICOM TLS only: what the engine sends it (a move's
    /// instances) goes over TLS with the sending operation's TLS settings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
}

/// A value the directory refuses, with the value and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("invalid host {value:?}: {rule}")]
    Host { value: String, rule: &'static str },
    #[error(
        "invalid port 0 for AE {ae_title}: give the port its DICOM service listens on, 1 to 65535"
    )]
    Port { ae_title: AeTitle },
    #[error("description is {len} characters long; at most {MAX_DESCRIPTION_LEN} are allowed")]
    DescriptionTooLong { len: usize },
}

impl AeEntry {
    /// An entry, checked.
    ///
    /// # Errors
    /// [`DirectoryError`] naming the first field that breaks a rule.
    pub fn new(
        ae_title: AeTitle,
        host: &str,
        port: u16,
        description: &str,
    ) -> Result<Self, DirectoryError> {
        let entry = AeEntry {
            ae_title,
            host: host.to_string(),
            port,
            description: description.to_string(),
            move_callers: Vec::new(),
            tls: false,
        };
        entry.check()?;
        Ok(entry)
    }

    /// Whether `caller` may move instances to this AE: it is in
    /// `move_callers`, the list is empty, or it moves to itself.
    pub fn may_move_here(&self, caller: &AeTitle) -> bool {
        self.move_callers.is_empty()
            || self.move_callers.contains(caller)
            || *caller == self.ae_title
    }

    /// Checks every field (an entry read from JSON or a production file).
    ///
    /// # Errors
    /// [`DirectoryError`] naming the first field that breaks a rule.
    pub fn check(&self) -> Result<(), DirectoryError> {
        check_host(&self.host)?;
        if self.port == 0 {
            return Err(DirectoryError::Port {
                ae_title: self.ae_title.clone(),
            });
        }
        let len = self.description.chars().count();
        if len > MAX_DESCRIPTION_LEN {
            return Err(DirectoryError::DescriptionTooLong { len });
        }
        Ok(())
    }

    /// `host:port`, bracketed for an IPv6 address, ready to connect to.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for AeEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.ae_title, self.address())
    }
}

/// Checks a host: an IP address, or a host name of letters, digits, `-`
/// and `.` (RFC 1123), at most 253 characters.
///
/// # Errors
/// [`DirectoryError::Host`].
pub fn check_host(host: &str) -> Result<(), DirectoryError> {
    let refuse = |rule| {
        Err(DirectoryError::Host {
            value: host.to_string(),
            rule,
        })
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if host.is_empty() {
        return refuse("give a host name or an IP address");
    }
    if host.len() > MAX_HOST_LEN {
        return refuse("a host name has at most 253 characters");
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return refuse(
            "a host name has only letters, digits, '-' and '.' (an IPv6 address goes without brackets)",
        );
    }
    if host.split('.').any(|label| {
        label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-')
    }) {
        return refuse(
            "each dot-separated part of a host name has 1 to 63 characters and neither starts nor ends with '-'",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ae(s: &str) -> AeTitle {
        AeTitle::new(s).unwrap()
    }

    #[test]
    fn entries_take_host_names_and_ip_addresses() {
        let pacs = AeEntry::new(ae("PACS"), "pacs.example.org", 104, "Main archive").unwrap();
        assert_eq!(pacs.address(), "pacs.example.org:104");
        assert_eq!(pacs.to_string(), "PACS at pacs.example.org:104");
        let v6 = AeEntry::new(ae("V6"), "::1", 11112, "").unwrap();
        assert_eq!(v6.address(), "[::1]:11112");
        assert!(AeEntry::new(ae("V4"), "10.0.0.7", 4242, "").is_ok());
    }

    #[test]
    fn bad_entries_say_which_field_and_why() {
        let err = |host: &str, port: u16, description: &str| {
            AeEntry::new(ae("PACS"), host, port, description)
                .unwrap_err()
                .to_string()
        };
        assert!(err("", 104, "").contains("give a host name"));
        assert!(err("pacs host", 104, "").contains("only letters, digits"));
        assert!(err("[::1]", 104, "").contains("without brackets"));
        assert!(err("-pacs", 104, "").contains("neither starts nor ends"));
        assert!(err("a..b", 104, "").contains("1 to 63"));
        assert!(err(&"h".repeat(254), 104, "").contains("at most 253"));
        assert_eq!(
            err("pacs", 0, ""),
            "invalid port 0 for AE PACS: give the port its DICOM service listens on, 1 to 65535"
        );
        assert!(err("pacs", 104, &"d".repeat(255)).contains("255 characters long"));
    }
}
