//! A running `wasm` process: its plugin, loaded once, routing one message per call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::plugin::cache::ComponentCache;
use crate::plugin::{CallError, Decision, MessageHeader, Plugin, PluginError};

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
        let header = MessageHeader {
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
        tracing::debug!(process = %self.item, message = %request.message_id, ?decision, "routed");
        Ok(decision)
    }
}
