//! Watches the productions folder and the plugin files productions use, and
//! reports which relevant files changed. It only reports: the reload
//! controller, the sole owner of running productions, decides what to do.
//!
//! The folder is watched, never a single file: editors save by writing a
//! temporary file and renaming it over the original, which would orphan a
//! watch on the file itself. notify-debouncer-full stitches such a save into
//! one event and drops the temporary file's noise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

/// How long the folder must be quiet before a change is reported.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// A watch that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {path}: {source}")]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("cannot resolve {path}: {source}")]
    Resolve {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A batch of changed files, sorted and without duplicates.
pub type Changes = Vec<PathBuf>;

/// Which paths matter: production files and the plugin files in use.
#[derive(Debug, Default)]
struct Filter {
    productions_dir: PathBuf,
    plugin_files: BTreeSet<PathBuf>,
}

impl Filter {
    fn is_relevant(&self, path: &Path) -> bool {
        if self.plugin_files.contains(path) {
            return true;
        }
        let Ok(rel) = path.strip_prefix(&self.productions_dir) else {
            return false;
        };
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if hidden {
            return false;
        }
        match rel.components().count() {
            // a namespace folder appearing or going away
            1 => path.extension().is_none(),
            // productions/<namespace>/<production>.toml
            2 => path.extension().is_some_and(|e| e == "toml"),
            _ => false,
        }
    }
}

/// Whether an event kind can change a file's content or presence. Opening and
/// reading do not; closing a file written to does.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
    }
}

/// Watches a productions folder (recursively) and, on request, the folders
/// holding plugin files. Dropping it stops the watch.
pub struct FileWatcher {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    /// Shared with the debouncer's thread, which filters events with it.
    /// A std mutex: held for a set lookup, never across an await.
    filter: Arc<Mutex<Filter>>,
    /// Folders watched for plugin files (non-recursively).
    plugin_dirs: BTreeSet<PathBuf>,
}

impl std::fmt::Debug for FileWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatcher")
            .field("plugin_dirs", &self.plugin_dirs)
            .finish_non_exhaustive()
    }
}

impl FileWatcher {
    /// Starts watching `productions_dir` (which must exist). Changes arrive
    /// on the returned channel, one batch per quiet period.
    ///
    /// # Errors
    /// [`WatchError`] when the folder cannot be resolved or watched.
    pub fn start(
        productions_dir: &Path,
        debounce: Duration,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Changes>), WatchError> {
        let productions_dir = resolve(productions_dir)?;
        let filter = Arc::new(Mutex::new(Filter {
            productions_dir: productions_dir.clone(),
            plugin_files: BTreeSet::new(),
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        let handler_filter = Arc::clone(&filter);
        // Runs on the debouncer's own thread, so an unbounded send (which
        // never blocks) is the bridge into tokio.
        let handler = move |result: DebounceEventResult| match result {
            Ok(events) => {
                let filter = handler_filter
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let changes: BTreeSet<PathBuf> = events
                    .iter()
                    .filter(|e| is_change(&e.kind))
                    .flat_map(|e| e.paths.iter())
                    .filter(|p| filter.is_relevant(p))
                    .cloned()
                    .collect();
                // The receiver is gone only when the engine is stopping.
                if !changes.is_empty() && tx.send(changes.into_iter().collect()).is_err() {
                    tracing::debug!("File watch outlived its receiver.");
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!(%error, "File watch error.");
                }
            }
        };
        let mut debouncer =
            new_debouncer(debounce, None, handler).map_err(|source| WatchError::Watch {
                path: productions_dir.clone(),
                source,
            })?;
        debouncer
            .watch(&productions_dir, RecursiveMode::Recursive)
            .map_err(|source| WatchError::Watch {
                path: productions_dir.clone(),
                source,
            })?;
        Ok((
            Self {
                debouncer,
                filter,
                plugin_dirs: BTreeSet::new(),
            },
            rx,
        ))
    }

    /// Replaces the set of plugin files to watch. Their folders are watched
    /// (not the files, for the same reason as above); a folder no longer
    /// needed is unwatched. A file that does not exist yet is fine as long as
    /// its folder does.
    ///
    /// # Errors
    /// [`WatchError`] when a folder cannot be resolved or watched; the files
    /// that could be set up stay watched.
    pub fn set_plugin_files(
        &mut self,
        files: impl IntoIterator<Item = PathBuf>,
    ) -> Result<(), WatchError> {
        let mut resolved = BTreeSet::new();
        for file in files {
            let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
                continue;
            };
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            resolved.insert(resolve(dir)?.join(name));
        }
        let dirs: BTreeSet<PathBuf> = resolved
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        let productions_dir = self.productions_dir();
        for dir in dirs.difference(&self.plugin_dirs) {
            // Plugins inside the productions folder are already watched.
            if !dir.starts_with(&productions_dir) {
                self.debouncer
                    .watch(dir, RecursiveMode::NonRecursive)
                    .map_err(|source| WatchError::Watch {
                        path: dir.clone(),
                        source,
                    })?;
            }
        }
        for dir in self.plugin_dirs.difference(&dirs) {
            if !dir.starts_with(&productions_dir) {
                // Already gone (e.g. the folder was deleted): nothing to undo.
                if let Err(error) = self.debouncer.unwatch(dir) {
                    tracing::debug!(dir = %dir.display(), %error, "Plugin folder was not watched.");
                }
            }
        }
        self.plugin_dirs = dirs;
        self.filter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .plugin_files = resolved;
        Ok(())
    }

    fn productions_dir(&self) -> PathBuf {
        self.filter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .productions_dir
            .clone()
    }
}

fn resolve(path: &Path) -> Result<PathBuf, WatchError> {
    path.canonicalize().map_err(|source| WatchError::Resolve {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
