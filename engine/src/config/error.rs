//! Errors found in production files. Each names the file, the line when it
//! is known, the item and the field, so that a user can fix it without
//! guessing.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::ids::ItemName;

/// The three kinds of items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Service,
    Process,
    Operation,
}

impl ItemKind {
    /// The key of the table holding items of this kind (`services`, …).
    pub fn table(self) -> &'static str {
        match self {
            Self::Service => "services",
            Self::Process => "processes",
            Self::Operation => "operations",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "service",
            Self::Process => "process",
            Self::Operation => "operation",
        })
    }
}

/// Where an item sits: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ItemRef {
    pub kind: ItemKind,
    pub name: String,
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.kind, self.name)
    }
}

/// One problem in one production file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ConfigError {
    /// The file, as found (relative to where the engine looked).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The item the problem is in, if any.
    pub item: Option<ItemRef>,
    /// The field (or `associations[2].called_ae_title`-style path), if any.
    pub field: Option<String>,
    /// What is wrong and, when possible, how to fix it.
    pub message: String,
}

impl ConfigError {
    /// A file-level error.
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            item: None,
            field: None,
            message: message.into(),
        }
    }

    /// Sets the line.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// Sets the item.
    pub fn in_item(mut self, kind: ItemKind, name: &str) -> Self {
        self.item = Some(ItemRef {
            kind,
            name: name.to_string(),
        });
        self
    }

    /// Sets the field.
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(item) = &self.item {
            write!(f, ": {item}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field '{field}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Formats a list of item names for an error message.
pub(crate) fn list_names<'a>(names: impl IntoIterator<Item = &'a ItemName>) -> String {
    let v: Vec<&str> = names.into_iter().map(ItemName::as_str).collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
