//! The `switchboard` command line (clap derive). Each subcommand lives in its
//! own file; this one only declares them and dispatches.

mod plugin;
mod reference;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ids::NamespaceId;

/// Switchboard: a DICOM interoperability engine.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Where the embedded store lives.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DATA_DIR",
        default_value = "./switchboard-data"
    )]
    pub data_dir: PathBuf,
    /// The namespace to work in.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_NAMESPACE",
        default_value = "default"
    )]
    pub namespace: NamespaceId,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the SOP classes of the standard (UID, name, keyword).
    AbstractSyntax(reference::ReferenceArgs),
    /// List the transfer syntaxes the engine knows (UID, name, VR, byte
    /// order, pixel data encapsulated or native).
    TransferSyntax(reference::ReferenceArgs),
    /// List the data elements of the standard (tag, keyword, name, VR, VM).
    Dictionary(reference::ReferenceArgs),
    /// Check a routing plugin, or route DICOM files through it.
    Plugin(plugin::PluginArgs),
}

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the command reports; `main` prints the chain and exits non-zero.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command } = cli;
    let _ = global;
    match command {
        Command::AbstractSyntax(args) => reference::abstract_syntax(&args),
        Command::TransferSyntax(args) => reference::transfer_syntax(&args),
        Command::Dictionary(args) => reference::dictionary(&args),
        Command::Plugin(args) => plugin::run(&global, args),
    }
}
