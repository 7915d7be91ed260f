//! `switchboard plugin check|run`: try a routing plugin without a production.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::plugin::cache::ComponentCache;
use crate::plugin::{
    AttributeEdit, CONTRACT_MAJOR, CallOptions, Decision, MessageHeader, Plugin, PluginEngine,
    inspect,
};
use crate::processes::wasm_router::DicomSource;
use crate::processes::wasm_router::config::{DEFAULT_MAX_MEMORY_BYTES, DEFAULT_TIMEOUT_MS};

/// `switchboard plugin …`
#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Load a plugin and print its contract version, exports and imports
    /// (non-zero exit for a broken or wrong-version file). With --config, also run its init.
    Check {
        /// The plugin (.wasm component).
        plugin: PathBuf,
        /// Configuration to pass to init (JSON).
        #[arg(long)]
        config: Option<String>,
    },
    /// Route DICOM files through a plugin and print each decision.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The plugin (.wasm component).
    plugin: PathBuf,
    /// DICOM Part-10 files, one message each.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Configuration to pass to init (JSON).
    #[arg(long, default_value = "{}")]
    config: String,
    /// The process's targets (comma-separated). Without it, any target is accepted.
    #[arg(long, value_delimiter = ',')]
    targets: Option<Vec<String>>,
    /// Calling AE title in the header.
    #[arg(long, default_value = "STORESCU")]
    calling: String,
    /// Called AE title in the header.
    #[arg(long, default_value = "SWITCHBOARD")]
    called: String,
    /// Per-message deadline in milliseconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_MS)]
    timeout_ms: u64,
    /// Memory cap per instance in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_MEMORY_BYTES)]
    max_memory_bytes: u64,
}

/// Runs `switchboard plugin …`.
///
/// # Errors
/// A plugin that cannot be loaded, or any message that failed.
pub fn run(global: &GlobalArgs, args: PluginArgs) -> anyhow::Result<()> {
    let engine = PluginEngine::shared().context("cannot start the plugin engine")?;
    // Reuse compiled plugins across runs when a data directory exists; never create one.
    let cache_dir = global
        .data_dir
        .is_dir()
        .then(|| global.data_dir.join("plugin-cache"));
    let cache = ComponentCache::new(engine, cache_dir);
    match args.command {
        PluginCommand::Check { plugin, config } => check(&cache, &plugin, config.as_deref()),
        PluginCommand::Run(run) => run_files(&cache, &run),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn check(cache: &ComponentCache, path: &Path, config: Option<&str>) -> anyhow::Result<()> {
    let wasm = read(path)?;
    let (_, info) = inspect(cache, &wasm)
        .with_context(|| format!("{} is not a usable plugin", path.display()))?;
    println!(
        "plugin:   {} ({} bytes, sha256 {})",
        path.display(),
        info.size,
        info.content_hash
    );
    println!(
        "contract: switchboard:router@{} (this engine supports {CONTRACT_MAJOR}.x)",
        info.contract_version
    );
    println!("exports:");
    for e in &info.exports {
        println!("  {e}");
    }
    println!("imports:");
    for i in &info.imports {
        println!("  {i}");
    }
    if !info.ungranted_imports.is_empty() {
        println!(
            "not granted (calls trap): {}",
            info.ungranted_imports.join(", ")
        );
    }
    if let Some(config) = config {
        Plugin::load(
            cache,
            &file_stem(path),
            &wasm,
            config,
            CallOptions::default(),
        )
        .with_context(|| format!("{}: init refused the configuration", path.display()))?;
        println!("init:     ok");
    }
    Ok(())
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "plugin".to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn run_files(cache: &ComponentCache, args: &RunArgs) -> anyhow::Result<()> {
    let wasm = read(&args.plugin)?;
    let options = CallOptions {
        deadline: Duration::from_millis(args.timeout_ms.max(1)),
        max_memory_bytes: usize::try_from(args.max_memory_bytes).unwrap_or(usize::MAX),
        check_targets: args.targets.is_some(),
        ..CallOptions::default()
    };
    let plugin = Plugin::load(
        cache,
        &file_stem(&args.plugin),
        &wasm,
        &args.config,
        options,
    )
    .with_context(|| format!("cannot load {}", args.plugin.display()))?;
    let mut failed = 0usize;
    for file in &args.files {
        match route_file(&plugin, args, file) {
            Ok(decision) => print_decision(file, &decision),
            Err(e) => {
                failed += 1;
                println!("{}: failed: {e:#}", file.display());
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} messages failed", args.files.len());
    }
    Ok(())
}

fn route_file(plugin: &Plugin, args: &RunArgs, file: &Path) -> anyhow::Result<Decision> {
    let meta = crate::part10::read_meta(file)?;
    let header = MessageHeader {
        message_id: file.display().to_string(),
        source: "plugin-run".to_string(),
        calling_ae_title: args.calling.clone(),
        called_ae_title: args.called.clone(),
        sop_class_uid: meta.sop_class_uid,
        sop_instance_uid: meta.sop_instance_uid,
        transfer_syntax_uid: meta.transfer_syntax,
        targets: args.targets.clone().unwrap_or_default(),
    };
    // Read as the routing process reads a body: lazily, up to Pixel Data.
    let source = Arc::new(DicomSource::part10(file));
    let decision = plugin.route(&header, source)?;
    if let Decision::Forward(f) = &decision {
        crate::processes::wasm_router::edit::validate(&f.edits)?;
    }
    Ok(decision)
}

fn print_decision(file: &Path, decision: &Decision) {
    match decision {
        Decision::Drop(reason) => println!("{}: drop: {reason}", file.display()),
        Decision::Forward(f) if f.targets.is_empty() => {
            println!("{}: forward to nobody", file.display())
        }
        Decision::Forward(f) => println!("{}: forward to {}", file.display(), f.targets.join(", ")),
    }
    if let Decision::Forward(f) = decision {
        for edit in &f.edits {
            match edit {
                AttributeEdit::Remove(tag) => println!("  remove {}", tag_text(*tag)),
                AttributeEdit::Set(s) => println!(
                    "  set {} {} {:?}",
                    tag_text(s.tag),
                    s.vr,
                    s.values.join("\\")
                ),
            }
        }
    }
}

fn tag_text(tag: u32) -> String {
    format!("({:04X},{:04X})", tag >> 16, tag & 0xFFFF)
}
