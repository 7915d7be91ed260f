//! Hot reload: keeps the running productions equal to the productions
//! folder while the engine runs.
//!
//! Triggers: a batch of changed paths from the [`FileWatcher`] (production
//! files, namespace folders, plugin files), and a periodic rescan that
//! compares content hashes, as a safety net for events the watcher missed
//! (network filesystems, inotify limits). Either way a reload is the same:
//!
//! 1. read and validate the whole folder ([`read_folder`]);
//! 2. choose which version of each production runs ([`plan()`]): a file that
//!    fails validation, claims a resource another production holds, or
//!    names a port another program holds keeps its production's running
//!    version exactly as it was (or, if none runs, starts nothing);
//! 3. hand the chosen set to the [`Controller`], which applies it as a diff
//!    item by item (unchanged items are not touched; changed and removed
//!    ones stop gracefully; their queues stay in the store) and rolls a
//!    production back when one of its items cannot start.
//!
//! Every production touched logs one line (which production, what changed,
//! how long it took); every rejected file one line (file, line, item,
//! field). The [`StatusBoard`] keeps what `switchboard status` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::Control;
use super::controller::{Controller, ReloadOutcome};
use super::plan::{Plan, held_ports, plan, probe_ports, read_folder};
use super::status::{BoardItem, BoardProduction, StatusBoard};
use super::watch::{Changes, DEFAULT_DEBOUNCE, FileWatcher};
use crate::admin::status::{RejectedFile, ReloadSummary};
use crate::config::load::production_files;
use crate::config::{Production, ProductionId, ProductionsDiff};
use crate::message::now_ms;

/// How often the folder is hashed again when no event came.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(10);

/// How often items whose task ended on their own are looked for.
const SUPERVISION: Duration = Duration::from_secs(1);

/// How changes are picked up while the engine runs.
#[derive(Debug, Clone)]
pub struct ReloadOptions {
    /// Watch the productions folder and plugin files (`--watch`).
    pub watch: bool,
    /// Quiet time before a batch of file events is reported.
    pub debounce: Duration,
    /// Rescan period; `None` turns the rescan off.
    pub rescan: Option<Duration>,
}

impl Default for ReloadOptions {
    fn default() -> Self {
        Self {
            watch: true,
            debounce: DEFAULT_DEBOUNCE,
            rescan: Some(DEFAULT_RESCAN),
        }
    }
}

/// Why a reload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first load, at start.
    Start,
    /// Files changed (watcher or rescan): nothing happens when no content
    /// changed since the last reload.
    Change,
    /// Asked for (SIGHUP): read and apply even if nothing changed, retry
    /// items that failed to start, and log every rejected file again.
    Request,
}

/// Content hash of every production file and plugin file, by path. Not a
/// cryptographic hash: it only tells whether something changed.
pub type Fingerprint = BTreeMap<PathBuf, u64>;

/// The files whose content differs between two fingerprints (changed,
/// added or gone).
fn touched(old: &Fingerprint, new: &Fingerprint) -> BTreeSet<PathBuf> {
    new.iter()
        .filter(|(f, h)| old.get(*f) != Some(h))
        .map(|(f, _)| f.clone())
        .chain(old.keys().filter(|f| !new.contains_key(*f)).cloned())
        .collect()
}

fn fingerprint(dir: &Path, plugins: &BTreeSet<PathBuf>) -> Fingerprint {
    let files = production_files(dir).unwrap_or_default();
    files
        .iter()
        .chain(plugins)
        .filter_map(|f| {
            let bytes = std::fs::read(f).ok()?;
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            Some((f.clone(), h.finish()))
        })
        .collect()
}

/// Owns the controller while the engine runs and keeps it equal to the
/// productions folder.
///
/// Lifecycle: [`Reloader::new`], [`Reloader::start`] (first load), then
/// [`Reloader::run`] until shutdown, which hands the controller back.
#[derive(Debug)]
pub struct Reloader {
    dir: PathBuf,
    controller: Controller,
    board: StatusBoard,
    /// The folder and plugin files as last applied.
    fingerprint: Fingerprint,
    /// Files whose current content could not be started, with the content
    /// hash it failed with: held at their running version until they change.
    failed: BTreeMap<PathBuf, (u64, Vec<String>)>,
    /// Rejections already logged (file → its error lines), so that an
    /// untouched broken file is not logged again on every reload.
    logged: BTreeMap<PathBuf, String>,
    /// The plugin files the running productions use.
    plugins: BTreeSet<PathBuf>,
    /// The last error reading the folder, logged once.
    folder_error: Option<String>,
    /// The files the last reload did not apply, with their errors.
    rejected: BTreeMap<PathBuf, Vec<String>>,
    /// Set while watching; gets the plugin files to watch.
    watcher: Option<FileWatcher>,
    /// The watcher's batches of changed paths, until [`Reloader::run`]
    /// takes them.
    changes: Option<mpsc::UnboundedReceiver<Changes>>,
    options: ReloadOptions,
}

impl Reloader {
    /// A reloader for the folder `dir`, driving `controller`.
    pub fn new(
        dir: PathBuf,
        controller: Controller,
        board: StatusBoard,
        options: ReloadOptions,
    ) -> Self {
        Self {
            changes: None,
            options,
            dir,
            controller,
            board,
            fingerprint: Fingerprint::new(),
            failed: BTreeMap::new(),
            logged: BTreeMap::new(),
            plugins: BTreeSet::new(),
            folder_error: None,
            rejected: BTreeMap::new(),
            watcher: None,
        }
    }

    /// The controller (e.g. to read what runs).
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Starts watching (when asked to), then the first load: starts every
    /// valid production. Returns how many files were rejected. Watching
    /// starts first so that no change after the first read is missed.
    pub async fn start(&mut self) -> usize {
        if self.options.watch {
            match FileWatcher::start(&self.dir, self.options.debounce) {
                Ok((watcher, rx)) => {
                    self.watcher = Some(watcher);
                    self.changes = Some(rx);
                    info!(folder = %self.dir.display(), "Watching the productions folder for changes.");
                }
                Err(e) => {
                    warn!(error = %e, "Cannot watch the productions folder; changes are picked up by the periodic rescan only.");
                }
            }
        }
        self.reload(Trigger::Start).await;
        self.board
            .board
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .rejected
            .len()
    }

    /// Reads the folder again and applies what changed (see [`Trigger`]).
    /// Returns whether anything was read and applied.
    pub async fn reload(&mut self, trigger: Trigger) -> bool {
        let started = Instant::now();
        let fp = {
            let (dir, plugins) = (self.dir.clone(), self.plugins.clone());
            tokio::task::spawn_blocking(move || fingerprint(&dir, &plugins))
                .await
                .unwrap_or_default()
        };
        if trigger == Trigger::Change && fp == self.fingerprint {
            return false;
        }
        if trigger == Trigger::Request {
            self.failed.clear();
            self.logged.clear();
        }
        let touched = touched(&self.fingerprint, &fp);
        let running: Vec<Production> = self
            .controller
            .running()
            .map(|r| r.production.clone())
            .collect();
        let Some(plan) = self.plan(&fp, &running).await else {
            return false;
        };
        let mut errors = self.log_rejections(&plan.rejected, &running);

        let diff = ProductionsDiff::new(&running, &plan.productions);
        let files: BTreeMap<ProductionId, PathBuf> = plan
            .productions
            .iter()
            .map(|p| (p.id.clone(), p.file.clone()))
            .collect();
        let mut failed_ids = BTreeSet::new();
        if let ReloadOutcome::RolledBack(failures) = self.controller.apply(plan.productions).await {
            // Held at the running version until the file changes again.
            for (id, e) in failures {
                let Some(file) = files.get(&id) else { continue };
                let line = format!("{}: {e}", file.display());
                errors.push(line.clone());
                if let Some(hash) = fp.get(file) {
                    self.failed.insert(file.clone(), (*hash, vec![line]));
                }
                failed_ids.insert(id);
            }
        }

        let mut changes: Vec<String> = diff
            .added
            .iter()
            .filter(|id| !failed_ids.contains(*id))
            .map(|id| format!("{id}: started"))
            .chain(
                diff.changed
                    .iter()
                    .filter(|(id, _)| !failed_ids.contains(*id))
                    .map(|(id, d)| format!("{id}: {}", d.summary())),
            )
            .chain(diff.removed.iter().map(|id| format!("{id}: stopped")))
            .collect();
        // A file edited without changing what runs (a comment, the
        // description): still one line, so that the edit is seen.
        if trigger != Trigger::Start {
            for r in self.controller.running() {
                let p = &r.production;
                if diff.unchanged.contains(&p.id)
                    && touched.contains(&p.file)
                    && !plan.rejected.contains_key(&p.file)
                {
                    info!(namespace = %p.id.namespace, production = %p.id.name, changes = "no item changed", took_ms = started.elapsed().as_millis(), "Production reloaded.");
                    changes.push(format!("{}: no item changed", p.id));
                }
            }
            let plugins_touched: Vec<_> = touched.intersection(&self.plugins).collect();
            if !plugins_touched.is_empty() {
                debug!(files = ?plugins_touched, "Plugin files changed.");
            }
        }
        self.fingerprint = fp;
        self.sync_plugins();
        let summary = ReloadSummary {
            at_ms: now_ms(),
            took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            changes,
            errors,
        };
        self.rejected = plan.rejected;
        self.publish(summary, trigger == Trigger::Start);
        true
    }

    /// Reads the folder and chooses what runs ([`super::plan::plan`]). Reading,
    /// validating (which resolves every item: a `wasm` process loads its
    /// plugin and runs its `init`) and probing ports block,
    /// so they run on a blocking thread while everything keeps serving.
    /// `None` when the folder cannot be read (logged once per error).
    async fn plan(&mut self, fp: &Fingerprint, running: &[Production]) -> Option<Plan> {
        self.failed
            .retain(|file, (hash, _)| fp.get(file) == Some(hash));
        let hold: BTreeMap<PathBuf, Vec<String>> = self
            .failed
            .iter()
            .map(|(f, (_, e))| (f.clone(), e.clone()))
            .collect();
        let (dir, running) = (self.dir.clone(), running.to_vec());
        let planned = tokio::task::spawn_blocking(move || {
            let folder = read_folder(&dir).map_err(|e| e.to_string())?;
            let held = held_ports(&running);
            Ok(plan(&running, folder, &hold, &|p| probe_ports(p, &held)))
        })
        .await
        .unwrap_or_else(|e| Err(format!("reading the productions folder failed: {e}")));
        match planned {
            Ok(plan) => {
                self.folder_error = None;
                Some(plan)
            }
            Err(e) => {
                if self.folder_error.as_ref() != Some(&e) {
                    error!(error = %e, "Cannot read the productions folder; what runs is unchanged.");
                    self.folder_error = Some(e);
                }
                None
            }
        }
    }

    /// Logs each rejected file once per set of errors (an untouched broken
    /// file is not logged again on every reload; a new error in it, e.g.
    /// from a replaced plugin, is) and returns the error lines.
    fn log_rejections(
        &mut self,
        rejected: &BTreeMap<PathBuf, Vec<String>>,
        running: &[Production],
    ) -> Vec<String> {
        let mut errors = Vec::new();
        for (file, lines) in rejected {
            let line = lines.join(" | ");
            if self.logged.get(file) != Some(&line) {
                let running = running.iter().any(|p| &p.file == file);
                error!(file = %file.display(), running, error = %line, "Production file rejected; the running version, if any, is kept.");
            }
            errors.push(line);
        }
        self.logged = rejected
            .iter()
            .map(|(f, lines)| (f.clone(), lines.join(" | ")))
            .collect();
        errors
    }

    /// Watches the files the running productions' items use (plugins), and
    /// includes them in the fingerprint.
    fn sync_plugins(&mut self) {
        let plugins: BTreeSet<PathBuf> = self
            .controller
            .running()
            .flat_map(|r| r.production.watched_files())
            .collect();
        if plugins == self.plugins {
            return;
        }
        if let Some(w) = &mut self.watcher
            && let Err(e) = w.set_plugin_files(plugins.iter().cloned())
        {
            warn!(error = %e, "Cannot watch every plugin file; the rescan still sees their changes.");
        }
        self.plugins = plugins;
    }

    /// The running productions and items as the status board shows them.
    fn board_productions(&self) -> Vec<BoardProduction> {
        self.controller
            .running()
            .map(|r| {
                let p = &r.production;
                let error = self
                    .rejected
                    .get(&p.file)
                    .or_else(|| self.failed.get(&p.file).map(|(_, e)| e))
                    .map(|e| e.join(" | "));
                BoardProduction {
                    id: p.id.clone(),
                    file: p.file.clone(),
                    config: p.clone(),
                    items: r
                        .items
                        .iter()
                        .map(|(name, h)| BoardItem {
                            name: name.clone(),
                            kind: h.kind,
                            kind_type: p.item(name).map_or("unknown", |i| i.kind()),
                            task: h.running.task.abort_handle(),
                            listening: h.running.local_addr,
                            failures: h.health.failures,
                            last_failure: h.health.last_failure.clone(),
                            restarting: h.health.restart_at.is_some(),
                        })
                        .collect(),
                    error,
                }
            })
            .collect()
    }

    /// Updates the status board from the controller (the first load is
    /// not a reload: `last_reload` stays empty).
    fn publish(&self, summary: ReloadSummary, first: bool) {
        let productions = self.board_productions();
        let running_files: BTreeSet<&PathBuf> = productions.iter().map(|p| &p.file).collect();
        let not_running: Vec<RejectedFile> = self
            .rejected
            .iter()
            .filter(|(f, _)| !running_files.contains(f))
            .map(|(f, e)| RejectedFile {
                file: f.display().to_string(),
                errors: e.clone(),
            })
            .chain(
                self.failed
                    .iter()
                    .filter(|(f, _)| !running_files.contains(f) && !self.rejected.contains_key(*f))
                    .map(|(f, (_, e))| RejectedFile {
                        file: f.display().to_string(),
                        errors: e.clone(),
                    }),
            )
            .collect();
        self.board.update(|b| {
            b.productions = productions;
            b.rejected = not_running;
            if !first {
                b.last_reload = Some(summary);
            }
        });
    }

    /// Starts again the items that ended on their own, and shows it.
    async fn supervise(&mut self) {
        if self.controller.restart_ended().await {
            let productions = self.board_productions();
            self.board.update(|b| b.productions = productions);
        }
    }

    /// Reloads on every batch of file changes, every rescan period and
    /// every [`Control::Reload`] until `shutdown` completes, then hands the
    /// controller back for the shutdown.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
        mut control: mpsc::Receiver<Control>,
    ) -> Controller {
        let mut changes = self.changes.take();
        let mut supervision = tokio::time::interval(SUPERVISION);
        supervision.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rescan = self.options.rescan.map(|period| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                batch = recv(&mut changes) => match batch {
                    Some(paths) => {
                        debug!(paths = ?paths, "Files changed.");
                        // Events that arrived during the reload are in the
                        // fingerprint already; one more pass is cheap.
                        self.reload(Trigger::Change).await;
                    }
                    None => {
                        warn!("The file watcher stopped; changes are picked up by the periodic rescan only.");
                        changes = None;
                    }
                },
                Some(request) = control.recv() => match request {
                    Control::Reload => {
                        info!("Reload requested: reading the productions folder again.");
                        self.reload(Trigger::Request).await;
                    }
                },
                _ = supervision.tick() => self.supervise().await,
                () = tick(&mut rescan) => {
                    if self.reload(Trigger::Change).await && changes.is_some() {
                        info!("The periodic rescan found a change the watcher had not reported.");
                    }
                }
            }
        }
        drop(self.watcher.take());
        self.controller
    }
}

async fn recv(rx: &mut Option<mpsc::UnboundedReceiver<Changes>>) -> Option<Changes> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
