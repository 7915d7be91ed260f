//! The listening side of the SCP: bind the port, accept connections, give
//! each its [`Association`] task under the listener's [`Admission`] (a
//! handshake budget, then one of `max_associations` slots once a valid
//! A-ASSOCIATE-RQ came; past the limit a transient rejection), and on
//! shutdown stop accepting, let open associations finish within the grace
//! period and abort the rest.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use super::admission::{Admission, handshake_budget};
use super::association::{Association, Shared};
use super::config::{DicomScpConfig, DicomScpConfigError};
use super::hooks::ScpContext;
use crate::association::model::AeTitle;
use crate::dimse::tls::{Reloading, ServerTls};

/// Why the SCP could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScpError {
    #[error("invalid settings: {}", .0.iter().map(|e| format!("{}: {e}", e.field())).collect::<Vec<_>>().join("; "))]
    Config(Vec<DicomScpConfigError>),
    #[error("could not listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("tls: {0}")]
    Tls(#[from] crate::dimse::tls::TlsFileError),
    #[error("could not create the spool directory {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A bound DICOM SCP, ready to run.
///
/// Lifecycle: [`DicomScp::bind`] claims the port (so a conflict is reported
/// before anything starts); [`DicomScp::run`] serves until the shutdown
/// token fires, then stops accepting, lets open associations finish within
/// the grace period, and aborts those still open.
pub struct DicomScp {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DicomScp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicomScp")
            .field("local_addr", &self.local_addr)
            .field("name", &self.shared.cx.name)
            .finish_non_exhaustive()
    }
}

impl DicomScp {
    /// Validates the settings, creates the spool directory and binds the port.
    ///
    /// # Errors
    /// [`ScpError`].
    pub async fn bind(config: DicomScpConfig, cx: ScpContext) -> Result<Self, ScpError> {
        config.validate().map_err(ScpError::Config)?;
        let address = config.socket_addr();
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| ScpError::Bind { address, source })?;
        Self::with_listener(config, cx, listener).await
    }

    /// Like [`DicomScp::bind`], on a socket already listening (e.g. taken
    /// over from the previous version of this service on a reload, so that
    /// connections arriving meanwhile wait in its backlog). The socket must
    /// be in non-blocking mode.
    ///
    /// # Errors
    /// [`ScpError`].
    pub async fn from_std(
        config: DicomScpConfig,
        cx: ScpContext,
        listener: std::net::TcpListener,
    ) -> Result<Self, ScpError> {
        config.validate().map_err(ScpError::Config)?;
        let address = config.socket_addr();
        let listener =
            TcpListener::from_std(listener).map_err(|source| ScpError::Bind { address, source })?;
        Self::with_listener(config, cx, listener).await
    }

    async fn with_listener(
        config: DicomScpConfig,
        cx: ScpContext,
        listener: TcpListener,
    ) -> Result<Self, ScpError> {
        let address = config.socket_addr();
        tokio::fs::create_dir_all(&cx.spool_dir)
            .await
            .map_err(|source| ScpError::Spool {
                path: cx.spool_dir.clone(),
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ScpError::Bind { address, source })?;
        let served = config.ae_title.to_vec();
        let tls = match config.tls.clone() {
            Some(t) => {
                let mut files = vec![t.certificate.clone(), t.private_key.clone()];
                files.extend(t.client_ca.clone());
                Some(Reloading::new(files, move || {
                    ServerTls::new(&t.certificate, &t.private_key, t.client_ca.as_deref())
                })?)
            }
            None => None,
        };
        Ok(Self {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                admission: Admission::new(
                    config.max_associations,
                    handshake_budget(config.max_associations),
                ),
                config,
                served,
                cx,
                tls,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// The address actually bound (port 0 gets an ephemeral port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` fires; then stops accepting, waits up to
    /// `grace` for open associations, aborts the rest and returns.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        let shared = self.shared;
        let tracker = TaskTracker::new();
        let abort_all = CancellationToken::new();
        // Should this task itself be aborted, its associations (tasks of
        // their own) are aborted too: never left answering for a service
        // that is gone.
        let _abort_on_drop = abort_all.clone().drop_guard();
        info!(
            service = %shared.cx.name,
            namespace = %shared.cx.namespace,
            address = %self.local_addr,
            ae_titles = %shared.served.iter().map(AeTitle::as_str).collect::<Vec<_>>().join(","),
            "DICOM service listening."
        );
        // Said once per spell of a full handshake budget, not per eviction.
        let mut handshake_full = false;
        loop {
            let accepted = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // E.g. too many open files: back off instead of spinning.
                    warn!(service = %shared.cx.name, %error, "Could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(error) = socket.set_nodelay(true) {
                debug!(%peer, %error, "Could not set TCP_NODELAY.");
            }
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            let (handshake, evicted) = shared.admission.handshake(id);
            if evicted && !handshake_full {
                warn!(service = %shared.cx.name, %peer, "Too many connections that send no A-ASSOCIATE-RQ: the oldest of them are closed to admit new ones (a port scan, a flood or a stalled client).");
            }
            handshake_full = evicted;
            let shared = shared.clone();
            let abort = abort_all.clone();
            tracker.spawn(serve_association(
                socket, peer, id, shared, abort, handshake,
            ));
        }
        drop(self.listener);
        tracker.close();
        let open = tracker.len();
        info!(service = %shared.cx.name, open_associations = open, "DICOM service stopped accepting.");
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(
                service = %shared.cx.name,
                open_associations = tracker.len(),
                "Grace period over; aborting open associations."
            );
            abort_all.cancel();
            // Each association sends its A-ABORT and closes promptly.
            let _unused = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
        }
        info!(service = %shared.cx.name, "DICOM service stopped.");
    }
}

async fn serve_association(
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: Arc<Shared>,
    abort: CancellationToken,
    handshake: CancellationToken,
) {
    let span = info_span!(
        "association",
        id,
        service = %shared.cx.name,
        namespace = %shared.cx.namespace,
        %peer,
        calling_ae_title = tracing::field::Empty,
        called_ae_title = tracing::field::Empty,
    );
    let Some(tls) = shared.tls.as_ref().map(Reloading::current) else {
        Association::new(socket, peer, id, shared, abort)
            .serve(handshake)
            .instrument(span)
            .await;
        return;
    };
    async move {
        // Under the handshake budget and the ARTIM timer, like the
        // A-ASSOCIATE-RQ that follows it.
        let artim = shared.config.artim_timeout;
        let accepted = tokio::select! {
            () = handshake.cancelled() => None,
            () = abort.cancelled() => None,
            accepted = tokio::time::timeout(artim, tls.accept(socket)) => match accepted {
                Ok(Ok(accepted)) => Some(accepted),
                Ok(Err(error)) => {
                    warn!(%error, "TLS handshake failed; closing the connection.");
                    None
                }
                Err(_) => {
                    warn!(timeout = ?artim, "No TLS handshake before the ARTIM timeout; closing the connection.");
                    None
                }
            },
        };
        let Some((stream, described, certificate)) = accepted else {
            shared.admission.handshake_done(id);
            return;
        };
        if shared.config.trace {
            info!("TLS: {described}");
        } else {
            debug!("TLS: {described}");
        }
        Association::new(stream, peer, id, shared, abort)
            .with_certificate(certificate)
            .serve(handshake)
            .await;
    }
    .instrument(span)
    .await;
}
