//! `GET /queues`: every item's queue with its depth and the arrival of its
//! oldest message, and the queues that wait for an item that does not run;
//! `GET /events`: the engine's recent log events, filterable by level and
//! item.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::super::guard::Portal;
use crate::admin::{Event, EventFilter, Request, Response as AdminResponse};
use crate::ids::NamespaceId;
use crate::message::now_ms;
use crate::message::time::format_time;

/// One queue.
struct Queue {
    namespace: String,
    production: String,
    item: String,
    kind: String,
    /// `running`, or why the item does not.
    state: String,
    depth: usize,
    oldest: String,
    messages: String,
}

/// "2026-12-07 08:00:00.000 (12 s ago)", or empty.
fn oldest(ms: Option<u64>) -> String {
    ms.map(|at| {
        let ago = now_ms().saturating_sub(at) / 1000;
        format!("{} ({ago} s ago)", format_time(at))
    })
    .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "portal/queues.html")]
struct Queues {
    queues: Vec<Queue>,
}

pub(in super::super) async fn queues(State(portal): State<Portal>) -> Response {
    let status = match portal
        .admin
        .ask(NamespaceId::default(), Request::Status)
        .await
    {
        Ok(AdminResponse::Status { status }) => status,
        Ok(_) => return super::unexpected(),
        Err(e) => return super::failure(StatusCode::INTERNAL_SERVER_ERROR, "Queues", &e),
    };
    let link = |ns: &str, production: &str, item: &str| {
        super::link(
            "/messages",
            &[
                ("ns", ns),
                ("production", production),
                ("item", item),
                ("status", "queued"),
            ],
        )
    };
    let mut queues: Vec<Queue> = status
        .productions
        .iter()
        .flat_map(|p| {
            p.items.iter().map(move |i| Queue {
                namespace: p.namespace.to_string(),
                production: p.name.clone(),
                item: i.name.clone(),
                kind: i.kind.clone(),
                state: i.state.to_string(),
                depth: i.queue_depth,
                oldest: oldest(i.oldest_queued_ms),
                messages: link(p.namespace.as_str(), &p.name, &i.name),
            })
        })
        .collect();
    queues.extend(status.waiting_queues.iter().map(|w| Queue {
        namespace: w.namespace.to_string(),
        production: w.production.clone(),
        item: w.item.clone(),
        kind: String::new(),
        state: "not running: delivered when it comes back".into(),
        depth: w.depth,
        oldest: oldest(w.oldest_queued_ms),
        messages: link(w.namespace.as_str(), &w.production, &w.item),
    }));
    // The longest first; then by name.
    queues.sort_by(|a, b| {
        b.depth.cmp(&a.depth).then_with(|| {
            (&a.namespace, &a.production, &a.item).cmp(&(&b.namespace, &b.production, &b.item))
        })
    });
    super::render(&Queues { queues })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Which {
    level: String,
    item: String,
}

/// An event as the log shows it.
struct Line {
    at: String,
    event: Event,
}

#[derive(Template)]
#[template(path = "portal/events.html")]
struct Events {
    level: String,
    item: String,
    lines: Vec<Line>,
}

impl Events {
    fn level_is(&self, level: &str) -> bool {
        self.level == level
    }
}

/// Events on one page.
const SHOWN: usize = 500;

pub(in super::super) async fn events(
    State(portal): State<Portal>,
    Query(which): Query<Which>,
) -> Response {
    let text = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    let filter = EventFilter {
        level: text(&which.level),
        item: text(&which.item),
        limit: Some(SHOWN),
    };
    match portal
        .admin
        .ask(NamespaceId::default(), Request::Events { filter })
        .await
    {
        Ok(AdminResponse::Events { events }) => super::render(&Events {
            level: which.level,
            item: which.item,
            lines: events
                .into_iter()
                .map(|event| Line {
                    at: format_time(event.at),
                    event,
                })
                .collect(),
        }),
        Ok(_) => super::unexpected(),
        Err(e) => super::failure(StatusCode::INTERNAL_SERVER_ERROR, "Events", &e),
    }
}
