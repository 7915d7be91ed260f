//! One wasmtime engine per process, with the epoch ticker that enforces
//! per-call deadlines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::error::PluginError;

/// How long one epoch tick lasts: deadlines are counted in ticks.
pub const TICK: Duration = Duration::from_millis(1);

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Use wasmtime's pooling allocator (pre-reserved slots, faster
    /// instantiation). With pooling, no plugin may use more than
    /// `pool_max_memory_bytes` of memory.
    pub pooling: bool,
    /// Slots in the pool (instances alive at once, all plugins together).
    pub pool_instances: u32,
    /// Largest memory a pooled instance can have.
    pub pool_max_memory_bytes: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pooling: false,
            pool_instances: 256,
            pool_max_memory_bytes: 64 << 20,
        }
    }
}

/// The process's wasmtime engine. Cloning is cheap; the ticker thread stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    options: EngineOptions,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl PluginEngine {
    /// Builds an engine and starts its epoch ticker.
    ///
    /// # Errors
    /// When wasmtime refuses the configuration (e.g. no virtual memory for the pool).
    pub fn new(options: EngineOptions) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        if options.pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(options.pool_instances)
                .total_core_instances(options.pool_instances.saturating_mul(4))
                .total_memories(options.pool_instances.saturating_mul(2))
                .total_tables(options.pool_instances.saturating_mul(4))
                .max_memory_size(options.pool_max_memory_bytes);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| PluginError::Link {
            reason: format!("cannot create the wasmtime engine: {e}"),
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), Arc::clone(&stop)).map_err(|e| PluginError::Link {
            reason: format!("cannot start the epoch ticker thread: {e}"),
        })?;
        Ok(PluginEngine {
            inner: Arc::new(Inner {
                engine,
                options,
                stop,
            }),
        })
    }

    /// The engine shared by the whole process (default options), built on first use.
    ///
    /// # Errors
    /// When the engine cannot be built (see [`PluginEngine::new`]).
    pub fn shared() -> Result<PluginEngine, PluginError> {
        static SHARED: OnceLock<PluginEngine> = OnceLock::new();
        if let Some(e) = SHARED.get() {
            return Ok(e.clone());
        }
        let engine = PluginEngine::new(EngineOptions::default())?;
        Ok(SHARED.get_or_init(|| engine).clone())
    }

    /// The wasmtime engine.
    #[must_use]
    pub fn wasmtime(&self) -> &Engine {
        &self.inner.engine
    }

    /// The options it was built with.
    #[must_use]
    pub fn options(&self) -> &EngineOptions {
        &self.inner.options
    }
}

/// Converts a deadline into epoch ticks (at least one).
#[must_use]
pub fn ticks_for(deadline: Duration) -> u64 {
    let ticks = deadline.as_micros() / TICK.as_micros().max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("plugin-epoch".to_string())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
}

/// CPU time this thread has used so far (wall-clock time where the platform
/// offers no per-thread clock).
#[must_use]
pub fn thread_cpu_time() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID
        // is supported on every Unix we build for, and a failure leaves `ts`
        // zeroed, which only makes the budget look unused.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
            let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
            return Duration::new(secs, nanos);
        }
    }
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}
