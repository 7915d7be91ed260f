//! A running `wasm` process: its plugin, loaded once, routing one message per call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{error, info, warn};

use crate::component::query::{Query, QueryContext};
use crate::component::{
    BuildError, FieldError, IntakeError, ItemConfig, ItemContext, Next, RunningItem,
};
use crate::message::{ItemAddress, MessageHeader, MessageRecord, now_ms};
use crate::plugin::cache::ComponentCache;
use crate::plugin::{CallError, Decision, Plugin, PluginError};

use super::config::WasmRouterConfig;
use super::edit;
use super::source::DicomSource;

/// Loading the plugin of a process failed.
#[derive(Debug, thiserror::Error)]
#[error("process {item}: plugin {}: {source}", path.display())]
pub struct LoadError {
    /// The process item name.
    pub item: String,
    /// The resolved plugin path.
    pub path: PathBuf,
    /// What went wrong.
    pub source: PluginError,
}

/// What the process knows about one message besides its data set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteRequest {
    /// The message id.
    pub message_id: String,
    /// The item that delivered it.
    pub source: String,
    /// Calling AE title of the association it came in on.
    pub calling_ae_title: String,
    /// Called AE title.
    pub called_ae_title: String,
    /// Affected SOP Class UID.
    pub sop_class_uid: String,
    /// Affected SOP Instance UID.
    pub sop_instance_uid: String,
    /// Transfer syntax of the data set.
    pub transfer_syntax_uid: String,
}

/// A `wasm` process with its plugin loaded and initialised.
#[derive(Debug, Clone)]
pub struct WasmRouter {
    item: String,
    plugin: Arc<Plugin>,
    targets: Vec<String>,
    path: PathBuf,
}

impl WasmRouter {
    /// Loads the plugin (relative to `production_dir`) and runs its `init`
    /// with the configured `config`: configuration errors show up here,
    /// before any message.
    ///
    /// # Errors
    /// [`LoadError`] naming the item and the plugin file.
    pub fn load(
        item: &str,
        config: &WasmRouterConfig,
        production_dir: &Path,
        cache: &ComponentCache,
    ) -> Result<WasmRouter, LoadError> {
        let path = config.plugin_path(production_dir);
        let plugin = Plugin::load_file(cache, &path, &config.config, config.call_options())
            .map_err(|source| LoadError {
                item: item.to_string(),
                path: path.clone(),
                source,
            })?;
        Ok(WasmRouter {
            item: item.to_string(),
            plugin: Arc::new(plugin),
            targets: config.targets.clone(),
            path,
        })
    }

    /// The loaded plugin.
    #[must_use]
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The resolved plugin file.
    #[must_use]
    pub fn plugin_path(&self) -> &Path {
        &self.path
    }

    /// Routes one message: synchronous CPU work bounded by the plugin's
    /// deadline (run it on a blocking thread). The decision's targets are
    /// checked against the process's targets and its edits are validated.
    ///
    /// # Errors
    /// [`CallError`] for this message only.
    pub fn route(
        &self,
        request: &RouteRequest,
        source: Arc<DicomSource>,
    ) -> Result<Decision, CallError> {
        let header = crate::plugin::MessageHeader {
            message_id: request.message_id.clone(),
            source: request.source.clone(),
            calling_ae_title: request.calling_ae_title.trim().to_string(),
            called_ae_title: request.called_ae_title.trim().to_string(),
            sop_class_uid: request.sop_class_uid.trim_end_matches('\0').to_string(),
            sop_instance_uid: request.sop_instance_uid.trim_end_matches('\0').to_string(),
            transfer_syntax_uid: request
                .transfer_syntax_uid
                .trim_end_matches('\0')
                .to_string(),
            targets: self.targets.clone(),
        };
        let decision = self.plugin.route(&header, source)?;
        if let Decision::Forward(forward) = &decision {
            edit::validate(&forward.edits)
                .map_err(|e| CallError::InvalidDecision(e.to_string()))?;
        }
        tracing::debug!(process = %self.item, message_id = %request.message_id, ?decision, "routed");
        Ok(decision)
    }
}

impl ItemConfig for WasmRouterConfig {
    fn targets(&self) -> Vec<&str> {
        self.targets.iter().map(String::as_str).collect()
    }

    /// The plugin: replacing it reloads the production, and since its
    /// content hash is part of these settings, the process is a changed
    /// item and is rebuilt (the old one finishes the message in hand on the
    /// old module).
    fn watched_files(&self) -> Vec<PathBuf> {
        vec![self.plugin.clone()]
    }

    fn check(&self) -> Vec<FieldError> {
        self.problems()
    }

    fn resolve(&mut self, production_dir: &Path) -> Vec<FieldError> {
        self.load_plugin(production_dir)
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        spawn(self.clone(), cx).await
    }

    /// In the way of queries when its targets answer them (the production's
    /// compile allows that only when all of them do).
    fn query(&self, cx: QueryContext<'_>) -> Option<Arc<dyn Query>> {
        (!cx.downstream.is_empty()).then(|| {
            Arc::new(super::query::PluginQuery::new(
                cx.address,
                self.clone(),
                cx.downstream,
            )) as Arc<dyn Query>
        })
    }
}

/// Loads the plugin (its path was resolved when the production was
/// compiled) and starts the process's task.
///
/// # Errors
/// [`BuildError`] when the plugin cannot be loaded or refuses its config.
async fn spawn(config: WasmRouterConfig, cx: ItemContext) -> Result<RunningItem, BuildError> {
    let item = cx.name.as_str().to_string();
    let router = tokio::task::spawn_blocking(move || {
        let cache = crate::plugin::cache::shared().map_err(|source| LoadError {
            item: item.clone(),
            path: config.plugin.clone(),
            source,
        })?;
        WasmRouter::load(&item, &config, Path::new(""), cache)
    })
    .await?
    .map_err(|e| BuildError::Setup(Box::new(e)))?;
    Ok(RunningItem::task(tokio::spawn(run(router, cx))))
}

async fn run(router: WasmRouter, cx: ItemContext) {
    let mut reader = cx.queue_reader();
    let me = cx.address();
    info!(namespace = %cx.namespace, item = %cx.name, plugin = %router.plugin_path().display(), "Process started.");
    loop {
        match reader.next(None).await {
            Ok(Next::Message(record)) => {
                let id = record.id;
                if let Err(e) = handle(&router, &cx, &me, *record).await {
                    error!(item = %cx.name, message_id = %id, error = %e, "Could not record the routing of a message.");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
            Ok(Next::Idle) => {}
            Ok(Next::Shutdown) => break,
            Err(e) => {
                error!(item = %cx.name, error = %e, "Could not read the queue.");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
    info!(namespace = %cx.namespace, item = %cx.name, "Process stopped.");
}

/// Runs the plugin on one message and records the outcome: routed, dropped,
/// forwarded as an edited copy, or failed with the plugin's error.
///
/// # Errors
/// The outcome could not be recorded.
async fn handle(
    router: &WasmRouter,
    cx: &ItemContext,
    me: &ItemAddress,
    record: MessageRecord,
) -> Result<(), IntakeError> {
    let id = record.id;
    let header = record.header;
    let request = RouteRequest {
        message_id: id.to_string(),
        source: header.source.item.clone(),
        calling_ae_title: header.calling_ae_title.clone(),
        called_ae_title: header.called_ae_title.clone(),
        sop_class_uid: header.sop_class_uid.clone(),
        sop_instance_uid: header.sop_instance_uid.clone(),
        transfer_syntax_uid: header.transfer_syntax.clone(),
    };
    let body = cx.bodies.path(&header);
    let source = Arc::new(DicomSource::body(
        &body,
        header.size,
        &header.transfer_syntax,
    ));
    // Called inline on this task: the call is short (microseconds) and
    // bounded by the plugin's CPU budget, and a hop to a blocking thread
    // cost more than the call itself under load (see the plugins note).
    let started = std::time::Instant::now();
    let cpu_before = crate::plugin::engine::thread_cpu_time();
    let outcome = router.route(&request, source);
    let cpu = crate::plugin::engine::thread_cpu_time().saturating_sub(cpu_before);
    tracing::debug!(
        item = %cx.name,
        message_id = %id,
        call_us = started.elapsed().as_micros(),
        cpu_us = cpu.as_micros(),
        "Plugin called."
    );
    let forward = match outcome {
        Err(e) => {
            warn!(item = %cx.name, message_id = %id, error = %e, "The plugin failed on a message.");
            cx.messages.failed(id, me, &e.to_string())?;
            return Ok(());
        }
        Ok(Decision::Drop(reason)) => {
            cx.messages.route(id, me, &[], &reason)?;
            return Ok(());
        }
        Ok(Decision::Forward(forward)) => forward,
    };
    let mut targets = Vec::new();
    for name in &forward.targets {
        match cx.outputs.named(name) {
            Some(o) => targets.push(o.address.clone()),
            None => {
                let reason = format!("invalid decision: target \"{name}\" is not running");
                cx.messages.failed(id, me, &reason)?;
                return Ok(());
            }
        }
    }
    if forward.edits.is_empty() {
        cx.messages.route(id, me, &targets, "")?;
        cx.outputs.wake(&targets);
        return Ok(());
    }
    // Edits: the original stays as received; an edited copy becomes a new
    // message queued for the targets.
    let (size, ts, edits) = (header.size, header.transfer_syntax.clone(), forward.edits);
    let copy =
        tokio::task::spawn_blocking(move || edit::edited_copy(&body, Some(size), &ts, &edits))
            .await;
    let why = match copy {
        Ok(Ok(copy)) => Ok(copy),
        Ok(Err(e)) => Err(e.to_string()),
        // A panic while parsing the data set fails this message only.
        Err(e) => Err(e.to_string()),
    };
    let copy = match why {
        Ok(copy) => copy,
        Err(e) => {
            let reason = format!("cannot make the edited copy: {e}");
            cx.messages.failed(id, me, &reason)?;
            return Ok(());
        }
    };
    let copy_header = MessageHeader {
        source: me.clone(),
        received_at: now_ms(),
        sop_class_uid: copy
            .sop_class_uid
            .clone()
            .unwrap_or_else(|| header.sop_class_uid.clone()),
        sop_instance_uid: copy
            .sop_instance_uid
            .clone()
            .unwrap_or_else(|| header.sop_instance_uid.clone()),
        origin: format!("edited copy of message {id}"),
        size: 0,
        ..header
    };
    let new_id = cx
        .take_in_reader(
            std::io::Cursor::new(copy.bytes),
            copy_header,
            targets.clone(),
        )
        .await?;
    let names: Vec<&str> = targets.iter().map(|t| t.item.as_str()).collect();
    let note = format!(
        "original kept as received; the edited copy is message {new_id}, sent to {}",
        names.join(", ")
    );
    cx.messages.route(id, me, &[], &note)?;
    Ok(())
}
