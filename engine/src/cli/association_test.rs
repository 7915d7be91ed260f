//! `switchboard association test --calling AET --called AET HOST:PORT`:
//! proposes every presentation context of the stored association to a live
//! peer (several associations when there are more than 128) and prints, per
//! abstract syntax, the accepted transfer syntax or the rejection in words.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;

use super::GlobalArgs;
use super::output::say;
use crate::association::model::AeTitle;
use crate::dimse::probe::test_association;
use crate::dimse::scu::MAX_PRESENTATION_CONTEXTS;
use crate::dimse::uids::uid_name_or_uid;

/// Negotiate a stored association against a live peer.
#[derive(Debug, Clone, Args)]
pub struct AssociationTestArgs {
    /// Our AE title (the calling AE title of the stored association).
    #[arg(long)]
    pub calling: AeTitle,
    /// The peer's AE title (the called AE title of the stored association).
    #[arg(long)]
    pub called: AeTitle,
    /// The peer, as HOST:PORT.
    pub address: String,
    /// Seconds to wait to connect and for each answer.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    #[command(flatten)]
    pub tls: super::tls::TlsArgs,
}

/// Runs the command.
///
/// # Errors
/// When no association is stored for the pair, the peer cannot be reached,
/// or any stored context was rejected.
pub async fn run(global: &GlobalArgs, args: &AssociationTestArgs) -> anyhow::Result<()> {
    let stored = super::association_source::stored_association(global, &args.calling, &args.called)
        .await?
        .ok_or_else(|| {
            anyhow!(
                "no association {} -> {} in namespace {}: create it first with \
                 `switchboard association create` or `switchboard association import`",
                args.calling,
                args.called,
                global.namespace
            )
        })?;
    if stored.presentation_contexts.is_empty() {
        bail!(
            "association {} -> {} has no presentation context to test: add one with \
             `switchboard association context add`",
            args.calling,
            args.called
        );
    }
    let count = stored.presentation_contexts.len();
    let needed = count.div_ceil(MAX_PRESENTATION_CONTEXTS);
    say!(
        "Testing {} -> {} at {}: {count} presentation context{} in {needed} association{}",
        args.calling,
        args.called,
        args.address,
        if count == 1 { "" } else { "s" },
        if needed == 1 { "" } else { "s" },
    );
    let tls = args.tls.client()?;
    let report = test_association(
        &args.address,
        &stored,
        Duration::from_secs(args.timeout.max(1)),
        tls.as_ref(),
        |line| say!("{line}"),
    )
    .await
    .with_context(|| format!("testing the association at {} failed", args.address))?;
    for outcome in &report.contexts {
        let name = describe_uid(&outcome.abstract_syntax);
        match &outcome.result {
            Ok(ts) => say!("  accepted  {name}: {}", describe_uid(ts)),
            Err(reason) => {
                let proposed: Vec<String> = outcome
                    .proposed_transfer_syntaxes
                    .iter()
                    .map(|t| uid_name_or_uid(t))
                    .collect();
                say!(
                    "  rejected  {name}: {reason} (proposed {})",
                    proposed.join(", ")
                );
            }
        }
    }
    say!(
        "Summary: {} of {} presentation contexts accepted, {} rejected ({} association{})",
        report.accepted(),
        report.contexts.len(),
        report.rejected(),
        report.associations,
        if report.associations == 1 { "" } else { "s" }
    );
    if report.rejected() > 0 {
        bail!(
            "{} of {} stored presentation contexts were rejected by {}",
            report.rejected(),
            report.contexts.len(),
            args.called
        );
    }
    Ok(())
}

/// `Name (UID)` when the UID is known, else the UID.
fn describe_uid(uid: &str) -> String {
    let name = uid_name_or_uid(uid);
    if name == uid {
        name
    } else {
        format!("{name} ({uid})")
    }
}
