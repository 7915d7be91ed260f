//! The admin client: one request over the Unix socket.

use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::AdminError;
use super::api::{Envelope, ErrorReply, Reply, Request, Response};
use super::http::{Kind, post, read_message};
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
    let exchange = async {
        let mut stream = UnixStream::connect(path)
            .await
            .map_err(|source| AdminError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        stream.write_all(&post("/v1/request", &body)).await?;
        let (head, body) = read_message(&mut stream, MAX_REPLY_BODY, Kind::Response)
            .await
            .map_err(|e| AdminError::Protocol(e.to_string()))?;
        let status = head.start.get(1).cloned().unwrap_or_default();
        serde_json::from_slice::<Reply>(&body).map_err(|e| {
            AdminError::Protocol(format!("unexpected answer (HTTP status {status}): {e}"))
        })
    };
    let reply = tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .map_err(|_| AdminError::Timeout(CALL_TIMEOUT))??;
    Ok(reply.into())
}
