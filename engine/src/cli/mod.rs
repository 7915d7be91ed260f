//! The `switchboard` command line (clap derive). Each subcommand lives in its
//! own file; this one only declares them and dispatches.

mod ae;
pub mod association;
mod association_source;
pub mod association_test;
mod audit;
mod backup;
pub(crate) mod echo;
mod events;
pub(crate) mod messages;
pub(crate) mod output;
mod plugin;
mod quarantine;
mod reference;
mod run;
mod status;
mod tls;
mod validate;

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
    /// `--namespace` (or its variable) was given rather than defaulted.
    #[arg(skip)]
    pub namespace_given: bool,
}

impl Cli {
    /// Parses the process's arguments (exiting with clap's message on an
    /// error), noting whether the namespace was chosen.
    pub fn parse_args() -> Self {
        use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
        let matches = Self::command().get_matches();
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.global.namespace_given = matches!(
            matches.value_source("namespace"),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        cli
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage association contexts (import, create, list, show, edit, delete, export).
    Association(association::AssociationArgs),
    /// The AE directory: where the AEs the engine calls are (add, list,
    /// show, edit, delete).
    Ae(ae::AeArgs),
    /// List the SOP classes of the standard (UID, name, keyword).
    AbstractSyntax(reference::ReferenceArgs),
    /// List the transfer syntaxes the engine knows (UID, name, VR, byte
    /// order, pixel data encapsulated or native).
    TransferSyntax(reference::ReferenceArgs),
    /// List the data elements of the standard (tag, keyword, name, VR, VM).
    Dictionary(reference::ReferenceArgs),
    /// Check a routing plugin, or route DICOM files through it.
    Plugin(plugin::PluginArgs),
    /// Run every production under the productions folder until SIGINT or
    /// SIGTERM.
    Run(run::RunArgs),
    /// The message trace: list, show and resend messages.
    Messages(messages::MessagesArgs),
    /// Check production files without running them; prints every error
    /// with its file, line, item and field.
    Validate(validate::ValidateArgs),
    /// Show what the running engine runs: every production and item with
    /// its state and queue depth, queues waiting for missing items, and
    /// the last reload and its errors.
    Status(status::StatusArgs),
    /// The running engine's recent log events (INFO and above), newest
    /// first.
    Events(events::EventsArgs),
    /// What could not be read and was set aside instead of deleted: list
    /// it, or restore body files that read again.
    Quarantine(quarantine::QuarantineArgs),
    /// Write every namespace's associations and AE directory to one JSON
    /// file (works while the engine runs).
    Backup(backup::BackupArgs),
    /// Put a backup's associations and AE directory entries back; what the
    /// store has already is kept unless --overwrite.
    Restore(backup::RestoreArgs),
    /// The audit trail: every administrative change, who made it and what
    /// it changed.
    Audit(audit::AuditArgs),
    /// Send C-ECHO to a DICOM peer and print the PDU trace with round-trip
    /// times. Proposes Verification with the transfer syntaxes of the stored
    /// association for the pair, else Implicit VR Little Endian.
    Echo(echo::EchoArgs),
    /// The management portal: `portal url` prints the login URL of the
    /// running engine (`switchboard run --portal`).
    Portal(PortalArgs),
}

/// `portal …`
#[derive(Debug, clap::Args)]
pub struct PortalArgs {
    #[command(subcommand)]
    pub command: PortalCommand,
}

/// The portal commands.
#[derive(Debug, clap::Subcommand)]
pub enum PortalCommand {
    /// Print the login URL of the running engine's portal.
    Url,
}

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the command reports; `main` prints the chain and exits non-zero.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command } = cli;
    match command {
        Command::Association(args) => association::run(&global, args).await,
        Command::Ae(args) => ae::run(&global, args).await,
        Command::AbstractSyntax(args) => reference::abstract_syntax(&args),
        Command::TransferSyntax(args) => reference::transfer_syntax(&args),
        Command::Dictionary(args) => reference::dictionary(&args),
        Command::Plugin(args) => plugin::run(&global, args),
        Command::Validate(args) => validate::validate(&args),
        Command::Run(args) => run::run(global.data_dir.clone(), &args).await,
        Command::Echo(args) => echo::run(&global, &args).await,
        Command::Status(args) => status::run(&global, &args).await,
        Command::Events(args) => events::run(&global, &args).await,
        Command::Messages(args) => messages::run(&global, args).await,
        Command::Quarantine(args) => quarantine::run(&global, args).await,
        Command::Audit(args) => audit::run(&global, &args),
        Command::Backup(args) => backup::backup(&global, &args).await,
        Command::Restore(args) => backup::restore(&global, &args).await,
        Command::Portal(PortalArgs {
            command: PortalCommand::Url,
        }) => {
            let path = crate::portal::token_path(&global.data_dir);
            let url = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "no portal login URL in {}: {e} (start the engine with `switchboard run --portal`)",
                    path.display()
                )
            })?;
            output::write_stdout(&url)
        }
    }
}
