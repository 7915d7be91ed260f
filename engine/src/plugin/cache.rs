//! Compile once: components cached in memory and on disk.
//!
//! The key is the SHA-256 of the `.wasm` bytes plus a hash of the engine's
//! `precompile_compatibility_hash` (which covers the wasmtime version and
//! every setting that affects code generation), so a new wasmtime or new
//! settings never load an old artifact. Disk entries are
//! `<dir>/<sha256>-<engine hash>.cwasm`, written atomically (temp file +
//! rename). A disk entry that fails to load is recompiled and replaced.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::engine::PluginEngine;
use super::error::PluginError;

/// Compiled components by content hash.
#[derive(Debug)]
pub struct ComponentCache {
    engine: PluginEngine,
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Component>>,
}

/// The hex SHA-256 of a plugin's bytes (its identity in caches and configs).
#[must_use]
pub fn content_hash(wasm: &[u8]) -> String {
    let digest = Sha256::digest(wasm);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

static SHARED_DIR: OnceLock<PathBuf> = OnceLock::new();
static SHARED: OnceLock<ComponentCache> = OnceLock::new();

/// Sets where the process-wide cache keeps compiled plugins on disk
/// (`<data-dir>/plugin-cache`). Only the first call counts, and only before
/// the cache is first used.
pub fn set_shared_dir(dir: PathBuf) {
    let _already_set = SHARED_DIR.set(dir).is_err();
}

/// The process-wide cache over [`PluginEngine::shared`].
///
/// # Errors
/// When the engine cannot be built.
pub fn shared() -> Result<&'static ComponentCache, PluginError> {
    if let Some(c) = SHARED.get() {
        return Ok(c);
    }
    let cache = ComponentCache::new(PluginEngine::shared()?, SHARED_DIR.get().cloned());
    Ok(SHARED.get_or_init(|| cache))
}

impl ComponentCache {
    /// A cache for `engine`; with `dir`, compiled code is also kept on disk there.
    #[must_use]
    pub fn new(engine: PluginEngine, dir: Option<PathBuf>) -> Self {
        ComponentCache {
            engine,
            dir,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The engine it compiles for.
    #[must_use]
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// The engine part of the key: wasmtime version and code-generation settings.
    #[must_use]
    pub fn engine_key(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .wasmtime()
            .precompile_compatibility_hash()
            .hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// The compiled component for these bytes: from memory, from disk, or compiled now.
    ///
    /// # Errors
    /// [`PluginError::InvalidComponent`] when the bytes are not a component.
    pub fn get(&self, wasm: &[u8]) -> Result<(Component, String), PluginError> {
        let hash = content_hash(wasm);
        if let Some(c) = self.memory.lock().ok().and_then(|m| m.get(&hash).cloned()) {
            return Ok((c, hash));
        }
        let disk_path = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{hash}-{}.cwasm", self.engine_key())));
        let component = match disk_path.as_deref().and_then(|p| self.load_from_disk(p)) {
            Some(c) => c,
            None => {
                let c = Component::new(self.engine.wasmtime(), wasm).map_err(|e| {
                    PluginError::InvalidComponent {
                        reason: one_line(&format!("{e:#}")),
                    }
                })?;
                if let Some(p) = &disk_path {
                    store_on_disk(&c, p);
                }
                c
            }
        };
        if let Ok(mut m) = self.memory.lock() {
            m.insert(hash.clone(), component.clone());
        }
        Ok((component, hash))
    }

    #[allow(unsafe_code)]
    fn load_from_disk(&self, path: &Path) -> Option<Component> {
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file is one we wrote with `Component::serialize` under a
        // name that includes this engine's compatibility hash, in the data
        // directory only this engine's user can write; wasmtime still checks
        // its header and version and returns an error for anything else.
        match unsafe { Component::deserialize_file(self.engine.wasmtime(), path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled plugin; recompiling");
                None
            }
        }
    }
}

fn store_on_disk(component: &Component, path: &Path) {
    let result = (|| -> std::io::Result<()> {
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled plugin cache");
    }
}

/// wasmtime's parse errors can span lines (byte dumps); keep them on one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
