//! The engine's state as `switchboard status` shows it: every production and
//! item with its state and queue depth, the queues of items that do not run,
//! and the last reload error. Only a running engine can answer: the admin
//! server asks its [`EngineState`], which the runtime provides.

use serde::{Deserialize, Serialize};

use crate::ids::NamespaceId;

/// Something that can describe the running engine. The runtime implements
/// it; the admin server calls it (from a blocking thread: it may read queue
/// depths from the store).
pub trait EngineState: Send + Sync + 'static {
    /// The state right now.
    fn status(&self) -> EngineStatus;

    /// Messages were queued for these items of a namespace (a resend):
    /// their queue readers look at once instead of at their next rescan.
    fn queued(&self, namespace: &NamespaceId, targets: &[crate::message::ItemAddress]);

    /// The file of a running production, as it is on disk now.
    ///
    /// # Errors
    /// No such production runs, or its file cannot be read.
    fn production_file(
        &self,
        namespace: &NamespaceId,
        name: &str,
    ) -> Result<ProductionFile, String>;

    /// What saving `text` as a running production's file would change
    /// (the reload plan), or every error of `text`. Writes nothing.
    ///
    /// # Errors
    /// No such production runs.
    fn check_production(
        &self,
        namespace: &NamespaceId,
        name: &str,
        text: &str,
    ) -> Result<ProductionCheck, String>;

    /// Checks `text` and, only when it has no error, writes it to the
    /// production's file (atomically), where the reloader picks it up.
    ///
    /// # Errors
    /// No such production runs, or the file cannot be written; a text with
    /// errors is not an error: it comes back in the check, unwritten.
    fn save_production(
        &self,
        namespace: &NamespaceId,
        name: &str,
        text: &str,
    ) -> Result<ProductionCheck, String>;
}

/// A production file and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionFile {
    pub file: String,
    pub text: String,
}

/// What a production file's new text would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionCheck {
    pub file: String,
    /// Every error of the text (one line each); empty when it is valid.
    pub errors: Vec<String>,
    /// When valid: one line per item added, changed or removed
    /// (`add operation ARCHIVE`), and whether association seeds changed.
    pub changes: Vec<String>,
    /// Whether the text was written to the file.
    #[serde(default)]
    pub saved: bool,
}

/// Answer of [`Request::Status`](super::Request::Status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    /// The productions folder the engine runs.
    pub productions_dir: String,
    /// Whether file changes are picked up while running (`--watch`).
    pub watching: bool,
    /// Running productions, by namespace and name.
    pub productions: Vec<ProductionStatus>,
    /// Production files that do not run because they have errors and no
    /// earlier version of them runs.
    #[serde(default)]
    pub rejected_files: Vec<RejectedFile>,
    /// Queues holding messages for items that do not run (removed from
    /// their production, or their production is not running). They are
    /// delivered when the item comes back.
    #[serde(default)]
    pub waiting_queues: Vec<WaitingQueue>,
    /// The last reload, if any happened since start.
    #[serde(default)]
    pub last_reload: Option<ReloadSummary>,
    /// What was set aside because it could not be read.
    #[serde(default)]
    pub quarantine: QuarantineSummary,
    /// Set once a sync to disk failed: why the engine acknowledges and
    /// stores nothing more until it is restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusing_writes: Option<String>,
}

/// How much is in quarantine (`switchboard quarantine list` shows it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineSummary {
    pub folder: String,
    /// Body files whose trailer could not be read.
    pub bodies: usize,
    /// Store records that could not be decoded.
    pub records: usize,
}

/// One running production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionStatus {
    pub namespace: NamespaceId,
    pub name: String,
    /// The file it was read from.
    pub file: String,
    pub items: Vec<ItemStatus>,
    /// Why the last change of its file was not applied (the running version
    /// is the previous one), if it was not.
    #[serde(default)]
    pub last_reload_error: Option<String>,
}

/// One item of a running production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemStatus {
    pub name: String,
    /// `service`, `process` or `operation`.
    pub kind: String,
    /// The item kind's `type` (`dicom-tcp`, `pass-through`, …).
    #[serde(rename = "type")]
    pub kind_type: String,
    pub state: ItemState,
    /// Deliveries waiting in its queue (queued or in flight).
    pub queue_depth: usize,
    /// When the oldest of them arrived (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_queued_ms: Option<u64>,
    /// The address a listening service is bound to.
    #[serde(default)]
    pub listening: Option<String>,
    /// How many times it ended unexpectedly and was started again.
    #[serde(default)]
    pub failures: u32,
    /// Why it ended the last time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// Its messages since the engine started.
    #[serde(default)]
    pub messages: ItemMessages,
}

/// An item's messages since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemMessages {
    /// Taken in (a service), or queued for it (a process or operation).
    pub received: u64,
    /// Delivered (an operation) or routed on (a process).
    pub delivered: u64,
    /// Failed for good.
    pub failed: u64,
}

/// Whether an item's task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Running,
    /// Its task ended although nobody stopped it; it is started again after
    /// a pause.
    Restarting,
    /// Its task ended and it is not started again.
    Stopped,
}

impl std::fmt::Display for ItemState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Stopped => "stopped",
        })
    }
}

/// A production file that does not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedFile {
    pub file: String,
    pub errors: Vec<String>,
}

/// A queue whose item does not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingQueue {
    pub namespace: NamespaceId,
    pub production: String,
    pub item: String,
    pub depth: usize,
    /// When the oldest of them arrived (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_queued_ms: Option<u64>,
}

/// What the last reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    /// When it finished, in ms since the Unix epoch.
    pub at_ms: u64,
    pub took_ms: u64,
    /// One line per production touched (`default/echo: +NEW ~PACS`).
    pub changes: Vec<String>,
    /// Errors of the reload (rejected files, items that could not start).
    pub errors: Vec<String>,
}
