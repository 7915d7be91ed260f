//! The management portal: pages served by the engine on a local TCP port,
//! on the same requests the admin socket answers (no second path to the
//! store). Opt-in (`switchboard run --portal`), on loopback unless it
//! serves HTTPS, and behind a login: the engine writes a login URL with a
//! random token to `<data-dir>/portal.token` (mode 0600) and logs it; the
//! token is exchanged once for an HttpOnly, SameSite=Strict session cookie
//! (and Secure over HTTPS).
//!
//! - [`guard`]: what every request passes first: the Host header (against
//!   DNS rebinding), the session, CSRF for every change, and the security
//!   headers of every answer.
//! - [`pages`]: the pages, rendered on the server; every value escaped.
//! - [`trace`]: the visual trace's layout.

mod guard;
mod pages;
mod trace;

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::admin::InProcess;
use crate::dimse::tls::{Reloading, ServerTls, TlsFileError};

/// Where the portal listens unless `--portal ADDR` says otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:11180";

/// The portal could not start.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(
        "the portal listens on loopback addresses only (127.0.0.1, ::1) unless it serves HTTPS: give --portal-certificate and --portal-private-key, or a loopback address; {0} is not one"
    )]
    NotLoopback(SocketAddr),
    #[error("the portal's HTTPS files do not make TLS settings: {0}")]
    Tls(#[from] TlsFileError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the login URL to {path}: {source}")]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The certificate (chain, PEM) and private key (PEM) the portal serves
/// HTTPS with. A change to the files is taken by the next connection.
#[derive(Debug, Clone)]
pub struct PortalTls {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// How long a browser has for the TLS handshake, and for a request's head.
const HANDSHAKE: Duration = Duration::from_secs(10);
const HEAD: Duration = Duration::from_secs(30);

/// The file holding the login URL.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("portal.token")
}

/// A bound portal, ready to [`run`](Portal::run).
pub struct Portal {
    listener: TcpListener,
    login_url: String,
    state: guard::Portal,
}

/// The host a login URL names: over HTTPS the certificate's first DNS name
/// (what a browser verifies), else the bound address.
fn login_host(bound: SocketAddr, tls: Option<&ServerTls>) -> String {
    let named = tls.and_then(|tls| {
        tls.dns_names()
            .into_iter()
            .find(|n| n != "localhost" && !n.starts_with('*'))
    });
    match named {
        Some(name) => format!("{name}:{}", bound.port()),
        None if bound.ip().is_unspecified() => format!("localhost:{}", bound.port()),
        None => bound.to_string(),
    }
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal").finish_non_exhaustive()
    }
}

/// Random bytes from the kernel, as hex.
fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Portal {
    /// Binds `address` (loopback only, unless with `tls`), makes a login
    /// token and writes the login URL to [`token_path`] with mode 0600.
    ///
    /// # Errors
    /// [`PortalError`].
    pub async fn bind(
        address: SocketAddr,
        tls: Option<&PortalTls>,
        data_dir: &Path,
        admin: InProcess,
    ) -> Result<Portal, PortalError> {
        if !address.ip().is_loopback() && tls.is_none() {
            return Err(PortalError::NotLoopback(address));
        }
        let tls = match tls {
            None => None,
            Some(files) => {
                let (certificate, key) = (files.certificate.clone(), files.private_key.clone());
                Some(Arc::new(Reloading::new(
                    vec![certificate.clone(), key.clone()],
                    move || ServerTls::https(&certificate, &key),
                )?))
            }
        };
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| PortalError::Bind { address, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| PortalError::Bind { address, source })?;
        let path = token_path(data_dir);
        let token_error = |source| PortalError::Token {
            path: path.clone(),
            source,
        };
        let token = random_hex(32).map_err(token_error)?;
        let host = login_host(bound, tls.as_ref().map(|t| t.current()).as_ref());
        let hosts = [
            format!("{bound}"),
            format!("localhost:{}", bound.port()),
            format!("127.0.0.1:{}", bound.port()),
            format!("[::1]:{}", bound.port()),
        ];
        let state = guard::Portal {
            token,
            hosts: hosts.into(),
            port: bound.port(),
            tls,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            admin,
        };
        let login_url = format!("{}://{host}/login?token={}", state.scheme(), state.token);
        // A file of an earlier run goes; the new one is created 0600.
        std::fs::remove_file(&path).ok();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(token_error)?;
        std::io::Write::write_all(&mut file, format!("{login_url}\n").as_bytes())
            .map_err(token_error)?;
        Ok(Portal {
            listener,
            login_url,
            state,
        })
    }

    /// The URL that logs a browser in.
    pub fn login_url(&self) -> &str {
        &self.login_url
    }

    /// Serves until `shutdown` completes.
    ///
    /// # Errors
    /// When serving fails for good.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = Router::new()
            .route("/", get(pages::board::board))
            .route(
                "/ae",
                get(pages::ae_directory::list).post(pages::ae_directory::change),
            )
            .route("/associations", get(pages::associations::list))
            .route("/associations/add", post(pages::associations::add))
            .route("/associations/show", get(pages::associations::show))
            .route("/associations/edit", post(pages::associations::edit))
            .route(
                "/associations/delete",
                get(pages::associations::confirm_delete).post(pages::associations::delete),
            )
            .route("/associations/export", get(pages::associations::export))
            .route(
                "/associations/context",
                get(pages::associations::context).post(pages::associations::context_change),
            )
            .route(
                "/associations/import",
                get(pages::associations::import_page).post(pages::associations::import),
            )
            .route("/associations/create", post(pages::associations::create))
            .route("/associations/probe", post(pages::probe::probe))
            .route(
                "/productions/edit",
                get(pages::productions::edit).post(pages::productions::change),
            )
            .route("/item", get(pages::item::item))
            .route("/queues", get(pages::queues::queues))
            .route("/events", get(pages::queues::events))
            .route("/messages", get(pages::messages::list))
            .route("/messages/resend", post(pages::messages::resend))
            .route(
                "/messages/resend-failed",
                post(pages::messages::resend_failed),
            )
            .route("/messages/{id}", get(pages::messages::show))
            .route("/messages/{id}/resend", get(pages::messages::confirm_one))
            .route("/login", get(guard::login))
            .route("/static/portal.css", get(pages::stylesheet))
            .route("/static/portal.js", get(pages::script))
            .route(
                "/reference/abstract-syntax",
                get(pages::reference::abstract_syntax),
            )
            .route(
                "/reference/transfer-syntax",
                get(pages::reference::transfer_syntax),
            )
            .route(
                "/reference/dictionary",
                get(pages::reference::data_dictionary),
            )
            .route("/reference/codes", get(pages::reference::codes))
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                guard::check,
            ))
            .with_state(self.state.clone());
        match self.state.tls {
            None => {
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Some(tls) => serve_https(self.listener, app, tls, shutdown).await,
        }
    }
}

/// HTTPS: each connection's handshake and requests in a task of its own,
/// so that a slow browser holds up no other; accepting stops at
/// `shutdown`.
async fn serve_https(
    listener: TcpListener,
    app: Router,
    tls: Arc<Reloading<ServerTls>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Out of file descriptors, mostly: wait instead of spinning.
                    warn!(%error, "The portal could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (app, tls) = (app.clone(), tls.current());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE, tls.accept(tcp)).await {
                Ok(Ok((stream, _, _))) => stream,
                // A browser that does not trust the certificate says so itself.
                Ok(Err(error)) => return debug!(%error, "A portal TLS handshake failed."),
                Err(_) => return debug!("A portal TLS handshake timed out."),
            };
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(HEAD);
            if let Err(error) = http
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await
            {
                debug!(%error, "A portal connection ended in error.");
            }
        });
    }
}
