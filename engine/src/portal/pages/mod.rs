//! The portal's pages, rendered on the server from the templates in
//! `engine/templates/portal/` (compiled in, every value escaped); the only
//! style is the embedded stylesheet, and the one script (filters as you
//! type) only enhances: every control is a link or a form.
//!
//! - [`board`]: the productions and their items; [`item`]: one item's
//!   state, settings and recent messages; [`productions`]: a production's
//!   file edited, checked (the reload plan) and saved.
//! - [`associations`]: DICOM Settings: associations, their presentation
//!   contexts and transfer syntaxes, import, export; [`probe`]: echo and
//!   test against a peer; [`ae_directory`]: the AE directory.
//! - [`queues`]: the queues, and the event log.
//! - [`reference`]: the Abstract Syntax, Transfer Syntax and Dictionary
//!   tables.
//! - [`messages`]: the message viewer, a message with its visual trace,
//!   and resending.

pub(super) mod ae_directory;
pub(super) mod associations;
pub(super) mod board;
pub(super) mod item;
pub(super) mod messages;
pub(super) mod probe;
pub(super) mod productions;
pub(super) mod queues;
pub(super) mod reference;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::guard::Portal;
use crate::admin::{ErrorReply, Request, Response as AdminResponse};
use crate::association::AeTitle;
use crate::ids::NamespaceId;

/// The embedded stylesheet and script.
const STYLESHEET: &str = include_str!("../portal.css");
const SCRIPT: &str = include_str!("../portal.js");

/// A template as a page.
pub(super) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {e}"),
        )
            .into_response(),
    }
}

#[derive(Template)]
#[template(path = "portal/refusal.html")]
struct Refusal<'a> {
    title: &'a str,
    text: &'a str,
    causes: &'a [String],
}

/// A refusal page with its status.
pub(super) fn refusal(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        render(&Refusal {
            title,
            text,
            causes: &[],
        }),
    )
        .into_response()
}

/// A failed admin request as a page, with its causes.
pub(super) fn failure(status: StatusCode, title: &str, error: &ErrorReply) -> Response {
    (
        status,
        render(&Refusal {
            title,
            text: &error.message,
            causes: &error.causes,
        }),
    )
        .into_response()
}

pub(super) async fn not_found() -> Response {
    refusal(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}

pub(super) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

pub(super) async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// The namespaces a picker offers: those of the running productions, the
/// default one, and `current`.
pub(super) async fn namespaces(portal: &Portal, current: &NamespaceId) -> Vec<String> {
    let mut out = vec![NamespaceId::default().to_string(), current.to_string()];
    if let Ok(AdminResponse::Status { status }) = portal
        .admin
        .ask(NamespaceId::default(), Request::Status)
        .await
    {
        out.extend(status.productions.iter().map(|p| p.namespace.to_string()));
    }
    out.sort();
    out.dedup();
    out
}

/// The namespace a page or form names (empty: the default one).
pub(super) fn namespace(text: &str) -> Result<NamespaceId, Response> {
    match text.trim() {
        "" => Ok(NamespaceId::default()),
        ns => NamespaceId::new(ns)
            .map_err(|e| refusal(StatusCode::BAD_REQUEST, "Not a namespace", &e.to_string())),
    }
}

/// An AE title typed into a form: the title, or (in `error`, shown beside
/// the field) why it is none.
pub(super) fn ae_title_field(text: &str, error: &mut String) -> Option<AeTitle> {
    if text.is_empty() {
        *error = "required".into();
        return None;
    }
    AeTitle::new(text).map_err(|e| *error = e.to_string()).ok()
}

/// The engine answered an admin request with another kind of answer.
pub(super) fn unexpected() -> Response {
    refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Unexpected answer",
        "The engine answered with something else than was asked.",
    )
}

/// A link with query parameters, each encoded; empty values are left out.
pub(super) fn link(path: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_links_encoded() {
        let page = Refusal {
            title: "<script>alert('x')</script>",
            text: "& \"q\"",
            causes: &[],
        }
        .render()
        .unwrap();
        assert!(
            page.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"),
            "{page}"
        );
        assert!(page.contains("&#38; &#34;q&#34;"), "{page}");
        assert!(!page.contains("<script>"));
        assert_eq!(
            link("/messages", &[("item", "A&B c"), ("ns", "")]),
            "/messages?item=A%26B+c"
        );
    }
}
