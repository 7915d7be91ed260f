//! `switchboard status`: what the running engine runs, asked through its
//! admin socket, in every namespace or in the one `--namespace` names.
//! Without a running engine it says so and fails.

use clap::Args;

use super::GlobalArgs;
use crate::admin::{self, EngineStatus, Request, Response};

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Asks the running engine for its status and prints it.
///
/// # Errors
/// No engine runs on the data directory, or it does not answer.
pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<()> {
    let response =
        admin::with_store_or_engine(&global.data_dir, &global.namespace, Request::Status)
            .await?
            .map_err(super::output::reply_error)?;
    let Response::Status { mut status } = response else {
        anyhow::bail!("the engine answered the status request with something else");
    };
    // The engine's view covers every namespace; `--namespace` narrows it.
    if global.namespace_given {
        let ns = &global.namespace;
        status.productions.retain(|p| &p.namespace == ns);
        status.waiting_queues.retain(|q| &q.namespace == ns);
    }
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&status)?)
    } else {
        render_text(&status)
    };
    super::output::write_stdout(&text)
}

/// Appends one formatted line.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

/// The human form: one block per production with a line per item.
pub fn render_text(status: &EngineStatus) -> String {
    let mut out = String::new();
    let watching = if status.watching {
        "reloading on change"
    } else {
        "not watching for changes"
    };
    put!(
        out,
        "Engine running {} production(s) from {} ({watching}).",
        status.productions.len(),
        status.productions_dir
    );
    for p in &status.productions {
        put!(out, "\n{}/{}  ({})", p.namespace, p.name, p.file);
        let width = p
            .items
            .iter()
            .map(|i| i.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        put!(
            out,
            "  {:<width$}  {:<9}  {:<12}  {:<8}  {:>5}  LISTENING",
            "ITEM",
            "KIND",
            "TYPE",
            "STATE",
            "QUEUE"
        );
        for i in &p.items {
            put!(
                out,
                "  {:<width$}  {:<9}  {:<12}  {:<8}  {:>5}  {}",
                i.name,
                i.kind,
                i.kind_type,
                i.state.to_string(),
                i.queue_depth,
                i.listening.as_deref().unwrap_or("-")
            );
        }
        for i in p.items.iter().filter(|i| i.failures > 0) {
            put!(
                out,
                "  {} ended on its own {} time(s) and was started again; last: {}",
                i.name,
                i.failures,
                i.last_failure.as_deref().unwrap_or("no reason")
            );
        }
        if let Some(e) = &p.last_reload_error {
            put!(out, "  last reload error (the previous version runs): {e}");
        }
    }
    if !status.waiting_queues.is_empty() {
        put!(
            out,
            "\nWaiting for a missing item (delivered when it comes back):"
        );
        for q in &status.waiting_queues {
            put!(
                out,
                "  {}/{}/{}  {} message(s)",
                q.namespace,
                q.production,
                q.item,
                q.depth
            );
        }
    }
    if let Some(why) = &status.refusing_writes {
        put!(out, "\nREFUSING WRITES: {why}.");
    }
    let q = &status.quarantine;
    if q.bodies + q.records > 0 {
        put!(
            out,
            "\nQuarantine: {} body file(s) and {} store record(s) could not be read and were set aside in {} (nothing was deleted); see `switchboard quarantine list`.",
            q.bodies,
            q.records,
            q.folder
        );
    }
    if !status.rejected_files.is_empty() {
        put!(out, "\nNot running (errors):");
        for f in &status.rejected_files {
            for e in &f.errors {
                put!(out, "  {e}");
            }
        }
    }
    match &status.last_reload {
        Some(r) => {
            let changes = if r.changes.is_empty() {
                "nothing changed".to_string()
            } else {
                r.changes.join("; ")
            };
            put!(out, "\nLast reload: {changes} (took {} ms).", r.took_ms);
            for e in &r.errors {
                put!(out, "  error: {e}");
            }
        }
        None => {
            put!(out, "\nNo reload since start.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::status::{ItemState, ItemStatus, ProductionStatus};

    #[test]
    fn an_item_started_again_says_how_often_and_why() {
        let status = EngineStatus {
            productions_dir: "productions".into(),
            watching: true,
            productions: vec![ProductionStatus {
                namespace: crate::ids::NamespaceId::new("demo").unwrap(),
                name: "store".into(),
                file: "productions/demo/store.toml".into(),
                items: vec![ItemStatus {
                    name: "PACS".into(),
                    kind: "operation".into(),
                    kind_type: "dicom-tcp".into(),
                    state: ItemState::Restarting,
                    queue_depth: 3,
                    oldest_queued_ms: None,
                    listening: None,
                    failures: 2,
                    last_failure: Some("panicked: oops".into()),
                    messages: Default::default(),
                }],
                last_reload_error: None,
            }],
            rejected_files: Vec::new(),
            waiting_queues: Vec::new(),
            last_reload: None,
            quarantine: Default::default(),
            refusing_writes: None,
        };
        let text = render_text(&status);
        assert!(text.contains("restarting"), "{text}");
        assert!(
            text.contains(
                "PACS ended on its own 2 time(s) and was started again; last: panicked: oops"
            ),
            "{text}"
        );
    }
}
