//! The portal's pages, rendered on the server. Every value shown is
//! escaped; the only style is the embedded stylesheet.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::guard::Portal;
use crate::admin::EngineStatus;

/// The embedded stylesheet.
const STYLESHEET: &str = include_str!("portal.css");

/// Text made safe for HTML.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already escaped).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} · Switchboard</title><link rel=\"stylesheet\" href=\"/static/portal.css\"></head>\
         <body><header><a href=\"/\">Switchboard</a></header><main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// A refusal page with its status.
pub(super) fn refusal(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text));
    (status, Html(page(title, &body))).into_response()
}

pub(super) async fn not_found() -> Response {
    refusal(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}

pub(super) async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// `GET /`: every production with its items.
pub(super) async fn board(State(portal): State<Portal>) -> Response {
    let engine = portal.engine.clone();
    match tokio::task::spawn_blocking(move || engine.status()).await {
        Ok(status) => Html(page("Productions", &render_board(&status))).into_response(),
        Err(e) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The engine could not say its state",
            &e.to_string(),
        ),
    }
}

/// The board's body: one section per production, a table of its items.
pub(super) fn render_board(status: &EngineStatus) -> String {
    let mut out = format!(
        "<h1>Productions</h1><p>From {}{}.</p>",
        escape(&status.productions_dir),
        if status.watching {
            ", reloaded when a file changes"
        } else {
            ""
        }
    );
    if let Some(why) = &status.refusing_writes {
        out.push_str(&format!(
            "<p class=\"failed\">Refusing writes: {}</p>",
            escape(why)
        ));
    }
    for p in &status.productions {
        out.push_str(&format!(
            "<section><h2>{}/{}</h2><p class=\"file\">{}</p>",
            escape(p.namespace.as_str()),
            escape(&p.name),
            escape(&p.file)
        ));
        if let Some(e) = &p.last_reload_error {
            out.push_str(&format!(
                "<p class=\"failed\">Last change not applied: {}</p>",
                escape(e)
            ));
        }
        out.push_str(
            "<table><thead><tr><th>Item</th><th>Kind</th><th>Type</th><th>State</th>\
             <th>Queue</th><th>Listening</th></tr></thead><tbody>",
        );
        for item in &p.items {
            out.push_str(&format!("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td>{}</td></tr>",
                escape(&item.name),
                escape(&item.kind),
                escape(&item.kind_type),
                item.queue_depth,
                escape(item.listening.as_deref().unwrap_or("")),
                state = item.state));
        }
        out.push_str("</tbody></table></section>");
    }
    for r in &status.rejected_files {
        out.push_str(&format!(
            "<section><h2 class=\"failed\">Not running: {}</h2><ul>",
            escape(&r.file)
        ));
        for e in &r.errors {
            out.push_str(&format!("<li>{}</li>", escape(e)));
        }
        out.push_str("</ul></section>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
