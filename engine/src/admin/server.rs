//! The admin server: HTTP/1.1 + JSON on a Unix socket, answering
//! `POST /v1/request` (an [`Envelope`]) with a [`Reply`], and
//! `GET /v1/health`. HTTP is hyper's, routed by axum; a connection from
//! another user is refused before anything it sends is parsed.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::task::TaskTracker;

use super::AdminError;
use super::api::{Envelope, ErrorReply, Reply};
use super::audit::Actor;
use super::status::EngineState;
use crate::store::Store;

/// The largest request body accepted: an import of some ten thousand
/// presentation contexts fits many times over.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// How long a client may take to send its request's head.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long shutdown waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound admin socket, ready to [`run`](AdminServer::run).
pub struct AdminServer {
    listener: UnixListener,
    path: PathBuf,
    store: Store,
    /// The socket file's owner (us): only clients running as this user (or
    /// root, whom the kernel lets through anyway) are served.
    owner_uid: u32,
    /// The running engine, which answers `Status`; `None` when the server
    /// serves a store without productions (tests, tools).
    engine: Option<Arc<dyn EngineState>>,
}

impl std::fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminServer")
            .field("path", &self.path)
            .field("engine", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

impl AdminServer {
    /// Binds the socket at `path` with mode 0600, replacing a stale socket
    /// file left by an engine that died. The caller holds `store`, so no
    /// other engine can be serving the same data directory. Must be called
    /// inside a tokio runtime.
    ///
    /// # Errors
    /// [`AdminError::Bind`] when the socket cannot be created.
    pub fn bind(path: &Path, store: Store) -> Result<Self, AdminError> {
        let bind_error = |source| AdminError::Bind {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                std::fs::remove_file(path).map_err(bind_error)?;
            }
            Ok(_) => {
                return Err(bind_error(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is in the way",
                )));
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(path).map_err(bind_error)?;
        // With the usual umask the socket starts at 0755 or stricter, which
        // already refuses other users (connecting needs write permission).
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(bind_error)?;
        let owner_uid = std::fs::metadata(path).map_err(bind_error)?.uid();
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            store,
            owner_uid,
            engine: None,
        })
    }

    /// Answers `Status` from this engine's state.
    #[must_use]
    pub fn with_engine(mut self, engine: Arc<dyn EngineState>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown` completes, then stops accepting, waits a
    /// little for requests in progress and removes the socket file.
    ///
    /// # Errors
    /// Only when accepting fails for good; errors of single connections are
    /// answered to that client and logged.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), AdminError> {
        let tracker = TaskTracker::new();
        let app = router(Served {
            store: self.store.clone(),
            engine: self.engine.clone(),
        });
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let (app, owner_uid) = (app.clone(), self.owner_uid);
                        tracker.spawn(async move {
                            if let Err(error) = handle(stream, app, owner_uid).await {
                                tracing::debug!(%error, "Admin connection failed.");
                            }
                        });
                    }
                    Err(error) if is_transient(&error) => {
                        tracing::warn!(%error, "Admin socket could not accept a connection.");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(source) => break Err(AdminError::Accept { path: self.path.clone(), source }),
                },
            }
        };
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("Admin requests still running at shutdown were abandoned.");
        }
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::debug!(%error, path = %self.path.display(), "Admin socket was already gone.");
        }
        result
    }
}

/// Binds the admin socket at `path` and serves `store` until `shutdown`
/// completes. This is what `switchboard run` spawns, with the socket at
/// [`socket_path`](super::socket_path)`(data_dir)`:
///
/// ```no_run
/// # async fn example(store: switchboard::store::Store, token: tokio_util::sync::CancellationToken) -> Result<(), switchboard::admin::AdminError> {
/// let path = switchboard::admin::socket_path(std::path::Path::new("./switchboard-data"));
/// let server = switchboard::admin::AdminServer::bind(&path, store)?; // bind before announcing "ready"
/// tokio::spawn(async move { server.run(token.cancelled_owned()).await });
/// # Ok(()) }
/// ```
///
/// # Errors
/// See [`AdminServer::bind`] and [`AdminServer::run`].
pub async fn serve(
    path: &Path,
    store: Store,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    AdminServer::bind(path, store)?.run(shutdown).await
}

fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | OutOfMemory
    ) || error.raw_os_error() == Some(24) // EMFILE: too many open files
        || error.raw_os_error() == Some(23) // ENFILE
}

/// What the routes serve.
#[derive(Clone)]
struct Served {
    store: Store,
    engine: Option<Arc<dyn EngineState>>,
}

/// The admin API's routes.
fn router(served: Served) -> Router {
    Router::new()
        .route("/v1/request", post(request))
        .route("/v1/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(served)
}

/// Serves one connection: one request, then the connection closes.
async fn handle(stream: UnixStream, app: Router, owner_uid: u32) -> Result<(), AdminError> {
    let peer_uid = stream
        .peer_cred()
        .map(|c| c.uid())
        .map_err(AdminError::Io)?;
    let app = if peer_uid == owner_uid || peer_uid == 0 {
        app.layer(axum::Extension(Actor::unix(peer_uid, "the admin socket")))
    } else {
        let refusal = reply_body(&error_reply(format!(
            "user {peer_uid} may not use this engine's admin socket"
        )));
        Router::new().fallback(move || std::future::ready(json(StatusCode::FORBIDDEN, refusal)))
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT);
    http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
        .await
        .map_err(|e| AdminError::Protocol(e.to_string()))
}

async fn request(
    State(served): State<Served>,
    axum::Extension(who): axum::Extension<Actor>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> HttpResponse {
    let too_long = || {
        json(
            StatusCode::PAYLOAD_TOO_LARGE,
            reply_body(&error_reply(format!(
                "the request body is over the limit of {MAX_REQUEST_BODY} bytes"
            ))),
        )
    };
    // Refused on its declared length, before a byte of it is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return too_long();
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BODY).await else {
        return too_long();
    };
    let (status, body) = answer(&served.store, served.engine, &body, &who).await;
    json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

async fn health() -> HttpResponse {
    json(StatusCode::OK, b"{\"status\":\"ok\"}".to_vec())
}

async fn not_found(uri: Uri) -> HttpResponse {
    json(
        StatusCode::NOT_FOUND,
        reply_body(&error_reply(format!("no such endpoint {}", uri.path()))),
    )
}

async fn method_not_allowed(method: Method) -> HttpResponse {
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        reply_body(&error_reply(format!("method {method} is not allowed here"))),
    )
}

fn json(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn answer(
    store: &Store,
    engine: Option<Arc<dyn EngineState>>,
    body: &[u8],
    who: &Actor,
) -> (u16, Vec<u8>) {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) => {
            return (
                400,
                reply_body(&error_reply(format!("request is not valid: {error}"))),
            );
        }
    };
    let (status, reply) = super::answer::answer(store, engine.as_ref(), envelope, who).await;
    (status, reply_body(&reply))
}

fn error_reply(message: String) -> Reply {
    Reply::Error(ErrorReply {
        message,
        causes: Vec::new(),
    })
}

fn reply_body(reply: &Reply) -> Vec<u8> {
    serde_json::to_vec(reply).unwrap_or_else(|error| {
        format!("{{\"error\":{{\"message\":\"cannot encode the reply: {error}\"}}}}").into_bytes()
    })
}
