//! The running file service: scans its folder, takes in every DICOM Part 10
//! file whose size has not changed since the previous scan (so files still
//! being copied in are left alone), and removes it (or moves it to
//! `done_folder`) once its copy is durable in the store. Files that are not
//! Part 10 are moved to `<folder>/.rejected/` with a log line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tracing::{debug, error, info, warn};

use super::config::FileServiceConfig;
use crate::component::{
    BuildError, FieldError, IntakeError, ItemConfig, ItemContext, Resource, RunningItem,
};
use crate::ids::ItemName;
use crate::message::{MessageHeader, now_ms};
use crate::part10;

const REJECTED: &str = ".rejected";

impl ItemConfig for FileServiceConfig {
    fn targets(&self) -> Vec<&str> {
        self.targets.iter().map(ItemName::as_str).collect()
    }

    /// The folder is exclusive: two services emptying one folder would race.
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::folder(&self.folder)]
    }

    fn check(&self) -> Vec<FieldError> {
        self.problems()
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        build(self, cx).await
    }
}

/// Creates the folders and spawns the service.
async fn build(config: &FileServiceConfig, cx: ItemContext) -> Result<RunningItem, BuildError> {
    let config = config.clone();
    for dir in std::iter::once(&config.folder).chain(config.done_folder.as_ref()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|error| BuildError::Folder {
                path: dir.clone(),
                error,
            })?;
    }
    let task = tokio::spawn(async move {
        info!(namespace = %cx.namespace, item = %cx.name, folder = %config.folder.display(), "File service watching.");
        let mut sizes: HashMap<PathBuf, u64> = HashMap::new();
        loop {
            if let Err(e) = scan(&config, &cx, &mut sizes).await {
                warn!(item = %cx.name, error = %e, "Could not scan the folder.");
            }
            tokio::select! {
                () = cx.shutdown.cancelled() => break,
                () = tokio::time::sleep(config.poll_interval.get()) => {}
            }
        }
        info!(namespace = %cx.namespace, item = %cx.name, "File service stopped.");
    });
    Ok(RunningItem::task(task))
}

async fn scan(
    config: &FileServiceConfig,
    cx: &ItemContext,
    sizes: &mut HashMap<PathBuf, u64>,
) -> std::io::Result<()> {
    let mut seen = HashMap::new();
    let mut entries = tokio::fs::read_dir(&config.folder).await?;
    let mut ready = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        let meta = entry.metadata().await?;
        if hidden || !meta.is_file() {
            continue;
        }
        let size = meta.len();
        if sizes.get(&path) == Some(&size) {
            ready.push(path.clone());
        }
        seen.insert(path, size);
    }
    *sizes = seen;
    ready.sort();
    for path in ready {
        if cx.shutdown.is_cancelled() {
            break;
        }
        sizes.remove(&path);
        take_in(config, cx, &path).await;
    }
    Ok(())
}

async fn take_in(config: &FileServiceConfig, cx: &ItemContext, path: &Path) {
    let file = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || part10::open_data_set(&file)).await;
    let (meta, file) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => {
            warn!(item = %cx.name, error = %e, "Not a DICOM Part 10 file; moved aside.");
            let dir = config.folder.join(REJECTED);
            if tokio::fs::create_dir_all(&dir).await.is_ok()
                && let Some(name) = path.file_name()
            {
                tokio::fs::rename(path, dir.join(name)).await.ok();
            }
            return;
        }
        Err(e) => {
            warn!(item = %cx.name, file = %path.display(), error = %e, "Cannot read a file; will try again.");
            return;
        }
    };
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let header = MessageHeader {
        source: cx.address(),
        received_at: now_ms(),
        sop_class_uid: meta.sop_class_uid,
        sop_instance_uid: meta.sop_instance_uid,
        transfer_syntax: meta.transfer_syntax,
        calling_ae_title: String::new(),
        called_ae_title: String::new(),
        origin: path.display().to_string(),
        size: 0,
        body: String::new(),
        sub_operation: None,
    };
    match cx
        .take_in_reader(reader, header, cx.outputs.addresses())
        .await
    {
        Ok(id) => {
            debug!(item = %cx.name, file = %path.display(), message_id = %id, "File taken in.");
            let done = match &config.done_folder {
                Some(dir) => match path.file_name() {
                    Some(name) => tokio::fs::rename(path, dir.join(name)).await,
                    None => Ok(()),
                },
                None => tokio::fs::remove_file(path).await,
            };
            if let Err(e) = done {
                error!(item = %cx.name, file = %path.display(), error = %e, "File taken in but not removed; it will be taken in again.");
            }
        }
        // Low disk space or a failed sync: said once where it is decided.
        Err(e @ IntakeError::Refused(_)) => {
            tracing::debug!(item = %cx.name, file = %path.display(), error = %e, "File left for later.");
        }
        Err(e) => {
            error!(item = %cx.name, file = %path.display(), error = %e, "Could not take a file in; will try again.")
        }
    }
}
