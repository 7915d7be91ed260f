//! The running file operation: each message becomes
//! `<folder>/<SOPInstanceUID>.dcm`, a DICOM Part 10 file: 128-byte preamble,
//! `DICM`, the file meta group, then the stored data set bytes verbatim (no
//! re-encoding). Written to a hidden temporary name, fsynced, then renamed,
//! so a reader never sees half a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use dicom_object::meta::FileMetaTableBuilder;
use tracing::{error, info, warn};

use super::config::FileOperationConfig;
use crate::component::{BuildError, ItemContext, Next, RunningItem};
use crate::dimse::uids::{IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME};
use crate::store::messages::MessageRecord;

/// Creates the folder and spawns the operation.
pub(crate) fn spawn(
    config: FileOperationConfig,
    cx: ItemContext,
) -> Result<RunningItem, BuildError> {
    std::fs::create_dir_all(&config.folder).map_err(|e| {
        BuildError(format!(
            "cannot create the folder {}: {e}",
            config.folder.display()
        ))
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
            let folder = config.folder.clone();
            let bodies = cx.bodies.clone();
            let rec = record.clone();
            let written = tokio::task::spawn_blocking(move || {
                let data = bodies.open_data_set(&rec.header)?;
                write_part10(&folder, &rec, data)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            let outcome = match written {
                Ok(path) => {
                    cx.messages
                        .delivered(record.id, &me, &format!("written to {}", path.display()))
                }
                Err(e) => {
                    warn!(item = %cx.name, message = %record.id, error = %e, "Could not write a file.");
                    cx.messages
                        .failed(record.id, &me, &format!("cannot write the file: {e}"))
                }
            };
            if let Err(e) = outcome {
                error!(item = %cx.name, message = %record.id, error = %e, "Could not record the outcome.");
            }
        }
        info!(namespace = %cx.namespace, item = %cx.name, "File operation stopped.");
    });
    Ok(RunningItem {
        task,
        local_addr: None,
    })
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

/// Writes one Part 10 file.
///
/// # Errors
/// I/O errors, or a meta group that cannot be built.
pub(crate) fn write_part10(
    folder: &Path,
    record: &MessageRecord,
    mut data: impl std::io::Read,
) -> std::io::Result<PathBuf> {
    let h = &record.header;
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(h.sop_class_uid.as_str())
        .media_storage_sop_instance_uid(h.sop_instance_uid.as_str())
        .transfer_syntax(h.transfer_syntax.as_str())
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
        .source_application_entity_title(h.calling_ae_title.as_str())
        .build()
        .map_err(std::io::Error::other)?;
    let name = file_name(record);
    let tmp = folder.join(format!(".{name}.part"));
    let path = folder.join(&name);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        out.write_all(&[0u8; 128])?;
        out.write_all(b"DICM")?;
        meta.write(&mut out).map_err(std::io::Error::other)?;
        std::io::copy(&mut data, &mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        std::fs::rename(&tmp, &path)?;
        crate::store::bodies::sync_dir(folder)?;
        Ok(path)
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}
