//! `switchboard validate [PATH]`: loads production files and reports every
//! error, without running anything.

use std::path::PathBuf;

use clap::Args;

use crate::config::load_path;

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A productions folder (`<namespace>/<name>.toml` inside) or one
    /// production file.
    #[arg(env = "SWITCHBOARD_PRODUCTIONS", default_value = "productions")]
    pub path: PathBuf,
}

/// Prints one line per valid production and one per error; fails when any
/// file has an error.
///
/// # Errors
/// When at least one production file is invalid.
pub fn validate(args: &ValidateArgs) -> anyhow::Result<()> {
    let loaded = load_path(&args.path);
    for p in &loaded.productions {
        if loaded.rejected.contains(&p.file) {
            continue;
        }
        println!(
            "ok {}: production {} ({} services, {} processes, {} operations)",
            p.file.display(),
            p.id,
            p.services.len(),
            p.processes.len(),
            p.operations.len()
        );
    }
    for e in &loaded.errors {
        println!("error {e}");
    }
    if loaded.errors.is_empty() {
        if loaded.productions.is_empty() {
            anyhow::bail!(
                "no production file found under {}: put them in <namespace>/<name>.toml",
                args.path.display()
            );
        }
        Ok(())
    } else {
        anyhow::bail!(
            "{} error(s) in {} file(s)",
            loaded.errors.len(),
            loaded.rejected.len()
        )
    }
}
