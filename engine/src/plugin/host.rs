//! The one implementation of the WIT imports (`switchboard:router/host`).
//!
//! Per call, the store's [`HostState`] holds the message's
//! [`AttributeSource`]; `attribute` reads go straight to it, so only what the
//! plugin asks for is read. `log` goes to `tracing`, bounded per call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;

use super::bindings::switchboard::router::{host, types};
use super::engine::thread_cpu_time;
use super::{AttributeValue, Level, PathStep};

/// Most log lines one call may write; the rest are counted and dropped.
pub const MAX_LOG_LINES_PER_CALL: u32 = 64;
/// Longest log line kept (bytes); longer lines are cut.
pub const MAX_LOG_LINE_BYTES: usize = 4096;

/// Where a plugin's attribute reads are answered from. The caller implements
/// it over the message's data set, reading lazily.
pub trait AttributeSource: Send + Sync {
    /// Reads `tag` in the item reached by walking `path` (empty: top level).
    ///
    /// # Errors
    /// A text saying why the data set cannot be read; it fails the call.
    fn attribute(&self, path: &[PathStep], tag: u32) -> Result<Option<AttributeValue>, String>;
}

/// A flat map of top-level attributes (tests, benchmarks, headers known up front).
impl AttributeSource for BTreeMap<u32, AttributeValue> {
    fn attribute(&self, path: &[PathStep], tag: u32) -> Result<Option<AttributeValue>, String> {
        Ok(if path.is_empty() {
            self.get(&tag).cloned()
        } else {
            None
        })
    }
}

/// The store data of one plugin instance.
pub(crate) struct HostState {
    pub(crate) plugin: Arc<str>,
    pub(crate) message_id: String,
    pub(crate) source: Option<Arc<dyn AttributeSource>>,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: u32,
    pub(crate) last_error_log: Option<String>,
    pub(crate) host_error: Option<String>,
    pub(crate) budget: CallBudget,
}

/// The time one call may take: CPU time on its thread (so a call that the
/// OS preempts on a busy machine is not failed for it), with a wall-clock
/// backstop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallBudget {
    pub(crate) cpu_start: Duration,
    pub(crate) cpu: Duration,
    pub(crate) wall_start: Instant,
    pub(crate) wall: Duration,
}

impl CallBudget {
    /// Starts a budget of `cpu` CPU time now; the wall-clock backstop is
    /// ten times that, and at least one second.
    pub(crate) fn start(cpu: Duration) -> Self {
        CallBudget {
            cpu_start: thread_cpu_time(),
            cpu,
            wall_start: Instant::now(),
            wall: (cpu * 10).max(Duration::from_secs(1)),
        }
    }

    /// What is left of the CPU budget, or `None` when it is spent (or the backstop passed).
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let used = thread_cpu_time().saturating_sub(self.cpu_start);
        if used >= self.cpu || self.wall_start.elapsed() >= self.wall {
            None
        } else {
            Some(self.cpu - used)
        }
    }
}

impl HostState {
    pub(crate) fn new(plugin: Arc<str>, memory_limit: usize) -> Self {
        HostState {
            plugin,
            message_id: String::new(),
            source: None,
            limiter: MemoryLimiter {
                limit: memory_limit,
                exceeded: false,
            },
            logs: 0,
            last_error_log: None,
            host_error: None,
            budget: CallBudget::start(Duration::ZERO),
        }
    }

    /// Clears what one call left behind.
    pub(crate) fn reset(&mut self) {
        self.message_id.clear();
        self.source = None;
        self.limiter.exceeded = false;
        self.logs = 0;
        self.last_error_log = None;
        self.host_error = None;
    }

    fn read(&mut self, path: &[PathStep], tag: u32) -> wasmtime::Result<Option<AttributeValue>> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        source.attribute(path, tag).map_err(|e| {
            self.host_error = Some(e.clone());
            wasmtime::format_err!("reading the data set: {e}")
        })
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    fn attribute(&mut self, tag: u32) -> wasmtime::Result<Option<AttributeValue>> {
        self.read(&[], tag)
    }

    fn attribute_in(
        &mut self,
        path: Vec<PathStep>,
        tag: u32,
    ) -> wasmtime::Result<Option<AttributeValue>> {
        self.read(&path, tag)
    }

    fn log(&mut self, level: Level, mut text: String) -> wasmtime::Result<()> {
        if text.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        if matches!(level, Level::Error) {
            self.last_error_log = Some(text.clone());
        }
        self.logs = self.logs.saturating_add(1);
        if self.logs > MAX_LOG_LINES_PER_CALL {
            if self.logs == MAX_LOG_LINES_PER_CALL + 1 {
                tracing::warn!(plugin = %self.plugin, message_id = %self.message_id, "plugin log limit reached; dropping further lines of this call");
            }
            return Ok(());
        }
        let (plugin, message_id) = (&*self.plugin, self.message_id.as_str());
        match level {
            Level::Trace => tracing::trace!(plugin, message_id, "{text}"),
            Level::Debug => tracing::debug!(plugin, message_id, "{text}"),
            Level::Info => tracing::info!(plugin, message_id, "{text}"),
            Level::Warn => tracing::warn!(plugin, message_id, "{text}"),
            Level::Error => tracing::error!(plugin, message_id, "{text}"),
        }
        Ok(())
    }
}

/// Caps an instance's linear memory and remembers whether the cap was hit.
pub(crate) struct MemoryLimiter {
    pub(crate) limit: usize,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded (asked for {desired})",
                self.limit
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any router.
        Ok(desired <= 1_000_000)
    }
}
