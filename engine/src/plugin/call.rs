//! A loaded plugin and one bounded call into it per message.
//!
//! Instances are pre-linked once ([`RouterPre`], or [`QueryRouterPre`] for a
//! plugin with the query hook) and kept warm: each call takes an
//! initialised instance from a small idle pool (or makes one), runs `route`
//! (or `query`, `filter-match`) under an epoch deadline and a memory cap,
//! and puts the instance back. An instance that traps, overruns its deadline or hits the memory cap
//! is thrown away, so a failure never leaks into the next message. Set
//! [`CallOptions::fresh_instance_per_call`] to instantiate (and `init`) per
//! call instead: full isolation between messages, at the cost measured in
//! the benchmark `plugin_call`.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::{Router, RouterPre};
use super::cache::ComponentCache;
use super::engine::{PluginEngine, ticks_for};
use super::error::{CallError, PluginError};
use super::host::{AttributeSource, CallBudget, HostState};
use super::query_bindings::{QueryRouter, QueryRouterPre};
use super::{
    CONTRACT_MAJOR, CONTRACT_PACKAGE, Decision, Forward, MatchDecision, MessageHeader,
    QueryDecision, QueryHeader,
};

/// Limits of each call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOptions {
    /// Budget of one `route` call (default 10 ms): CPU time on the calling
    /// thread, so preemption on a busy machine does not count, with a
    /// wall-clock backstop of ten times that (at least 1 s).
    pub deadline: Duration,
    /// Budget of `init` (default 1 s: it parses the configuration once).
    pub init_deadline: Duration,
    /// Most linear memory an instance may use (default 16 MiB).
    pub max_memory_bytes: usize,
    /// Instantiate and `init` for every call instead of reusing instances.
    pub fresh_instance_per_call: bool,
    /// Most initialised instances kept idle between calls.
    pub max_idle_instances: usize,
    /// Most calls running at once; further callers wait for a slot. Keeps
    /// the number of live instances (and their memory) bounded.
    pub max_concurrent_calls: usize,
    /// Refuse a decision naming a target that is not in the header's
    /// `targets` (always on in productions; `plugin run` turns it off when
    /// no targets are given).
    pub check_targets: bool,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            deadline: Duration::from_millis(10),
            init_deadline: Duration::from_secs(1),
            max_memory_bytes: 16 << 20,
            fresh_instance_per_call: false,
            max_idle_instances: 8,
            max_concurrent_calls: 8,
            check_targets: true,
        }
    }
}

/// What a plugin is, as `switchboard plugin check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The contract version it was built for, e.g. "1.0.0".
    pub contract_version: String,
    /// Each export with its functions, e.g. "switchboard:router/plugin@1.0.0: init, route".
    pub exports: Vec<String>,
    /// The contract interfaces it imports.
    pub imports: Vec<String>,
    /// Other imports (WASI, added by the guest toolchain): linked to stubs that trap if called.
    pub ungranted_imports: Vec<String>,
    /// SHA-256 of the `.wasm` bytes.
    pub content_hash: String,
    /// Size of the `.wasm` file in bytes.
    pub size: usize,
}

struct Ready {
    store: Store<HostState>,
    instance: Instance,
}

/// A plugin linked as what it exports.
enum Pre {
    Router(RouterPre<HostState>),
    /// It exports the query hook too.
    QueryRouter(QueryRouterPre<HostState>),
}

enum Instance {
    Router(Router),
    QueryRouter(QueryRouter),
}

/// A loaded, initialised plugin. Share it (`Arc`) between workers.
pub struct Plugin {
    name: Arc<str>,
    engine: PluginEngine,
    pre: Pre,
    config: String,
    options: CallOptions,
    idle: Mutex<Vec<Ready>>,
    slots: Slots,
    info: PluginInfo,
}

/// A counting semaphore for blocking callers.
struct Slots {
    free: Mutex<usize>,
    released: Condvar,
}

impl Slots {
    fn new(n: usize) -> Self {
        Slots {
            free: Mutex::new(n.max(1)),
            released: Condvar::new(),
        }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .released
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *free += 1;
        self.0.released.notify_one();
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("info", &self.info)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Checks the bytes are a component for a contract version this engine
/// supports, and describes it.
///
/// # Errors
/// A corrupt file, a component that is not a plugin, or an unknown major version.
pub fn inspect(
    cache: &ComponentCache,
    wasm: &[u8],
) -> Result<(Component, PluginInfo), PluginError> {
    let (component, content_hash) = cache.get(wasm)?;
    let engine = cache.engine().wasmtime();
    let ty = component.component_type();
    let describe = |name: &str, item: &ComponentItem| match item {
        ComponentItem::ComponentInstance(inst) => {
            let funcs: Vec<&str> = inst
                .exports(engine)
                .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
                .map(|(n, _)| n)
                .collect();
            format!("{name}: {}", funcs.join(", "))
        }
        _ => name.to_string(),
    };
    let exports: Vec<(String, String)> = ty
        .exports(engine)
        .map(|(name, item)| (name.to_string(), describe(name, &item.ty)))
        .collect();
    let prefix = format!("{CONTRACT_PACKAGE}/plugin@");
    let Some((export_name, _)) = exports.iter().find(|(n, _)| n.starts_with(&prefix)) else {
        let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
        return Err(PluginError::NotAPlugin {
            exports: if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
        });
    };
    let version = export_name[prefix.len()..].to_string();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok());
    if major != Some(CONTRACT_MAJOR) {
        return Err(PluginError::UnsupportedContract {
            found: version,
            supported: CONTRACT_MAJOR,
        });
    }
    let (imports, ungranted_imports) = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .partition(|n| n.starts_with(&format!("{CONTRACT_PACKAGE}/")));
    let info = PluginInfo {
        contract_version: version,
        exports: exports.into_iter().map(|(_, d)| d).collect(),
        imports,
        ungranted_imports,
        content_hash,
        size: wasm.len(),
    };
    Ok((component, info))
}

impl Plugin {
    /// Reads, checks, links and initialises a plugin file.
    ///
    /// # Errors
    /// See [`Plugin::load`]; also [`PluginError::Read`].
    pub fn load_file(
        cache: &ComponentCache,
        path: &Path,
        config: &str,
        options: CallOptions,
    ) -> Result<Plugin, PluginError> {
        let wasm = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map_or_else(|| "plugin".into(), |s| s.to_string_lossy());
        Plugin::load(cache, &name, &wasm, config, options)
    }

    /// Checks, links and initialises a plugin: `init(config)` runs once here
    /// so configuration errors show up before any message.
    ///
    /// # Errors
    /// [`PluginError`]: invalid component, wrong contract, link failure, or `init` refused.
    pub fn load(
        cache: &ComponentCache,
        name: &str,
        wasm: &[u8],
        config: &str,
        options: CallOptions,
    ) -> Result<Plugin, PluginError> {
        let (component, info) = inspect(cache, wasm)?;
        let engine = cache.engine().clone();
        let link = |e: wasmtime::Error| PluginError::Link {
            reason: format!("{e:#}"),
        };
        let mut linker = Linker::<HostState>::new(engine.wasmtime());
        Router::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s).map_err(link)?;
        stub_ungranted(&mut linker, &component, engine.wasmtime()).map_err(link)?;
        let linked = linker.instantiate_pre(&component).map_err(link)?;
        let hook = format!("{CONTRACT_PACKAGE}/query-hook@{CONTRACT_MAJOR}.");
        let pre = if info.exports.iter().any(|e| e.starts_with(&hook)) {
            Pre::QueryRouter(QueryRouterPre::new(linked).map_err(link)?)
        } else {
            Pre::Router(RouterPre::new(linked).map_err(link)?)
        };
        let plugin = Plugin {
            name: Arc::from(name),
            engine,
            pre,
            config: config.to_string(),
            options: options.clone(),
            idle: Mutex::new(Vec::new()),
            slots: Slots::new(options.max_concurrent_calls),
            info,
        };
        let first = plugin.instantiate().map_err(PluginError::Init)?;
        plugin.put_back(first);
        Ok(plugin)
    }

    /// What the plugin is.
    #[must_use]
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The name used in logs (the file stem).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The call limits.
    #[must_use]
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    fn instantiate(&self) -> Result<Ready, CallError> {
        let mut store = Store::new(
            self.engine.wasmtime(),
            HostState::new(Arc::clone(&self.name), self.options.max_memory_bytes),
        );
        store.limiter(|s| &mut s.limiter);
        // At each deadline, look at the CPU time the call really used:
        // interrupt when it is spent, else extend by what is left.
        store.epoch_deadline_callback(|cx| {
            Ok(match cx.data().budget.remaining() {
                Some(left) => UpdateDeadline::Continue(ticks_for(left)),
                None => UpdateDeadline::Interrupt,
            })
        });
        store.data_mut().budget = CallBudget::start(self.options.init_deadline);
        store.set_epoch_deadline(ticks_for(self.options.init_deadline));
        let instantiated = match &self.pre {
            Pre::Router(pre) => pre.instantiate(&mut store).map(Instance::Router),
            Pre::QueryRouter(pre) => pre.instantiate(&mut store).map(Instance::QueryRouter),
        };
        let instance = match instantiated {
            Ok(i) => i,
            Err(e) => {
                return Err(classify(
                    e,
                    store.data(),
                    self.options.init_deadline,
                    &self.options,
                ));
            }
        };
        let init = match &instance {
            Instance::Router(r) => r
                .switchboard_router_plugin()
                .call_init(&mut store, &self.config),
            Instance::QueryRouter(r) => r
                .switchboard_router_plugin()
                .call_init(&mut store, &self.config),
        };
        match init {
            Ok(Ok(())) => Ok(Ready { store, instance }),
            Ok(Err(message)) => Err(CallError::Plugin(message)),
            Err(e) => Err(classify(
                e,
                store.data(),
                self.options.init_deadline,
                &self.options,
            )),
        }
    }

    fn put_back(&self, ready: Ready) {
        if self.options.fresh_instance_per_call {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.options.max_idle_instances
        {
            idle.push(ready);
        }
    }

    /// Whether the plugin exports the query hook (contract 1.1.0 and later).
    #[must_use]
    pub fn has_query_hook(&self) -> bool {
        matches!(self.pre, Pre::QueryRouter(_))
    }

    /// Routes one message. Any failure affects this call only.
    ///
    /// # Errors
    /// [`CallError`]: the plugin's error, a trap, a timeout, out of memory,
    /// an invalid decision or a host error reading the data set.
    pub fn route(
        &self,
        header: &MessageHeader,
        source: Arc<dyn AttributeSource>,
    ) -> Result<Decision, CallError> {
        let decision = self.call(
            &header.message_id,
            source,
            |instance, store| match instance {
                Instance::Router(r) => r.switchboard_router_plugin().call_route(store, header),
                Instance::QueryRouter(r) => r.switchboard_router_plugin().call_route(store, header),
            },
        )?;
        if self.options.check_targets {
            validate(decision, header)
        } else {
            Ok(decision)
        }
    }

    /// Asks the plugin about a query before it goes upstream; `source`
    /// reads its identifier. A plugin without the hook lets it pass.
    ///
    /// # Errors
    /// As [`Plugin::route`].
    pub fn query(
        &self,
        header: &QueryHeader,
        source: Arc<dyn AttributeSource>,
    ) -> Result<QueryDecision, CallError> {
        self.call(&header.query_id, source, |instance, store| match instance {
            Instance::Router(_) => Ok(Ok(QueryDecision::Ask(Vec::new()))),
            Instance::QueryRouter(r) => r.switchboard_router_query_hook().call_query(store, header),
        })
    }

    /// Asks the plugin about one match before it goes to the requester;
    /// `source` reads the match. A plugin without the hook keeps it.
    ///
    /// # Errors
    /// As [`Plugin::route`].
    pub fn filter_match(
        &self,
        header: &QueryHeader,
        source: Arc<dyn AttributeSource>,
    ) -> Result<MatchDecision, CallError> {
        self.call(&header.query_id, source, |instance, store| match instance {
            Instance::Router(_) => Ok(Ok(MatchDecision::Keep(Vec::new()))),
            Instance::QueryRouter(r) => r
                .switchboard_router_query_hook()
                .call_filter_match(store, header),
        })
    }

    /// One bounded call on a warm instance (or a new one); an instance that
    /// failed is dropped.
    fn call<T>(
        &self,
        id: &str,
        source: Arc<dyn AttributeSource>,
        f: impl FnOnce(&Instance, &mut Store<HostState>) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, CallError> {
        let _slot = self.slots.acquire();
        let taken = if self.options.fresh_instance_per_call {
            None
        } else {
            self.idle.lock().ok().and_then(|mut idle| idle.pop())
        };
        let mut ready = match taken {
            Some(r) => r,
            None => self.instantiate().map_err(|e| match e {
                CallError::Plugin(m) => CallError::Instantiate(format!("init failed: {m}")),
                other => other,
            })?,
        };
        {
            let state = ready.store.data_mut();
            state.reset();
            state.message_id.push_str(id);
            state.source = Some(source);
        }
        ready.store.data_mut().budget = CallBudget::start(self.options.deadline);
        ready
            .store
            .set_epoch_deadline(ticks_for(self.options.deadline));
        let result = f(&ready.instance, &mut ready.store);
        ready.store.data_mut().source = None;
        match result {
            Ok(Ok(value)) => {
                self.put_back(ready);
                Ok(value)
            }
            Ok(Err(message)) => {
                self.put_back(ready);
                Err(CallError::Plugin(message))
            }
            // The instance may be in any state now: drop it.
            Err(e) => Err(classify(
                e,
                ready.store.data(),
                self.options.deadline,
                &self.options,
            )),
        }
    }
}

/// Links the imports outside the contract (WASI, which the guest toolchain
/// adds) to stubs that trap if called: nothing is granted. The contract's
/// own imports are left to the linker, which resolves an older 1.x name
/// (`host@1.0.0`) to this engine's (`host@1.1.0`); a stub under the older
/// name would shadow it.
fn stub_ungranted(
    linker: &mut Linker<HostState>,
    component: &Component,
    engine: &wasmtime::Engine,
) -> wasmtime::Result<()> {
    let contract = format!("{CONTRACT_PACKAGE}/");
    for (name, import) in component.component_type().imports(engine) {
        if name.starts_with(&contract) {
            continue;
        }
        match import.ty {
            ComponentItem::ComponentInstance(instance) => {
                let mut stubs = linker.instance(name)?;
                for (export, item) in instance.exports(engine) {
                    match item.ty {
                        ComponentItem::ComponentFunc(_) => {
                            let what = format!("{name}#{export}");
                            stubs.func_new(export, move |_, _, _, _| {
                                wasmtime::bail!("{what} is not granted to plugins")
                            })?;
                        }
                        ComponentItem::Resource(_) => {
                            stubs.resource(
                                export,
                                wasmtime::component::ResourceType::host::<()>(),
                                |_, _| Ok(()),
                            )?;
                        }
                        _ => {}
                    }
                }
            }
            ComponentItem::ComponentFunc(_) => {
                let what = name.to_string();
                linker.root().func_new(name, move |_, _, _, _| {
                    wasmtime::bail!("{what} is not granted to plugins")
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn classify(
    e: wasmtime::Error,
    state: &HostState,
    deadline: Duration,
    options: &CallOptions,
) -> CallError {
    if state.limiter.exceeded {
        return CallError::OutOfMemory {
            limit_bytes: options.max_memory_bytes,
        };
    }
    if let Some(host) = &state.host_error {
        return CallError::Host(host.clone());
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout {
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        },
        Some(trap) => CallError::Trap {
            reason: trap.to_string(),
            last_log: state.last_error_log.clone(),
        },
        None => CallError::Trap {
            reason: format!("{e}"),
            last_log: state.last_error_log.clone(),
        },
    }
}

/// Refuses targets the process does not have; removes duplicate targets.
pub(super) fn validate(decision: Decision, header: &MessageHeader) -> Result<Decision, CallError> {
    match decision {
        Decision::Drop(reason) => Ok(Decision::Drop(reason)),
        Decision::Forward(Forward { targets, edits }) => {
            let mut unique: Vec<String> = Vec::with_capacity(targets.len());
            for t in targets {
                if !header.targets.contains(&t) {
                    let known = if header.targets.is_empty() {
                        "none".to_string()
                    } else {
                        header.targets.join(", ")
                    };
                    return Err(CallError::InvalidDecision(format!(
                        "unknown target \"{t}\" (this process's targets: {known})"
                    )));
                }
                if !unique.contains(&t) {
                    unique.push(t);
                }
            }
            Ok(Decision::Forward(Forward {
                targets: unique,
                edits,
            }))
        }
    }
}
