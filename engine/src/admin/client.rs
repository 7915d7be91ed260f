//! The admin client: one request over the Unix socket, on hyper's HTTP/1.1.

use std::path::Path;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request as HttpRequest, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use super::AdminError;
use super::api::{Envelope, ErrorReply, Reply, Request, Response};
use crate::ids::NamespaceId;

/// The largest reply body read (an export of a big association fits).
pub const MAX_REPLY_BODY: usize = 256 * 1024 * 1024;

/// How long to wait for the engine's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends one request to the engine serving the socket at `path`.
///
/// The outer `Result` is about reaching the engine; the inner one is the
/// command's own outcome, exactly as [`execute`](super::execute) would give
/// it locally.
///
/// # Errors
/// [`AdminError::Connect`] when nothing answers at `path`, and
/// [`AdminError::Protocol`] / [`AdminError::Timeout`] / [`AdminError::Io`]
/// when the exchange fails.
pub async fn call(
    path: &Path,
    namespace: &NamespaceId,
    request: Request,
) -> Result<Result<Response, ErrorReply>, AdminError> {
    let envelope = Envelope {
        namespace: namespace.clone(),
        request,
    };
    let body = serde_json::to_vec(&envelope)
        .map_err(|e| AdminError::Protocol(format!("cannot encode the request: {e}")))?;
    let protocol = |e: &dyn std::fmt::Display| AdminError::Protocol(e.to_string());
    let exchange = async {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| AdminError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| protocol(&e))?;
        let connection = tokio::spawn(connection);
        let request = HttpRequest::post("/v1/request")
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| protocol(&e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| protocol(&e))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REPLY_BODY)
            .collect()
            .await
            .map_err(|e| protocol(&e))?
            .to_bytes();
        connection.abort();
        serde_json::from_slice::<Reply>(&body).map_err(|e| {
            AdminError::Protocol(format!("unexpected answer (HTTP status {status}): {e}"))
        })
    };
    let reply = tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .map_err(|_| AdminError::Timeout(CALL_TIMEOUT))??;
    Ok(reply.into())
}
