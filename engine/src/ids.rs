//! Validated identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A namespace name: 1–64 letters, digits, `-` or `_`. A namespace is an
/// isolated tenant with its own associations, productions and messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamespaceId(String);

/// A namespace name that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid namespace {0:?}: use 1 to 64 letters, digits, '-' or '_'")]
pub struct InvalidNamespace(pub String);

impl NamespaceId {
    /// Validates a namespace name.
    ///
    /// # Errors
    /// [`InvalidNamespace`] when the name is empty, longer than 64 characters
    /// or has a character other than ASCII letters, digits, `-` and `_`.
    pub fn new(value: &str) -> Result<Self, InvalidNamespace> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value.to_string()))
        } else {
            Err(InvalidNamespace(value.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for NamespaceId {
    fn default() -> Self {
        Self(DEFAULT_NAMESPACE.to_string())
    }
}

impl fmt::Display for NamespaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NamespaceId {
    type Error = InvalidNamespace;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<NamespaceId> for String {
    fn from(value: NamespaceId) -> Self {
        value.0
    }
}

impl std::str::FromStr for NamespaceId {
    type Err = InvalidNamespace;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_rules() {
        assert!(NamespaceId::new("demo").is_ok());
        assert!(NamespaceId::new("a-b_C9").is_ok());
        assert!(NamespaceId::new(&"x".repeat(64)).is_ok());
        assert!(NamespaceId::new(&"x".repeat(65)).is_err());
        assert!(NamespaceId::new("").is_err());
        assert!(NamespaceId::new("a/b").is_err());
        assert!(NamespaceId::new("a b").is_err());
    }
}

/// The name of a production or of an item (service, process, operation)
/// within a production: 1–64 letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemName(String);

/// An item or production name that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid name {0:?}: use 1 to 64 letters, digits, '-', '_' or '.'")]
pub struct InvalidItemName(pub String);

impl ItemName {
    /// Validates a name.
    ///
    /// # Errors
    /// [`InvalidItemName`] when the name is empty, longer than 64 characters
    /// or has a character other than ASCII letters, digits, `-`, `_` and `.`.
    pub fn new(value: &str) -> Result<Self, InvalidItemName> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if ok {
            Ok(Self(value.to_string()))
        } else {
            Err(InvalidItemName(value.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ItemName {
    type Error = InvalidItemName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<ItemName> for String {
    fn from(value: ItemName) -> Self {
        value.0
    }
}

impl std::str::FromStr for ItemName {
    type Err = InvalidItemName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}
