//! Business processes: routing items between services and operations. The
//! `pass-through` kind hands a message to all its targets; the `wasm` kind
//! lets a routing plugin choose targets, edit the forwarded copy or drop it.
//!
//! Processes never import the runtime: they get an [`ItemContext`].
//!
//! [`ItemContext`]: crate::component::ItemContext

pub mod pass_through;
pub mod wasm_router;

use serde::{Deserialize, Serialize};

use crate::component::{BuildError, ItemContext, RunningItem};
use crate::ids::ItemName;

pub use pass_through::PassThroughConfig;
pub use wasm_router::WasmRouterConfig;

/// Every process kind, by its `type` in the production file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ProcessConfig {
    PassThrough(PassThroughConfig),
    Wasm(WasmRouterConfig),
}

impl ProcessConfig {
    /// The `type` values, for error messages.
    pub const KINDS: &'static [&'static str] = &["pass-through", "wasm"];

    /// Reads the kind's own fields (the `type` key already removed); `None`
    /// for an unknown kind. See [`crate::services::ServiceConfig::deserialize_kind`].
    pub fn deserialize_kind<'de, D: serde::Deserializer<'de>>(
        kind: &str,
        de: D,
    ) -> Option<Result<Self, D::Error>> {
        Some(match kind {
            "pass-through" => PassThroughConfig::deserialize(de).map(Self::PassThrough),
            "wasm" => WasmRouterConfig::deserialize(de).map(Self::Wasm),
            _ => return None,
        })
    }

    /// The `type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PassThrough(_) => "pass-through",
            Self::Wasm(_) => "wasm",
        }
    }

    /// Where messages may go.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Self::PassThrough(c) => c.targets.iter().map(ItemName::as_str).collect(),
            Self::Wasm(c) => c.targets.iter().map(String::as_str).collect(),
        }
    }

    /// Builds and starts the process.
    ///
    /// # Errors
    /// [`BuildError`].
    pub async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        match self {
            Self::PassThrough(c) => Ok(pass_through::process::spawn(c.clone(), cx)),
            Self::Wasm(c) => wasm_router::process::spawn(c.clone(), cx).await,
        }
    }

    /// Kind-specific checks: (field, message) pairs.
    pub fn check(&self) -> Vec<(String, String)> {
        match self {
            Self::PassThrough(_) => Vec::new(),
            Self::Wasm(c) => c.check(),
        }
    }

    /// Checks that need the production file's folder (a `wasm` process
    /// loads its plugin and runs `init`); may fill in resolved values.
    /// (field, message) pairs.
    pub fn prepare(&mut self, production_dir: &std::path::Path) -> Vec<(String, String)> {
        match self {
            Self::PassThrough(_) => Vec::new(),
            Self::Wasm(c) => c.prepare(production_dir),
        }
    }
}
