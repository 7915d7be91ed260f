//! Editing a production in the browser: `GET /productions/edit` shows its
//! file; `POST /productions/edit` with `action=check` validates the edited
//! text and shows every error or what a save would change (the reload
//! plan), and with `action=save` writes it to the file only when it has no
//! error; the reloader then applies it as any change of the file.

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::guard::{Form, Portal, Session};
use crate::admin::status::ProductionCheck;
use crate::admin::{Request, Response as AdminResponse};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Which {
    ns: String,
    name: String,
}

#[derive(Template)]
#[template(path = "portal/production_edit.html")]
struct Edit {
    ns: String,
    name: String,
    file: String,
    text: String,
    check: Option<ProductionCheck>,
    csrf: String,
}

/// `GET /productions/edit?ns=…&name=…`.
pub(in super::super) async fn edit(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Query(which): Query<Which>,
) -> Response {
    let ns = match super::namespace(&which.ns) {
        Ok(ns) => ns,
        Err(refusal) => return refusal,
    };
    let request = Request::ProductionShow {
        name: which.name.clone(),
    };
    match portal.admin.ask(ns.clone(), request).await {
        Ok(AdminResponse::ProductionFile { file }) => super::render(&Edit {
            ns: ns.to_string(),
            name: which.name,
            file: file.file,
            text: file.text,
            check: None,
            csrf: session.csrf,
        }),
        Ok(_) => super::refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected answer",
            "The engine answered with something else than was asked.",
        ),
        Err(e) => super::failure(StatusCode::NOT_FOUND, "No such production", &e),
    }
}

/// `POST /productions/edit`: `action` = `check` or `save`.
pub(in super::super) async fn change(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Extension(form): Extension<Form>,
) -> Response {
    let field = |n| form.get(n).unwrap_or_default().to_string();
    let ns = match super::namespace(&field("ns")) {
        Ok(ns) => ns,
        Err(refusal) => return refusal,
    };
    let (name, text) = (field("name"), field("text"));
    let save = form.get("action") == Some("save");
    let request = if save {
        Request::ProductionSave {
            name: name.clone(),
            text: text.clone(),
        }
    } else {
        Request::ProductionCheck {
            name: name.clone(),
            text: text.clone(),
        }
    };
    let check = match portal.admin.ask(ns.clone(), request).await {
        Ok(AdminResponse::ProductionChecked { check }) => check,
        Ok(_) => {
            return super::refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Unexpected answer",
                "The engine answered with something else than was asked.",
            );
        }
        Err(e) => return super::failure(StatusCode::BAD_REQUEST, "Not saved", &e),
    };
    if check.saved {
        let note = format!(
            "Saved {}; the engine applies it now: {}.",
            check.file,
            if check.changes.is_empty() {
                "no item changes".to_string()
            } else {
                check.changes.join(", ")
            }
        );
        return Redirect::to(&super::link("/", &[("note", &note)])).into_response();
    }
    let status = if check.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = Edit {
        ns: ns.to_string(),
        name,
        file: check.file.clone(),
        text,
        check: Some(check),
        csrf: session.csrf,
    };
    (status, super::render(&page)).into_response()
}
