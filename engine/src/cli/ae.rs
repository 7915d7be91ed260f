//! `switchboard ae add|list|show|edit|delete`: the namespace's AE directory,
//! where the AEs the engine calls are (AE title → host, port,
//! description). Works with or without a running engine; every command is
//! all or nothing.

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::admin::{self, Request, Response};
use crate::association::{AeEntry, AeTitle};
use crate::ids::NamespaceId;

/// `ae …`
#[derive(Debug, Args)]
pub struct AeArgs {
    #[command(subcommand)]
    pub command: AeCommand,
}

/// The AE directory commands.
#[derive(Debug, Subcommand)]
pub enum AeCommand {
    /// Add an AE: its title, host and port.
    Add(AddArgs),
    /// List the AE directory of the namespace.
    List {
        /// Print JSON: an array of entries.
        #[arg(long)]
        json: bool,
    },
    /// Show one AE.
    Show {
        #[arg(value_name = "AET")]
        ae_title: AeTitle,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an AE's host, port or description.
    Edit(EditArgs),
    /// Remove an AE.
    Delete {
        #[arg(value_name = "AET")]
        ae_title: AeTitle,
    },
}

/// `ae add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[arg(value_name = "AET")]
    pub ae_title: AeTitle,
    /// Host name or IP address.
    #[arg(long)]
    pub host: String,
    /// The port its DICOM service listens on.
    #[arg(long)]
    pub port: u16,
    /// Description, at most 254 characters.
    #[arg(long, default_value = "")]
    pub description: String,
    /// As a C-MOVE destination: a calling AE title that may move to it
    /// (repeat for several; none: any caller the service accepts).
    #[arg(long = "move-caller", value_name = "AET")]
    pub move_callers: Vec<AeTitle>,
    /// It speaks DICOM TLS only: what the engine sends it goes over TLS,
    /// with the sending operation's TLS settings.
    #[arg(long)]
    pub tls: bool,
    /// Replace the entry of an AE title that has one.
    #[arg(long)]
    pub overwrite: bool,
}

/// `ae edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    #[arg(value_name = "AET")]
    pub ae_title: AeTitle,
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long)]
    pub description: Option<String>,
    /// The calling AE titles that may move to it, replacing the list
    /// (repeat for several).
    #[arg(
        long = "move-caller",
        value_name = "AET",
        conflicts_with = "any_caller"
    )]
    pub move_callers: Vec<AeTitle>,
    /// Let any caller the service accepts move to it (clears the list).
    #[arg(long)]
    pub any_caller: bool,
    /// Whether it speaks DICOM TLS only (`--tls true` or `--tls false`).
    #[arg(long, value_name = "BOOL")]
    pub tls: Option<bool>,
}

/// Runs an `ae` command.
///
/// # Errors
/// An invalid entry, a refused command, or the store or engine cannot be
/// reached; then nothing was changed.
pub async fn run(global: &GlobalArgs, args: AeArgs) -> anyhow::Result<()> {
    let (request, json) = match args.command {
        AeCommand::Add(a) => {
            let mut entry = AeEntry::new(a.ae_title, &a.host, a.port, &a.description)
                .map_err(|e| anyhow::anyhow!("{e}\nnothing was added"))?;
            entry.move_callers = a.move_callers;
            entry.tls = a.tls;
            let overwrite = a.overwrite;
            (Request::AeAdd { entry, overwrite }, false)
        }
        AeCommand::List { json } => (Request::AeList, json),
        AeCommand::Show { ae_title, json } => (Request::AeShow { ae_title }, json),
        AeCommand::Edit(a) => (
            Request::AeEdit {
                ae_title: a.ae_title,
                host: a.host,
                port: a.port,
                description: a.description,
                move_callers: (a.any_caller || !a.move_callers.is_empty())
                    .then_some(a.move_callers),
                tls: a.tls,
            },
            false,
        ),
        AeCommand::Delete { ae_title } => (Request::AeDelete { ae_title }, false),
    };
    let response = admin::with_store_or_engine(&global.data_dir, &global.namespace, request)
        .await?
        .map_err(super::output::reply_error)?;
    let text = if json {
        render_json(&response)?
    } else {
        render_text(&response, &global.namespace)
    };
    super::output::write_stdout(&text)
}

/// The `--json` form: an array for `list`, one entry otherwise.
fn render_json(response: &Response) -> anyhow::Result<String> {
    let text = match response {
        Response::AeEntries { entries } => serde_json::to_string_pretty(entries)?,
        Response::AeShown { entry } => serde_json::to_string_pretty(entry)?,
        other => serde_json::to_string_pretty(other)?,
    };
    Ok(text + "\n")
}

/// The human form.
pub fn render_text(response: &Response, namespace: &NamespaceId) -> String {
    match response {
        Response::AeAdded { entry, replaced } => format!(
            "{} AE {}.\n",
            if *replaced { "Replaced" } else { "Added" },
            entry
        ),
        Response::AeEdited { entry } => format!("Changed AE {entry}.\n"),
        Response::AeDeleted { entry } => format!("Deleted AE {entry}.\n"),
        Response::AeShown { entry } => {
            let mut text = table(std::slice::from_ref(entry));
            if !entry.move_callers.is_empty() {
                let callers: Vec<&str> = entry.move_callers.iter().map(AeTitle::as_str).collect();
                text.push_str(&format!("May be moved to by: {}\n", callers.join(", ")));
            }
            if entry.tls {
                text.push_str("Speaks DICOM TLS only: what the engine sends it goes over TLS.\n");
            }
            text
        }
        Response::AeEntries { entries } if entries.is_empty() => format!(
            "The AE directory of namespace {namespace} is empty; add an AE with `switchboard ae add AET --host HOST --port PORT`.\n"
        ),
        Response::AeEntries { entries } => table(entries),
        _ => String::new(),
    }
}

fn table(entries: &[AeEntry]) -> String {
    let rows: Vec<[String; 4]> = entries
        .iter()
        .map(|e| {
            [
                e.ae_title.to_string(),
                e.host.clone(),
                e.port.to_string(),
                e.description.clone(),
            ]
        })
        .collect();
    let header = ["AE title", "Host", "Port", "Description"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2)];
    let line = |cells: [&str; 4]| {
        format!(
            "{:w0$}  {:w1$}  {:>w2$}  {}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
        .trim_end()
        .to_string()
            + "\n"
    };
    let mut out = line(header);
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3]]));
    }
    out
}
