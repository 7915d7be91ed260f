//! TLS settings that follow their files: each new connection gets the
//! settings the files make now. A change that does not make valid settings
//! (a key written before its certificate, a typo) keeps the previous ones
//! and is logged once.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use tracing::{info, warn};

use super::TlsFileError;

/// What tells a file's versions apart: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

/// Settings of type `T`, rebuilt from `files` when one of them changes.
pub struct Reloading<T> {
    files: Vec<PathBuf>,
    build: Box<dyn Fn() -> Result<T, TlsFileError> + Send + Sync>,
    /// The stamps last seen, and the settings in use.
    state: Mutex<(Vec<Stamp>, T)>,
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

impl<T: Clone> Reloading<T> {
    /// The settings `build` makes from `files` now.
    ///
    /// # Errors
    /// When they make none: at start there is nothing to fall back on.
    pub fn new(
        files: Vec<PathBuf>,
        build: impl Fn() -> Result<T, TlsFileError> + Send + Sync + 'static,
    ) -> Result<Self, TlsFileError> {
        let seen = stamps(&files);
        let settings = build()?;
        Ok(Self {
            files,
            build: Box::new(build),
            state: Mutex::new((seen, settings)),
        })
    }

    /// The settings for a new connection: rebuilt first if a file changed.
    pub fn current(&self) -> T {
        let now = stamps(&self.files);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now != state.0 {
            state.0 = now;
            match (self.build)() {
                Ok(settings) => {
                    info!(files = ?self.files, "TLS files changed; new connections use them.");
                    state.1 = settings;
                }
                Err(error) => warn!(
                    %error,
                    "TLS files changed but do not make valid settings; new connections keep the previous ones."
                ),
            }
        }
        state.1.clone()
    }
}
