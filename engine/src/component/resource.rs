//! Exclusive resources items claim (a TCP port, a folder). Two items may not
//! claim the same one, across all productions of all namespaces.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Something only one item in the whole engine may use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// A listening TCP port (on any address: two listeners on the same port
    /// and different addresses are still refused, to keep it simple).
    TcpPort(u16),
    /// A folder an item reads files from (and removes them).
    Folder(PathBuf),
}

impl Resource {
    /// A folder resource, with the path normalised lexically (`a/./b/../c`
    /// → `a/c`) so that two spellings of one folder collide.
    pub fn folder(path: &Path) -> Self {
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        out.push("..");
                    }
                }
                other => out.push(other),
            }
        }
        Self::Folder(out)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TcpPort(port) => write!(f, "TCP port {port}"),
            Self::Folder(path) => write!(f, "folder {}", path.display()),
        }
    }
}
