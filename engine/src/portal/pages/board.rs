//! `GET /`: every production with its items, their state and queues, the
//! last reload, and a link to edit each production's file; an item opens
//! its page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::super::guard::Portal;
use crate::admin::status::{ItemStatus, ProductionStatus};
use crate::admin::{EngineStatus, Request, Response as AdminResponse};
use crate::ids::NamespaceId;

#[derive(Template)]
#[template(path = "portal/board.html")]
struct Board<'a> {
    status: &'a EngineStatus,
    note: String,
}

impl Board<'_> {
    /// The edit page of a production.
    fn edit_url(&self, p: &ProductionStatus) -> String {
        super::link(
            "/productions/edit",
            &[("ns", p.namespace.as_str()), ("name", &p.name)],
        )
    }

    fn time(&self, ms: &u64) -> String {
        crate::message::time::format_time(*ms)
    }

    /// An item's page.
    fn item_url(&self, p: &ProductionStatus, item: &ItemStatus) -> String {
        super::link(
            "/item",
            &[
                ("ns", p.namespace.as_str()),
                ("production", &p.name),
                ("item", &item.name),
            ],
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Note {
    note: String,
}

pub(in super::super) async fn board(
    State(portal): State<Portal>,
    Query(note): Query<Note>,
) -> Response {
    match portal
        .admin
        .ask(NamespaceId::default(), Request::Status)
        .await
    {
        Ok(AdminResponse::Status { status }) => super::render(&Board {
            status: &status,
            note: note.note,
        }),
        Ok(_) => super::refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected answer",
            "The engine answered the status request with something else.",
        ),
        Err(e) => super::failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The engine could not say its state",
            &e,
        ),
    }
}
