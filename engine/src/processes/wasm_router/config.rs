//! Configuration of a `wasm` process.
//!
//! ```toml
//! [processes.ROUTER]
//! type = "wasm"
//! plugin = "../../target/wasm32-wasip2/release/route_by_modality.wasm"  # relative to this file
//! config = { routes = { CT = ["CT-ARCHIVE"] }, default = ["ARCHIVE"] }
//! targets = ["CT-ARCHIVE", "ARCHIVE"]
//! timeout_ms = 10            # per message (default 10)
//! max_memory_bytes = 16777216  # per instance (default 16 MiB)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::component::FieldError;
use crate::plugin::CallOptions;

/// Default per-call deadline.
pub const DEFAULT_TIMEOUT_MS: u64 = 10;
/// Default memory cap per instance.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 16 << 20;
/// Largest deadline accepted (a routing decision should never take longer).
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Largest memory cap accepted.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// `type = "wasm"` under `[processes.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmRouterConfig {
    /// The plugin file, relative to the production file.
    pub plugin: PathBuf,
    /// The plugin's configuration, passed to its `init` as JSON.
    #[serde(default = "empty_object", deserialize_with = "to_json")]
    pub config: String,
    /// Items the plugin may forward to.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Deadline of one `route` call in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Memory cap of one plugin instance in bytes.
    #[serde(default = "default_memory")]
    pub max_memory_bytes: u64,
    /// SHA-256 of the plugin file, filled in by [`WasmRouterConfig::prepare`]
    /// so that replacing the file counts as a change on reload.
    #[serde(skip_deserializing, default)]
    pub plugin_sha256: String,
}

fn empty_object() -> String {
    "{}".to_string()
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_memory() -> u64 {
    DEFAULT_MAX_MEMORY_BYTES
}

/// Any TOML value (usually a table) becomes its JSON text.
fn to_json<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    let value = serde_json::Value::deserialize(de)?;
    serde_json::to_string(&value).map_err(serde::de::Error::custom)
}

impl WasmRouterConfig {
    /// The plugin path resolved against the folder of the production file.
    #[must_use]
    pub fn plugin_path(&self, production_dir: &Path) -> PathBuf {
        if self.plugin.is_absolute() {
            self.plugin.clone()
        } else {
            production_dir.join(&self.plugin)
        }
    }

    /// The call limits.
    #[must_use]
    pub fn call_options(&self) -> CallOptions {
        CallOptions {
            deadline: Duration::from_millis(self.timeout_ms),
            max_memory_bytes: usize::try_from(self.max_memory_bytes).unwrap_or(usize::MAX),
            ..CallOptions::default()
        }
    }
}

impl WasmRouterConfig {
    /// Checks that need no file.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.plugin.as_os_str().is_empty() {
            errors.push(FieldError::new("plugin", "give the path of a .wasm plugin"));
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            errors.push(FieldError::new(
                "timeout_ms",
                format!(
                    "must be between 1 and {MAX_TIMEOUT_MS}, got {}",
                    self.timeout_ms
                ),
            ));
        }
        if self.max_memory_bytes < 1 << 20 || self.max_memory_bytes > MAX_MEMORY_BYTES {
            errors.push(FieldError::new(
                "max_memory_bytes",
                format!(
                    "must be between 1048576 (1 MiB) and {MAX_MEMORY_BYTES} (1 GiB), got {}",
                    self.max_memory_bytes
                ),
            ));
        }
        errors
    }

    /// Resolves `plugin` against the production file's folder, reads it,
    /// records its hash, and loads it (compiled into the shared cache by
    /// content hash) and runs its `init` with `config`, so a missing or
    /// broken plugin and a refused configuration are reported when the
    /// production is validated, while a running version keeps routing.
    pub fn load_plugin(&mut self, production_dir: &Path) -> Vec<FieldError> {
        let path = self.plugin_path(production_dir);
        self.plugin = std::fs::canonicalize(&path).unwrap_or(path);
        let wasm = match std::fs::read(&self.plugin) {
            Ok(w) => w,
            Err(e) => {
                return vec![FieldError::new(
                    "plugin",
                    format!(
                        "cannot read {}: {e} (build the example plugins with scripts/build-plugins)",
                        self.plugin.display()
                    ),
                )];
            }
        };
        self.plugin_sha256 = crate::plugin::cache::content_hash(&wasm);
        let loaded = crate::plugin::cache::shared().and_then(|cache| {
            crate::plugin::Plugin::load(cache, "validate", &wasm, &self.config, self.call_options())
        });
        match loaded {
            Ok(_) => Vec::new(),
            Err(crate::plugin::PluginError::Init(e)) => vec![FieldError::new(
                "config",
                format!("the plugin refused its config: {e}"),
            )],
            Err(e) => vec![FieldError::new(
                "plugin",
                format!("{}: {e}", self.plugin.display()),
            )],
        }
    }
}
