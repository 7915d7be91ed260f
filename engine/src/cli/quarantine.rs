//! `switchboard quarantine list|restore`: body files and store records that
//! may hold acknowledged messages but could not be read, set aside by the
//! engine instead of deleted. Works with or without a running engine.

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::admin::{self, Request, Response};

/// `quarantine …`
#[derive(Debug, Args)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    pub command: QuarantineCommand,
}

/// The quarantine commands.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List what is in quarantine, with the reason for each body file.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move body files back and queue their messages for their targets.
    /// Each must read again (fix the disk or permissions, or run the engine
    /// version that wrote it); the named ones go back all or none.
    Restore(RestoreArgs),
}

/// `quarantine restore`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true))]
pub struct RestoreArgs {
    /// File names, as `quarantine list` shows them.
    #[arg(group = "which")]
    pub names: Vec<String>,
    /// Every quarantined body file that reads again.
    #[arg(long, group = "which")]
    pub all: bool,
}

/// Runs a `quarantine` command.
///
/// # Errors
/// The store or engine cannot be reached, or the command failed.
pub async fn run(global: &GlobalArgs, args: QuarantineArgs) -> anyhow::Result<()> {
    let (request, json) = match args.command {
        QuarantineCommand::List { json } => (Request::QuarantineList, json),
        QuarantineCommand::Restore(a) => (
            Request::QuarantineRestore {
                names: a.names,
                all: a.all,
            },
            false,
        ),
    };
    let response = admin::with_store_or_engine(&global.data_dir, &global.namespace, request)
        .await?
        .map_err(super::output::reply_error)?;
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(&response)?)
    } else {
        render_text(&response)
    };
    super::output::write_stdout(&text)
}

/// The human form.
pub fn render_text(response: &Response) -> String {
    let mut out = String::new();
    match response {
        Response::Quarantine {
            folder,
            bodies,
            records,
        } => {
            if bodies.is_empty() && records.is_empty() {
                out.push_str(&format!("Nothing in quarantine ({folder}).\n"));
            }
            if !bodies.is_empty() {
                out.push_str(&format!("Body files in {folder}:\n"));
                for b in bodies {
                    out.push_str(&format!("  {}  {} bytes  {}\n", b.name, b.size, b.reason));
                }
                out.push_str(
                    "Restore one that reads again with `switchboard quarantine restore NAME`.\n",
                );
            }
            if !records.is_empty() {
                out.push_str(
                    "Store records that could not be decoded (their messages were restored from their body files where those remain):\n",
                );
                for r in records {
                    out.push_str(&format!(
                        "  {}  {}  message {}  {} bytes\n",
                        r.namespace, r.tree, r.key, r.size
                    ));
                }
            }
        }
        Response::QuarantineRestored { restored, left } => {
            for r in restored {
                let targets: Vec<String> = r
                    .queued_for
                    .iter()
                    .map(|t| format!("{}/{}", t.production, t.item))
                    .collect();
                if targets.is_empty() {
                    out.push_str(&format!(
                        "{}: message {} in {} is back; the store knew it already.\n",
                        r.name, r.id, r.namespace
                    ));
                } else {
                    out.push_str(&format!(
                        "{}: message {} in {} is back and queued for {}.\n",
                        r.name,
                        r.id,
                        r.namespace,
                        targets.join(", ")
                    ));
                }
            }
            if restored.is_empty() {
                out.push_str("Nothing restored.\n");
            }
            if !left.is_empty() {
                out.push_str(&format!(
                    "{} file(s) stay in quarantine; `switchboard quarantine list` says why.\n",
                    left.len()
                ));
            }
        }
        other => out.push_str(&format!("{other:?}\n")),
    }
    out
}
