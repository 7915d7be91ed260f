//! `switchboard association …`: import, create and maintain association
//! contexts. Each subcommand builds one admin [`Request`], runs it through
//! [`admin::with_store_or_engine`] (locally, or via a running engine) and
//! prints the [`Response`]; so the output is the same either way.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::admin::{self, AssociationView, Request, Response};
use crate::association::{AeTitle, CertificateBinding, Uid, import};
use crate::dictionary;
use crate::ids::NamespaceId;

use super::GlobalArgs;

/// Manage association contexts: which AE titles may talk, with which
/// presentation contexts.
#[derive(Debug, Args)]
pub struct AssociationArgs {
    #[command(subcommand)]
    pub command: AssociationCommand,
}

/// The association subcommands.
#[derive(Debug, Subcommand)]
pub enum AssociationCommand {
    /// Create an association from a file of `SOP` or `SOP\TS` lines (SOP
    /// class UID, optionally a transfer syntax UID; no TS means Implicit VR
    /// Little Endian).
    Import(ImportArgs),
    /// Create an association with one presentation context for every SOP
    /// class of the DICOM registry.
    Create(CreateArgs),
    /// Create an association without presentation contexts (add them with
    /// `association context add|set`).
    Add(AddArgs),
    /// List the associations of the namespace.
    List(ListArgs),
    /// Show one association with its presentation contexts.
    Show(ShowArgs),
    /// Change an association's name, description, maximum PDU length or
    /// certificate bindings.
    Edit(EditArgs),
    /// Delete an association.
    Delete(PairArgs),
    /// Add or remove presentation contexts of an association.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Write an association's presentation contexts in the import format.
    Export(ExportArgs),
    /// Negotiate the stored association against a live peer: per abstract
    /// syntax, accepted with which transfer syntax or rejected and why.
    Test(super::association_test::AssociationTestArgs),
}

/// The (calling AET, called AET) pair that names an association.
#[derive(Debug, Clone, Args)]
pub struct PairArgs {
    /// Calling AE title (usually the SCU); `*` matches any.
    #[arg(long, value_name = "AET")]
    pub calling: AeTitle,
    /// Called AE title (usually the SCP); `*` matches any.
    #[arg(long, value_name = "AET")]
    pub called: AeTitle,
}

/// `association import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: one `SOP` or `SOP\TS` per line; `#` starts a comment.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub pair: PairArgs,
    /// Replace the presentation contexts of an existing association (its
    /// name, description and maximum PDU length stay).
    #[arg(long)]
    pub overwrite: bool,
}

/// `association create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Transfer syntax UID for every context, in order of preference;
    /// repeat the option or list several (default: Implicit VR Little
    /// Endian).
    #[arg(long = "transfer-syntax", value_name = "UID", num_args = 1..)]
    pub transfer_syntaxes: Vec<Uid>,
    /// Replace the presentation contexts of an existing association.
    #[arg(long)]
    pub overwrite: bool,
}

/// `association list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON: an array of associations.
    #[arg(long)]
    pub json: bool,
}

/// `association show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `association edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Display name, at most 64 characters.
    #[arg(long)]
    pub name: Option<String>,
    /// Description, at most 254 characters.
    #[arg(long)]
    pub description: Option<String>,
    /// Maximum PDU length to use with this peer: 0 (unlimited) or at least
    /// 1024; overrides the service's.
    #[arg(long, value_name = "BYTES")]
    pub max_pdu_length: Option<u32>,
    /// Use the service's maximum PDU length again.
    #[arg(long, conflicts_with = "max_pdu_length")]
    pub clear_max_pdu_length: bool,
    /// Bind the calling AE title to exactly these client certificates:
    /// `cn:NAME`, `san:DNS-NAME` or `sha256:FINGERPRINT`; repeat the option
    /// or list several.
    #[arg(long = "certificate", value_name = "BINDING", num_args = 1..)]
    pub certificates: Vec<CertificateBinding>,
    /// Unbind the calling AE title from any certificate.
    #[arg(long, conflicts_with = "certificates")]
    pub clear_certificates: bool,
}

/// `association add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Display name, at most 64 characters.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Description, at most 254 characters.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Maximum PDU length to use with this peer: 0 (unlimited) or at least
    /// 1024; overrides the service's.
    #[arg(long, value_name = "BYTES")]
    pub max_pdu_length: Option<u32>,
    /// Bind the calling AE title to these client certificates: `cn:NAME`,
    /// `san:DNS-NAME` or `sha256:FINGERPRINT`.
    #[arg(long = "certificate", value_name = "BINDING", num_args = 1..)]
    pub certificates: Vec<CertificateBinding>,
}

/// `association context …`.
#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Add a presentation context, or append transfer syntaxes to one.
    Add(ContextAddArgs),
    /// Remove a presentation context, or one of its transfer syntaxes.
    Remove(ContextRemoveArgs),
    /// Set a presentation context's transfer syntaxes to exactly these, in
    /// this order of preference (adds the context when missing).
    Set(ContextAddArgs),
}

/// `association context add`.
#[derive(Debug, Args)]
pub struct ContextAddArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// SOP class UID.
    #[arg(long, value_name = "UID")]
    pub abstract_syntax: Uid,
    /// Transfer syntax UIDs, in order of preference.
    #[arg(long = "transfer-syntax", value_name = "UID", num_args = 1.., required = true)]
    pub transfer_syntaxes: Vec<Uid>,
}

/// `association context remove`.
#[derive(Debug, Args)]
pub struct ContextRemoveArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// SOP class UID.
    #[arg(long, value_name = "UID")]
    pub abstract_syntax: Uid,
    /// Remove only this transfer syntax (default: the whole context).
    #[arg(long, value_name = "UID")]
    pub transfer_syntax: Option<Uid>,
}

/// `association export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs an `association` subcommand.
///
/// # Errors
/// A bad import file (every bad line), a refused command, or a store or
/// admin-socket failure; then nothing was changed.
pub async fn run(global: &GlobalArgs, args: AssociationArgs) -> anyhow::Result<()> {
    let (request, output) = match args.command {
        AssociationCommand::Test(a) => return super::association_test::run(global, &a).await,
        AssociationCommand::Import(a) => {
            let bytes = std::fs::read(&a.file)
                .with_context(|| format!("cannot read import file {}", a.file.display()))?;
            let name = a.file.display().to_string();
            let file = import::parse_file(&name, &bytes)
                .map_err(|e| anyhow::anyhow!("{e}\nnothing was imported"))?;
            let request = Request::Import {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
                presentation_contexts: file.presentation_contexts,
                overwrite: a.overwrite,
                certificates: file.certificates,
            };
            (request, Output::Text)
        }
        AssociationCommand::Create(a) => (
            Request::Create {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
                transfer_syntaxes: a.transfer_syntaxes,
                overwrite: a.overwrite,
            },
            Output::Text,
        ),
        AssociationCommand::Add(a) => (
            Request::Add {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
                name: a.name,
                description: a.description,
                max_pdu_length: a.max_pdu_length,
                certificates: a.certificates,
            },
            Output::Text,
        ),
        AssociationCommand::List(a) => (Request::List, Output::json_if(a.json)),
        AssociationCommand::Show(a) => (
            Request::Show {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
            },
            Output::json_if(a.json),
        ),
        AssociationCommand::Edit(a) => (
            Request::Edit {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
                name: a.name,
                description: a.description,
                max_pdu_length: a.max_pdu_length,
                clear_max_pdu_length: a.clear_max_pdu_length,
                certificates: if a.clear_certificates {
                    Some(Vec::new())
                } else {
                    (!a.certificates.is_empty()).then_some(a.certificates)
                },
            },
            Output::Text,
        ),
        AssociationCommand::Delete(pair) => (
            Request::Delete {
                calling_aet: pair.calling,
                called_aet: pair.called,
            },
            Output::Text,
        ),
        AssociationCommand::Context(ContextCommand::Add(a)) => (
            Request::ContextAdd {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
                abstract_syntax: a.abstract_syntax,
                transfer_syntaxes: a.transfer_syntaxes,
            },
            Output::Text,
        ),
        AssociationCommand::Context(ContextCommand::Set(a)) => (
            Request::ContextSet {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
                abstract_syntax: a.abstract_syntax,
                transfer_syntaxes: a.transfer_syntaxes,
            },
            Output::Text,
        ),
        AssociationCommand::Context(ContextCommand::Remove(a)) => (
            Request::ContextRemove {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
                abstract_syntax: a.abstract_syntax,
                transfer_syntax: a.transfer_syntax,
            },
            Output::Text,
        ),
        AssociationCommand::Export(a) => (
            Request::Export {
                calling_aet: a.pair.calling,
                called_aet: a.pair.called,
            },
            match a.output {
                Some(path) => Output::File(path),
                None => Output::Text,
            },
        ),
    };
    let response = admin::with_store_or_engine(&global.data_dir, &global.namespace, request)
        .await?
        .map_err(super::output::reply_error)?;
    let text = match output {
        Output::Json => render_json(&response)?,
        Output::Text => render_text(&response, &global.namespace),
        Output::File(path) => {
            let Response::Exported { association, text } = &response else {
                anyhow::bail!("unexpected answer to export");
            };
            write_atomically(&path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            format!(
                "Exported {} of association {} to {}.\n",
                contexts(association.presentation_contexts.len()),
                association.key(),
                path.display()
            )
        }
    };
    super::output::write_stdout(&text)
}

enum Output {
    Text,
    Json,
    File(PathBuf),
}

impl Output {
    fn json_if(json: bool) -> Self {
        if json { Output::Json } else { Output::Text }
    }
}

/// The `--json` form: one association object, or an array for `list`.
///
/// # Errors
/// Only if serialisation fails, which plain data does not.
pub fn render_json(response: &Response) -> anyhow::Result<String> {
    let mut text = match response {
        Response::Associations { associations } => serde_json::to_string_pretty(associations)?,
        Response::LookedUp { association } => serde_json::to_string_pretty(association)?,
        Response::Association { association }
        | Response::Imported { association, .. }
        | Response::Created { association, .. }
        | Response::Edited { association }
        | Response::Added { association }
        | Response::ContextSet { association, .. }
        | Response::Deleted { association }
        | Response::ContextAdded { association, .. }
        | Response::ContextRemoved { association, .. }
        | Response::Exported { association, .. } => serde_json::to_string_pretty(association)?,
        other => serde_json::to_string_pretty(other)?,
    };
    text.push('\n');
    Ok(text)
}

/// The human form of an answer.
pub fn render_text(response: &Response, namespace: &NamespaceId) -> String {
    match response {
        Response::Imported {
            association,
            replaced,
        } => format!(
            "Imported {} for association {}{}.\n",
            contexts(association.presentation_contexts.len()),
            association.key(),
            replaced_note(*replaced)
        ),
        Response::Created {
            association,
            replaced,
        } => format!(
            "Created {} for association {}{}.\n",
            contexts(association.presentation_contexts.len()),
            association.key(),
            replaced_note(*replaced)
        ),
        Response::Added { association } => {
            format!("Added association {}.\n", association.key())
        }
        Response::ContextSet {
            association,
            abstract_syntax,
        } => {
            let pc = association
                .presentation_contexts
                .iter()
                .find(|pc| &pc.abstract_syntax == abstract_syntax);
            format!(
                "Presentation context {} of association {} now lists {}.\n",
                sop_label(abstract_syntax),
                association.key(),
                pc.map(|pc| pc
                    .transfer_syntaxes
                    .iter()
                    .map(ts_label)
                    .collect::<Vec<_>>()
                    .join(", "))
                    .unwrap_or_default()
            )
        }
        Response::Associations { associations } => render_list(associations, namespace),
        Response::Association { association } => render_show(association),
        Response::Edited { association } => {
            format!("Updated association {}.\n", association.key())
        }
        Response::Deleted { association } => format!(
            "Deleted association {} ({}).\n",
            association.key(),
            contexts(association.presentation_contexts.len())
        ),
        Response::ContextAdded {
            association,
            abstract_syntax,
            added,
            new_context,
        } => {
            let sop = sop_label(abstract_syntax);
            if *new_context {
                format!(
                    "Added presentation context {sop} with {} to association {}.\n",
                    transfer_syntaxes(added.len()),
                    association.key()
                )
            } else if added.is_empty() {
                format!(
                    "Presentation context {sop} of association {} already lists every given transfer syntax; nothing changed.\n",
                    association.key()
                )
            } else {
                format!(
                    "Appended {} to presentation context {sop} of association {}.\n",
                    transfer_syntaxes(added.len()),
                    association.key()
                )
            }
        }
        Response::ContextRemoved {
            association,
            abstract_syntax,
            transfer_syntax,
        } => {
            let sop = sop_label(abstract_syntax);
            match transfer_syntax {
                Some(ts) => format!(
                    "Removed transfer syntax {} from presentation context {sop} of association {}.\n",
                    ts_label(ts),
                    association.key()
                ),
                None => format!(
                    "Removed presentation context {sop} from association {}.\n",
                    association.key()
                ),
            }
        }
        Response::LookedUp {
            association: Some(association),
        } => render_show(association),
        Response::LookedUp { association: None } => "No association found.\n".to_string(),
        Response::Exported { text, .. } => text.clone(),
        // Not an answer to an association command.
        Response::Messages { .. }
        | Response::Message { .. }
        | Response::Resent { .. }
        | Response::Status { .. }
        | Response::Quarantine { .. }
        | Response::QuarantineRestored { .. }
        | Response::AeAdded { .. }
        | Response::AeEntries { .. }
        | Response::AeShown { .. }
        | Response::AeEdited { .. }
        | Response::AeDeleted { .. }
        | Response::ProductionFile { .. }
        | Response::ProductionChecked { .. }
        | Response::Backup { .. }
        | Response::Restored { .. }
        | Response::Events { .. } => String::new(),
    }
}

/// "1 presentation context", "2 presentation contexts".
fn contexts(n: usize) -> String {
    if n == 1 {
        "1 presentation context".to_string()
    } else {
        format!("{n} presentation contexts")
    }
}

/// "1 transfer syntax", "2 transfer syntaxes".
fn transfer_syntaxes(n: usize) -> String {
    if n == 1 {
        "1 transfer syntax".to_string()
    } else {
        format!("{n} transfer syntaxes")
    }
}

fn replaced_note(replaced: bool) -> &'static str {
    if replaced {
        " (replacing its previous presentation contexts)"
    } else {
        ""
    }
}

fn render_list(associations: &[AssociationView], namespace: &NamespaceId) -> String {
    if associations.is_empty() {
        return format!("No associations in namespace {namespace}.\n");
    }
    let mut out = format!(
        "{:<16}  {:<16}  {:>8}  NAME\n",
        "CALLING AET", "CALLED AET", "CONTEXTS"
    );
    for a in associations {
        out.push_str(&format!(
            "{}\n",
            format!(
                "{:<16}  {:<16}  {:>8}  {}",
                a.calling_aet.as_str(),
                a.called_aet.as_str(),
                a.presentation_contexts.len(),
                a.name
            )
            .trim_end()
        ));
    }
    out
}

/// `association show` in text: the association's fields, then each
/// presentation context with its SOP class name and its transfer syntaxes
/// by name and UID, in order of preference.
pub fn render_show(a: &AssociationView) -> String {
    let or_none = |s: &str| {
        if s.is_empty() {
            "(none)".to_string()
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    out.push_str(&format!("Association {}\n", a.key()));
    out.push_str(&format!("  Calling AET:     {}\n", a.calling_aet));
    out.push_str(&format!("  Called AET:      {}\n", a.called_aet));
    out.push_str(&format!("  Name:            {}\n", or_none(&a.name)));
    out.push_str(&format!("  Description:     {}\n", or_none(&a.description)));
    let pdu = match a.max_pdu_length {
        None => "(the service's)".to_string(),
        Some(0) => "0 (unlimited)".to_string(),
        Some(n) => n.to_string(),
    };
    out.push_str(&format!("  Max PDU length:  {pdu}\n"));
    let certificates = if a.certificates.is_empty() {
        "(any, or none)".to_string()
    } else {
        a.certificates
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!("  Certificates:    {certificates}\n"));
    out.push_str(&format!(
        "Presentation contexts: {}\n",
        a.presentation_contexts.len()
    ));
    for (i, pc) in a.presentation_contexts.iter().enumerate() {
        out.push_str(&format!(
            "  {:>3}  {}\n",
            i + 1,
            sop_label(&pc.abstract_syntax)
        ));
        for ts in &pc.transfer_syntaxes {
            out.push_str(&format!("         {}\n", ts_label(ts)));
        }
    }
    out
}

fn sop_label(uid: &Uid) -> String {
    let name = dictionary::sop_class_name(uid.as_str()).unwrap_or(dictionary::UNKNOWN);
    format!("{name} ({uid})")
}

fn ts_label(uid: &Uid) -> String {
    let name = dictionary::transfer_syntax_name(uid.as_str()).unwrap_or(dictionary::UNKNOWN);
    format!("{name} ({uid})")
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: readers see the old file or the new one, never half of one.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_string());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err()
        && let Err(error) = std::fs::remove_file(&tmp)
    {
        tracing::debug!(%error, path = %tmp.display(), "Temporary export file was not removed.");
    }
    result
}

#[cfg(test)]
mod tests;
