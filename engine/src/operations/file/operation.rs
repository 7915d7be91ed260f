//! The running file operation: each message becomes
//! `<folder>/<SOPInstanceUID>.dcm`, a DICOM Part 10 file: 128-byte preamble,
//! `DICM`, the file meta group, then the stored data set bytes verbatim (no
//! re-encoding; see [`crate::part10::write`]).

use std::path::{Path, PathBuf};

use tracing::{error, info, warn};

use super::config::FileOperationConfig;
use crate::component::{BuildError, FieldError, ItemConfig, ItemContext, Next, RunningItem};
use crate::message::MessageRecord;
use crate::part10;

impl ItemConfig for FileOperationConfig {
    fn check(&self) -> Vec<FieldError> {
        self.problems()
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        spawn(self.clone(), cx)
    }
}

/// Creates the folder when missing, with the mode that lets the readers of
/// its files in (the engine's umask keeps its own files private); an
/// existing folder keeps the mode it has.
fn create_folder(config: &FileOperationConfig) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if config.folder.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(&config.folder)?;
    std::fs::set_permissions(
        &config.folder,
        std::fs::Permissions::from_mode(config.folder_mode()),
    )
}

/// Creates the folder and spawns the operation.
fn spawn(config: FileOperationConfig, cx: ItemContext) -> Result<RunningItem, BuildError> {
    create_folder(&config).map_err(|error| BuildError::Folder {
        path: config.folder.clone(),
        error,
    })?;
    let task = tokio::spawn(async move {
        let mut reader = cx.queue_reader();
        let me = cx.address();
        info!(namespace = %cx.namespace, item = %cx.name, folder = %config.folder.display(), "File operation started.");
        loop {
            let record = match reader.next(None).await {
                Ok(Next::Message(record)) => record,
                Ok(Next::Idle) => continue,
                Ok(Next::Shutdown) => break,
                Err(e) => {
                    error!(item = %cx.name, error = %e, "Could not read the queue.");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            let (folder, file_mode) = (config.folder.clone(), config.file_mode);
            let bodies = cx.bodies.clone();
            let rec = record.clone();
            let written =
                tokio::task::spawn_blocking(move || write_file(&folder, file_mode, &bodies, &rec))
                    .await;
            let failure = match written {
                Ok(Ok(path)) => Ok(path),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let outcome = match failure {
                Ok(path) => {
                    cx.messages
                        .delivered(record.id, &me, &format!("written to {}", path.display()))
                }
                Err(e) => {
                    warn!(item = %cx.name, message_id = %record.id, error = %e, "Could not write a file.");
                    cx.messages
                        .failed(record.id, &me, &format!("cannot write the file: {e}"))
                }
            };
            if let Err(e) = outcome {
                error!(item = %cx.name, message_id = %record.id, error = %e, "Could not record the outcome.");
            }
        }
        info!(namespace = %cx.namespace, item = %cx.name, "File operation stopped.");
    });
    Ok(RunningItem::task(task))
}

/// The file name for an instance: its SOP instance UID when that is a
/// plain UID (digits and dots), else the message id.
fn file_name(record: &MessageRecord) -> String {
    let uid = record.header.sop_instance_uid.trim_end_matches('\0').trim();
    if !uid.is_empty() && uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        format!("{uid}.dcm")
    } else {
        format!("message-{}.dcm", record.id)
    }
}

/// Writes one message as `<folder>/<name>.dcm`.
fn write_file(
    folder: &Path,
    file_mode: u32,
    bodies: &crate::store::Bodies,
    record: &MessageRecord,
) -> Result<PathBuf, part10::Part10Error> {
    let h = &record.header;
    let path = folder.join(file_name(record));
    let data = bodies.open_data_set(h).map_err(|e| part10::Part10Error {
        path: bodies.path(h),
        problem: e.into(),
    })?;
    let new = part10::NewFile {
        sop_class_uid: &h.sop_class_uid,
        sop_instance_uid: &h.sop_instance_uid,
        transfer_syntax: &h.transfer_syntax,
        source_ae_title: &h.calling_ae_title,
        mode: Some(file_mode),
    };
    part10::write(&path, new, data)?;
    Ok(path)
}
