//! What every request passes before a page: a known Host header (a DNS
//! rebinding page reaches us under its own name), then a live session
//! (except the login, the stylesheet and the script), then for a change
//! (POST) the CSRF checks; and what every answer carries: a strict
//! Content-Security-Policy (scripts and styles only from our own files),
//! `nosniff`, `no-referrer`, `no-store`. Nothing of a request is parsed
//! before the session is known but its head.
//!
//! CSRF: a browser says where a request comes from (`Sec-Fetch-Site`,
//! `Origin`); a foreign one is refused. Behind that, every form carries
//! its session's token, which a page of another site cannot read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::admin::InProcess;
use crate::dimse::tls::{Reloading, ServerTls};

/// The session cookie's name.
const COOKIE: &str = "switchboard_session";

/// A session ends after this long without a request.
pub(super) const IDLE: Duration = Duration::from_secs(8 * 3600);

/// The largest form accepted (an import file pasted in fits).
pub(super) const MAX_FORM: usize = 4 * 1024 * 1024;

/// What the portal's handlers share.
#[derive(Clone)]
pub(super) struct Portal {
    /// The login token of this run.
    pub token: String,
    /// The Host headers we answer to.
    pub hosts: Vec<String>,
    /// The port we listen on.
    pub port: u16,
    /// Over HTTPS: the settings, whose certificate names more hosts we
    /// answer to.
    pub tls: Option<Arc<Reloading<ServerTls>>>,
    /// Live sessions by id.
    pub sessions: Arc<Mutex<HashMap<String, Session>>>,
    /// The admin API, asked in-process.
    pub admin: InProcess,
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// The token its forms carry.
    pub csrf: String,
    last_seen: Instant,
}

/// The fields of a submitted form, in their order (a name may repeat).
#[derive(Debug, Clone, Default)]
pub(super) struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Equal in constant time, so that a token cannot be guessed by timing.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session id a request carries, if any.
fn session_id(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

/// A Host header's name and port (`None` when it names none).
fn host_and_port(host: &str) -> (&str, Option<u16>) {
    let (name, port) = match host.strip_prefix('[') {
        // An IPv6 address: "[::1]:8443" or "[::1]".
        Some(rest) => match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (host, None),
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    (name, port.and_then(|p| p.parse().ok()))
}

impl Portal {
    /// "https" or "http".
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Whether a Host header (or an Origin's host) names this portal: its
    /// own address, a loopback name with its port, or over HTTPS any name
    /// its certificate is valid for, with its port.
    fn knows_host(&self, host: &str) -> bool {
        if self.hosts.iter().any(|h| h == host) {
            return true;
        }
        let Some(tls) = &self.tls else {
            return false;
        };
        let (name, port) = host_and_port(host);
        port.unwrap_or(443) == self.port && tls.current().presents_for(name)
    }

    /// The live session of `id`, seen now; an expired one goes.
    fn session(&self, id: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
        let session = sessions.get_mut(id)?;
        session.last_seen = now;
        Some(session.clone())
    }
}

/// The guard: Host, session, CSRF; headers on every answer.
pub(super) async fn check(State(portal): State<Portal>, request: Request, next: Next) -> Response {
    let mut response = admit(&portal, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn admit(portal: &Portal, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !portal.knows_host(&host) {
        return super::pages::refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "Unknown host",
            "This engine answers only to its own address (127.0.0.1 or localhost with its port, or over HTTPS a name its certificate carries).",
        );
    }
    if matches!(
        request.uri().path(),
        "/login" | "/static/portal.css" | "/static/portal.js"
    ) {
        return next.run(request).await;
    }
    let id = session_id(&request).unwrap_or_default();
    let Some(session) = portal.session(&id) else {
        return super::pages::refusal(
            StatusCode::UNAUTHORIZED,
            "Log in first",
            "Open the login URL the engine printed when it started (also in portal.token in its data directory, and from `switchboard portal url`). A session ends after 8 hours without a request.",
        );
    };
    let mut request = request;
    if request.method() == Method::POST {
        request = match checked_form(portal, &session, request).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
    }
    request.extensions_mut().insert(session);
    // What this request changes is recorded as this session's.
    crate::admin::audit::acting(crate::admin::audit::Actor::portal(&id), next.run(request)).await
}

/// A POST from our own pages, with its form parsed into [`Form`]; else the
/// refusal.
async fn checked_form(
    portal: &Portal,
    session: &Session,
    request: Request,
) -> Result<Request, Response> {
    let foreign = |why: &str| {
        super::pages::refusal(
            StatusCode::FORBIDDEN,
            "Refused: not from this portal",
            &format!("{why}; changes are accepted only from the portal's own pages."),
        )
    };
    let (mut parts, body) = request.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let (site, origin, content_type) = (
        header(header::HeaderName::from_static("sec-fetch-site")),
        header(header::ORIGIN),
        header(header::CONTENT_TYPE),
    );
    if let Some(site) = site
        && site != "same-origin"
    {
        return Err(foreign(&format!("the browser says this request is {site}")));
    }
    // Under `Referrer-Policy: no-referrer` a browser sends `Origin: null`
    // even from our own pages; then `Sec-Fetch-Site` and the token decide.
    if let Some(origin) = origin
        && origin != "null"
        && !origin
            .strip_prefix(portal.scheme())
            .and_then(|o| o.strip_prefix("://"))
            .is_some_and(|host| portal.knows_host(host))
    {
        return Err(foreign(&format!("it comes from {origin}")));
    }
    let content_type = content_type.unwrap_or_default();
    let multipart = content_type.starts_with("multipart/form-data");
    if !multipart && !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(super::pages::refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not a form",
            "The portal takes changes as submitted forms.",
        ));
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return Err(super::pages::refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            &format!("A form may hold at most {MAX_FORM} bytes."),
        ));
    };
    let form = if multipart {
        multipart_fields(&parts.headers, bytes).await.map_err(|e| {
            super::pages::refusal(StatusCode::BAD_REQUEST, "Not a readable form", &e)
        })?
    } else {
        Form(
            form_urlencoded::parse(&bytes)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect(),
        )
    };
    if !form.get("csrf").is_some_and(|t| same(t, &session.csrf)) {
        return Err(foreign("the form does not carry this session's token"));
    }
    parts.extensions.insert(form);
    Ok(Request::from_parts(parts, Body::empty()))
}

/// The fields of a `multipart/form-data` body (an uploaded file's content
/// as text under the field's name).
async fn multipart_fields(
    headers: &axum::http::HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Form, String> {
    use axum::extract::FromRequest;
    let mut request = Request::new(Body::from(bytes));
    *request.headers_mut() = headers.clone();
    let mut multipart = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|e| e.body_text())?;
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_string();
        let value = field.bytes().await.map_err(|e| e.body_text())?;
        fields.push((name, String::from_utf8_lossy(&value).into_owned()));
    }
    Ok(Form(fields))
}

/// `GET /login?token=…`: the token for a session cookie, then the board.
pub(super) async fn login(State(portal): State<Portal>, request: Request) -> Response {
    let given = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|p| p.strip_prefix("token="))
        .unwrap_or_default();
    if !same(given, &portal.token) {
        return super::pages::refusal(
            StatusCode::FORBIDDEN,
            "Wrong login token",
            "This token is not the one of this run of the engine; use the URL it printed when it started.",
        );
    }
    let (Ok(id), Ok(csrf)) = (super::random_hex(32), super::random_hex(32)) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    portal
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            id.clone(),
            Session {
                csrf,
                last_seen: Instant::now(),
            },
        );
    portal.admin.logged_in(&id).await;
    let secure = if portal.tls.is_some() { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
