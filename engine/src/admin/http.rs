//! Just enough HTTP/1.1 for the admin socket: one request per connection,
//! bodies framed by `Content-Length` only (no chunked encoding, no
//! keep-alive). Both sides bound what they read.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest request or status line plus headers we read.
pub const MAX_HEAD: usize = 16 * 1024;

/// A parsed head: the request or status line, and the `Content-Length`.
#[derive(Debug)]
pub(crate) struct Head {
    /// The first line, split on spaces (at most three parts).
    pub(crate) start: Vec<String>,
    pub(crate) content_length: Option<usize>,
    pub(crate) chunked: bool,
}

/// What went wrong while reading a message.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection closed before the message was complete")]
    Truncated,
    #[error("message head is longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    #[error("message body of {length} bytes is over the limit of {limit} bytes")]
    BodyTooLong { length: usize, limit: usize },
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

/// Which side's message is read: without `Content-Length`, a request has no
/// body and a response's body runs to the end of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Response,
}

/// Reads a message's head and body (up to `max_body` bytes) from `stream`.
pub(crate) async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_body: usize,
    kind: Kind,
) -> Result<(Head, Vec<u8>), HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::HeadTooLong);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HttpError::Truncated);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > MAX_HEAD {
        return Err(HttpError::HeadTooLong);
    }
    let head = parse_head(&buf[..head_end])?;
    let mut body = buf.split_off(head_end + 4);
    if head.chunked {
        return Err(HttpError::Malformed(
            "chunked bodies are not supported; send Content-Length",
        ));
    }
    match head.content_length {
        Some(length) => {
            if length > max_body {
                return Err(HttpError::BodyTooLong {
                    length,
                    limit: max_body,
                });
            }
            if body.len() > length {
                body.truncate(length);
            }
            while body.len() < length {
                let want = (length - body.len()).min(chunk.len());
                let n = stream.read(&mut chunk[..want]).await?;
                if n == 0 {
                    return Err(HttpError::Truncated);
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None if kind == Kind::Request => body.clear(),
        None => {
            // A response without Content-Length ends at EOF.
            loop {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                if body.len() + n > max_body {
                    return Err(HttpError::BodyTooLong {
                        length: body.len() + n,
                        limit: max_body,
                    });
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
    }
    Ok((head, body))
}

fn parse_head(bytes: &[u8]) -> Result<Head, HttpError> {
    let text = std::str::from_utf8(bytes).map_err(|_| HttpError::Malformed("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let start: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .splitn(3, ' ')
        .map(str::to_string)
        .collect();
    if start.len() < 2 {
        return Err(HttpError::Malformed("bad start line"));
    }
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Malformed("bad header line"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse::<usize>()
                .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
            if content_length.is_some_and(|l| l != length) {
                return Err(HttpError::Malformed("conflicting Content-Length headers"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok(Head {
        start,
        content_length,
        chunked,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The reason phrase of the statuses we send.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        _ => "Internal Server Error",
    }
}

/// A complete response with a JSON body.
pub(crate) fn response(status: u16, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A complete `POST` request with a JSON body.
pub(crate) fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
