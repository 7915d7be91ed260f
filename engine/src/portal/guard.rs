//! What every request passes before a page: a known Host header (a DNS
//! rebinding page reaches us under its own name), then a session (except
//! the login and the stylesheet); and what every answer carries: a strict
//! Content-Security-Policy (no inline script or style), `nosniff`,
//! `no-referrer`, `no-store`. Nothing of a request is parsed before these
//! checks but its head.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::admin::EngineState;

/// The session cookie's name.
const COOKIE: &str = "switchboard_session";

/// What the portal's handlers share.
#[derive(Clone)]
pub(super) struct Portal {
    /// The login token of this run.
    pub token: String,
    /// The Host headers we answer to.
    pub hosts: HashSet<String>,
    /// Session ids handed out by a login.
    pub sessions: Arc<Mutex<HashSet<String>>>,
    pub engine: Arc<dyn EngineState>,
}

/// Equal in constant time, so that the token cannot be guessed by timing.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session id a request carries, if any.
fn session(request: &Request) -> Option<String> {
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

/// The guard: Host, then session; headers on every answer.
pub(super) async fn check(State(portal): State<Portal>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut response = if !portal.hosts.contains(&host) {
        super::pages::refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "Unknown host",
            "This engine answers only to its own address (127.0.0.1 or localhost with its port).",
        )
    } else {
        let open = matches!(request.uri().path(), "/login" | "/static/portal.css");
        let known = session(&request).is_some_and(|s| {
            portal
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&s)
        });
        if open || known {
            next.run(request).await
        } else {
            super::pages::refusal(
                StatusCode::UNAUTHORIZED,
                "Log in first",
                "Open the login URL the engine printed when it started (also in portal.token in its data directory, and from `switchboard portal url`).",
            )
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
    let Ok(id) = super::random_hex(32) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    portal
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.clone());
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
