//! The `switchboard` command line (clap derive). Each subcommand lives in its
//! own file; this one only declares them and dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod association;

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
    /// Manage association contexts (import, create, list, show, edit, delete, export).
    Association(association::AssociationArgs),
}

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the command reports; `main` prints the chain and exits non-zero.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command } = cli;
    match command {
        Command::Association(args) => association::run(&global, args).await,
    }
}
