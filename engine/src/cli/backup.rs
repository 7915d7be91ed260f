//! `switchboard backup [-o FILE]` and `switchboard restore FILE
//! [--overwrite]`: every namespace's associations and AE directory as one
//! JSON document, and back; through the running engine when it holds the
//! store.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::GlobalArgs;
use crate::admin::backup::{Backup, Restored};
use crate::admin::{self, Request, Response};

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file `switchboard backup` wrote.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace the associations and AE entries the store has already
    /// (default: keep them).
    #[arg(long)]
    pub overwrite: bool,
}

/// Writes the backup.
///
/// # Errors
/// The store or engine cannot be reached, or the file cannot be written.
pub async fn backup(global: &GlobalArgs, args: &BackupArgs) -> anyhow::Result<()> {
    let response =
        admin::with_store_or_engine(&global.data_dir, &global.namespace, Request::Backup)
            .await?
            .map_err(super::output::reply_error)?;
    let Response::Backup { backup } = response else {
        anyhow::bail!("unexpected answer to backup");
    };
    let mut text = serde_json::to_string_pretty(&backup)?;
    text.push('\n');
    match &args.output {
        None => super::output::write_stdout(&text),
        Some(path) => {
            super::association::write_atomically(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            super::output::write_stdout(&format!(
                "Backed up {} to {}.\n",
                summary(&backup),
                path.display()
            ))
        }
    }
}

/// Reads a backup file and restores it.
///
/// # Errors
/// The file cannot be read or is not a backup, an entry is invalid, or the
/// store or engine cannot be reached; then nothing was changed.
pub async fn restore(global: &GlobalArgs, args: &RestoreArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let backup: Backup = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a backup `switchboard backup` wrote: {e}\nnothing was restored",
            args.file.display()
        )
    })?;
    let request = Request::Restore {
        backup,
        overwrite: args.overwrite,
    };
    let response = admin::with_store_or_engine(&global.data_dir, &global.namespace, request)
        .await?
        .map_err(super::output::reply_error)?;
    let Response::Restored { restored } = response else {
        anyhow::bail!("unexpected answer to restore");
    };
    super::output::write_stdout(&render(&restored))
}

fn summary(backup: &Backup) -> String {
    let associations: usize = backup
        .namespaces
        .values()
        .map(|n| n.associations.len())
        .sum();
    let entries: usize = backup
        .namespaces
        .values()
        .map(|n| n.ae_directory.len())
        .sum();
    format!(
        "{associations} association(s) and {entries} AE directory entr(ies) of {} namespace(s)",
        backup.namespaces.len()
    )
}

/// One line per namespace.
fn render(restored: &Restored) -> String {
    if restored.namespaces.is_empty() {
        return "The backup holds nothing to restore.\n".to_string();
    }
    let mut out = String::new();
    for (ns, c) in &restored.namespaces {
        out.push_str(&format!(
            "{ns}: associations {} added, {} replaced, {} kept; AE directory {} added, {} replaced, {} kept\n",
            c.associations_added,
            c.associations_replaced,
            c.associations_kept,
            c.ae_added,
            c.ae_replaced,
            c.ae_kept
        ));
    }
    if restored
        .namespaces
        .values()
        .any(|c| c.associations_kept + c.ae_kept > 0)
    {
        out.push_str("(Kept: the store had them; --overwrite replaces them.)\n");
    }
    out
}
