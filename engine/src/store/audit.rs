//! The audit trail: `<data-dir>/audit.log`, one JSON object per line, one
//! line per administrative change, appended and synced before the change
//! is answered. Readable by the engine's user only, like everything in the
//! data directory. What goes in a record is the admin module's business;
//! it never holds patient data.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ids::NamespaceId;

/// The audit log's file name inside the data directory.
pub const AUDIT_FILE: &str = "audit.log";

/// One administrative change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// Who asked: a Unix user on the admin socket or running the CLI, a
    /// portal session.
    pub who: String,
    /// The namespace changed; none for a portal login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceId>,
    /// What was done: `association edit`, `ae delete`, `production save`…
    pub action: String,
    /// What it was done to: a pair, an AE title, a production, messages.
    pub target: String,
    /// The target before and after, when it has a stored state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// One writer at a time, so that lines never interleave.
static APPEND: Mutex<()> = Mutex::new(());

/// The audit log of a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(AUDIT_FILE)
}

/// Appends `record` and syncs it.
///
/// # Errors
/// The file cannot be opened, written or synced.
pub fn append(data_dir: &Path, record: &AuditRecord) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let _one = APPEND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.read(true);
    let mut file = options.open(path(data_dir))?;
    // A line torn by a crash ends here, so that this record starts its own.
    if ends_torn(&file)? {
        line.insert(0, b'\n');
    }
    file.write_all(&line)?;
    file.sync_data()
}

/// Whether the file's last byte is not a line end.
fn ends_torn(file: &std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8];
    let mut reader = file;
    reader.seek(SeekFrom::Start(len - 1))?;
    reader.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// The records at or after `since` (milliseconds), oldest first; a line
/// that does not read (a torn last line after a crash) is skipped and
/// counted.
///
/// # Errors
/// The file exists but cannot be read.
pub fn read(data_dir: &Path, since: u64) -> std::io::Result<(Vec<AuditRecord>, usize)> {
    let file = match std::fs::File::open(path(data_dir)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut unreadable = 0;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(&line) {
            Ok(record) if record.at >= since => records.push(record),
            Ok(_) => {}
            Err(_) => unreadable += 1,
        }
    }
    Ok((records, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: u64, action: &str) -> AuditRecord {
        AuditRecord {
            at,
            who: "root (uid 0) on the admin socket".into(),
            namespace: Some(NamespaceId::new("default").unwrap()),
            action: action.into(),
            target: "ECHOSCU -> ROUTER".into(),
            before: None,
            after: Some(serde_json::json!({"name": "x"})),
        }
    }

    #[test]
    fn records_append_read_back_from_a_time_and_a_torn_line_is_counted() {
        let dir = crate::store::private_tempdir();
        assert_eq!(read(dir.path(), 0).unwrap(), (Vec::new(), 0));
        append(dir.path(), &record(10, "association add")).unwrap();
        append(dir.path(), &record(20, "association edit")).unwrap();
        let (all, unreadable) = read(dir.path(), 0).unwrap();
        assert_eq!(
            all,
            [
                record(10, "association add"),
                record(20, "association edit")
            ]
        );
        assert_eq!(unreadable, 0);
        assert_eq!(
            read(dir.path(), 15).unwrap().0,
            [record(20, "association edit")]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .unwrap();
        file.write_all(b"{\"at\": 30, \"who").unwrap();
        let (all, unreadable) = read(dir.path(), 0).unwrap();
        assert_eq!((all.len(), unreadable), (2, 1));
        // The next record starts a line of its own.
        append(dir.path(), &record(40, "ae delete")).unwrap();
        let (all, unreadable) = read(dir.path(), 0).unwrap();
        assert_eq!((all.len(), unreadable), (3, 1));
        assert_eq!(all[2], record(40, "ae delete"));
    }
}
