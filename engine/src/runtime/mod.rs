//! The running engine: opens the store, serves the admin socket, starts
//! every production and stops them all on shutdown.
//!
//! - [`topology`]: build/start/stop a production or a diff of it.
//! - [`controller`]: the sole owner of running productions (startup, reload,
//!   shutdown).
//! - [`watch`]: the productions-folder watcher (hot reload).
//! - [`reload`]: hot reload: reads the folder on every change (and on a
//!   periodic rescan), feeds the controller, and keeps the status board;
//!   [`plan`]: which version of each production runs.
//! - [`status`]: what `switchboard status` shows.
//! - [`supervise`]: items whose task ends on its own are started again.
//!
//! Shutdown is a token tree: root → namespace → production → item →
//! association (inside the SCP). `run` takes the shutdown trigger as a
//! future so that tests can pass their own.

pub(crate) mod controller;
pub(crate) mod health;
pub(crate) mod plan;
pub(crate) mod reload;
pub(crate) mod status;
pub(crate) mod supervise;
pub(crate) mod topology;
pub(crate) mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::message::MessageError;
use crate::store::retention::{Retention, RetentionPolicy};
use crate::store::{Bodies, GroupCommit, Health, Store, StoreError, recover};
pub use controller::{Controller, ReloadOutcome};
pub use reload::{ReloadOptions, Reloader, Trigger};
pub use status::StatusBoard;
pub use topology::{Shared, Wakers};

/// How `switchboard run` runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub data_dir: PathBuf,
    pub productions_dir: PathBuf,
    /// How long open work may take to finish on shutdown.
    pub grace_period: Duration,
    /// When bodies of delivered messages are removed.
    pub retention: RetentionPolicy,
    /// Bytes that must stay free on the data directory's file system:
    /// below it new messages are refused (0: no check).
    pub min_free_space: u64,
    /// How file changes are picked up while running.
    pub reload: ReloadOptions,
    /// Where the management portal listens, when it is served.
    pub portal: Option<std::net::SocketAddr>,
    /// The portal's HTTPS certificate and key, when it serves HTTPS.
    pub portal_tls: Option<crate::portal::PortalTls>,
}

/// Why the engine could not run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Portal(#[from] crate::portal::PortalError),
    #[error(transparent)]
    Messages(#[from] MessageError),
    #[error("cannot prepare the body folders in {path}: {source}")]
    Bodies {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the productions folder {0} does not exist")]
    NoProductions(PathBuf),
}

/// Runs the engine until `shutdown` completes, then stops every production
/// within the grace period and returns.
///
/// # Errors
/// [`RuntimeError`] when the store cannot be opened (e.g. another engine
/// holds the data directory) or the productions folder is missing. Invalid
/// production files are logged and skipped: the others run.
pub async fn run(
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let (_keep, control) = tokio::sync::mpsc::channel(1);
    run_with_control(options, shutdown, control).await
}

/// What the running engine can be asked to do besides stopping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Read the productions folder again and apply it, even if no file
    /// changed (SIGHUP): also retries items that failed to start.
    Reload,
}

/// [`run`], also taking [`Control`] requests.
///
/// # Errors
/// As [`run`].
pub async fn run_with_control(
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
    control: tokio::sync::mpsc::Receiver<Control>,
) -> Result<(), RuntimeError> {
    if !options.productions_dir.is_dir() {
        return Err(RuntimeError::NoProductions(options.productions_dir));
    }
    let store = Store::open(&options.data_dir)?;
    let bodies = store
        .bodies()
        .map_err(|source| RuntimeError::Bodies {
            path: options.data_dir.clone(),
            source,
        })?
        .with_free_space_floor(options.min_free_space);
    let commit = GroupCommit::spawn(store.clone(), bodies.clone());
    recover::restore_missing(&store, &bodies)?;
    for ns in store.message_namespaces() {
        let n = store.messages(&ns)?.requeue_in_flight()?;
        if n > 0 {
            info!(namespace = %ns, count = n, "Deliveries left in flight by the previous run are queued again.");
        }
    }

    let root = CancellationToken::new();
    let wakers = Wakers::default();
    let board = StatusBoard::new(
        store.clone(),
        wakers.clone(),
        &options.productions_dir,
        options.reload.watch,
    );
    let admin_path = crate::admin::socket_path(&options.data_dir);
    let admin = {
        let store = store.clone();
        let token = root.clone();
        let engine: Arc<dyn crate::admin::EngineState> = Arc::new(board.clone());
        tokio::spawn(async move {
            let served = match crate::admin::AdminServer::bind(&admin_path, store) {
                Ok(server) => {
                    server
                        .with_engine(engine)
                        .run(token.cancelled_owned())
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = served {
                error!(error = %e, "The admin socket stopped; commands cannot reach this engine.");
            }
        })
    };
    if let Some(address) = options.portal {
        let engine: Arc<dyn crate::admin::EngineState> = Arc::new(board.clone());
        let portal = crate::portal::Portal::bind(
            address,
            options.portal_tls.as_ref(),
            &options.data_dir,
            crate::admin::InProcess::new(store.clone(), engine),
        )
        .await?;
        info!(url = %portal.login_url(), "Portal: log in at this URL (also in portal.token in the data directory).");
        let token = root.clone();
        tokio::spawn(async move {
            if let Err(e) = portal.run(token.cancelled_owned()).await {
                error!(error = %e, "The portal stopped.");
            }
        });
    }
    tokio::spawn(retain(
        store.clone(),
        bodies.clone(),
        options.retention,
        root.clone(),
    ));
    tokio::spawn(heal(
        store.clone(),
        bodies.clone(),
        wakers.clone(),
        root.clone(),
    ));
    let shared = Shared {
        store: store.clone(),
        bodies,
        commit,
        wakers,
        grace: options.grace_period,
        listeners: crate::component::Listeners::default(),
        retrieves: crate::component::retrieves::Retrieves::default(),
        cut_throughs: crate::component::cut_through::CutThroughs::default(),
    };
    let controller = Controller::new(shared, root.clone());
    let mut reloader = Reloader::new(
        options.productions_dir.clone(),
        controller,
        board,
        options.reload.clone(),
    );
    let rejected = reloader.start().await;
    if rejected > 0 {
        warn!(
            files = rejected,
            "Production files with errors are not started; the others are."
        );
    }
    info!(productions = reloader.controller().running().count(), data_dir = %options.data_dir.display(), "Engine running.");

    let controller = reloader.run(shutdown, control).await;
    info!(grace_period = ?options.grace_period, "Shutting down: no new associations; finishing work in hand.");
    controller.shutdown(options.grace_period).await;
    root.cancel();
    admin.await.ok();
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.sync()).await.ok();
    info!("Engine stopped.");
    Ok(())
}

/// Checks every second that sled still writes, and reopens it when it
/// stopped (after a full disk, see [`Store::heal`]) until `shutdown`. Says
/// once that it failed, and once that it works again.
async fn heal(store: Store, bodies: Bodies, wakers: Wakers, shutdown: CancellationToken) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let (s, b) = (store.clone(), bodies.clone());
        match tokio::task::spawn_blocking(move || s.heal(&b)).await {
            Ok(Ok(Health::Working)) => failing = false,
            Ok(Ok(Health::Reopened(healed))) => {
                info!(
                    restored = healed.restored,
                    requeued = healed.requeued,
                    "The store had stopped writing (sled failed, e.g. on a full disk) and was reopened: it works again."
                );
                failing = false;
                wakers.wake_all();
            }
            Ok(Ok(Health::Waiting(why))) => {
                if !failing {
                    error!(%why, "The store has stopped writing (sled failed, e.g. on a full disk); it is reopened once there is room.");
                }
                failing = true;
            }
            Ok(Err(e)) => {
                if !failing {
                    error!(error = %e, "The store has stopped writing and cannot be reopened yet; trying again every second.");
                }
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Runs retention every minute until `shutdown`.
async fn retain(
    store: Store,
    bodies: Bodies,
    policy: RetentionPolicy,
    shutdown: CancellationToken,
) {
    if policy.max_age.is_none() && policy.max_total_bytes.is_none() {
        return;
    }
    let mut retention = Retention::new(policy);
    loop {
        let (s, b) = (store.clone(), bodies.clone());
        let pass = tokio::task::spawn_blocking(move || {
            let done = retention.pass(&s, &b);
            (retention, done)
        });
        match pass.await {
            Ok((r, done)) => {
                retention = r;
                if let Err(e) = done {
                    warn!(error = %e, "Retention pass failed.");
                }
            }
            Err(e) => {
                warn!(error = %e, "Retention pass failed.");
                retention = Retention::new(policy);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}
