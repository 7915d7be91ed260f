//! The AE directory of a namespace: the list with a filter, add (every bad
//! field shown in red, nothing stored), edit host, port and description,
//! delete after a confirmation. Each change is one admin request, as
//! `switchboard ae …` sends it.

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::guard::{Form, Portal, Session};
use crate::admin::{Request, Response as AdminResponse};
use crate::association::directory::check_host;
use crate::association::{AeEntry, AeTitle};
use crate::ids::NamespaceId;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Which {
    ns: String,
    filter: String,
    note: String,
}

/// The add/edit form with what is wrong with each field.
#[derive(Default)]
struct EntryForm {
    ae_title: String,
    host: String,
    port: String,
    description: String,
    /// Whether it speaks DICOM TLS only.
    tls: bool,
    ae_title_error: String,
    host_error: String,
    port_error: String,
    description_error: String,
    error: String,
}

struct Row {
    ae_title: String,
    host: String,
    port: u16,
    description: String,
    tls: bool,
}

#[derive(Template)]
#[template(path = "portal/ae_directory.html")]
struct Directory {
    ns: String,
    namespaces: Vec<String>,
    filter: String,
    rows: Vec<Row>,
    form: EntryForm,
    note: String,
    csrf: String,
}

async fn page(
    portal: &Portal,
    ns: &NamespaceId,
    filter: &str,
    form: EntryForm,
    note: String,
    csrf: &str,
) -> Response {
    let entries = match portal.admin.ask(ns.clone(), Request::AeList).await {
        Ok(AdminResponse::AeEntries { entries }) => entries,
        Ok(_) => {
            return super::refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Unexpected answer",
                "The engine answered with something else than was asked.",
            );
        }
        Err(e) => return super::failure(StatusCode::INTERNAL_SERVER_ERROR, "AE directory", &e),
    };
    let needle = filter.trim().to_lowercase();
    let rows = entries
        .into_iter()
        .filter(|e| {
            needle.is_empty()
                || [
                    e.ae_title.as_str(),
                    &e.host,
                    &e.port.to_string(),
                    &e.description,
                ]
                .iter()
                .any(|c| c.to_lowercase().contains(&needle))
        })
        .map(|e| Row {
            ae_title: e.ae_title.to_string(),
            host: e.host,
            port: e.port,
            description: e.description,
            tls: e.tls,
        })
        .collect();
    let status = if form.error.is_empty()
        && form.ae_title_error.is_empty()
        && form.host_error.is_empty()
        && form.port_error.is_empty()
        && form.description_error.is_empty()
    {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = Directory {
        ns: ns.to_string(),
        namespaces: super::namespaces(portal, ns).await,
        filter: filter.to_string(),
        rows,
        form,
        note,
        csrf: csrf.to_string(),
    };
    (status, super::render(&page)).into_response()
}

/// `GET /ae`.
pub(in super::super) async fn list(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Query(which): Query<Which>,
) -> Response {
    match super::namespace(&which.ns) {
        Ok(ns) => {
            page(
                &portal,
                &ns,
                &which.filter,
                EntryForm::default(),
                which.note,
                &session.csrf,
            )
            .await
        }
        Err(refusal) => refusal,
    }
}

/// `POST /ae`: `action` = `save` (add, or with `existing=yes` replace the
/// host, port and description of an entry) or `delete` (after the
/// confirmation, `confirm=yes`).
pub(in super::super) async fn change(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Extension(form): Extension<Form>,
) -> Response {
    let field = |n| form.get(n).unwrap_or_default().trim().to_string();
    let ns = match super::namespace(&field("ns")) {
        Ok(ns) => ns,
        Err(refusal) => return refusal,
    };
    let back = |note: &str| {
        Redirect::to(&super::link("/ae", &[("ns", ns.as_str()), ("note", note)])).into_response()
    };
    if form.get("action") == Some("delete") {
        let Ok(ae_title) = AeTitle::new(&field("ae_title")) else {
            return super::refusal(
                StatusCode::BAD_REQUEST,
                "Not an AE title",
                "Delete from the list.",
            );
        };
        if form.get("confirm") != Some("yes") {
            return super::render(&super::associations::confirmation(
                format!("Delete {ae_title} from the AE directory of {ns}?"),
                "Queries and retrieves that name it as a destination are then refused.".into(),
                "/ae",
                vec![
                    ("ns", ns.to_string()),
                    ("ae_title", ae_title.to_string()),
                    ("action", "delete".into()),
                    ("confirm", "yes".into()),
                ],
                "Delete",
                super::link("/ae", &[("ns", ns.as_str())]),
                session.csrf.clone(),
            ));
        }
        return match portal
            .admin
            .ask(ns.clone(), Request::AeDelete { ae_title })
            .await
        {
            Ok(AdminResponse::AeDeleted { entry }) => back(&format!("Deleted {}.", entry.ae_title)),
            Ok(_) => back(""),
            Err(e) => super::failure(StatusCode::BAD_REQUEST, "Not deleted", &e),
        };
    }
    let mut entry_form = EntryForm {
        ae_title: field("ae_title"),
        host: field("host"),
        port: field("port"),
        description: field("description"),
        tls: form.get("tls") == Some("yes"),
        ..EntryForm::default()
    };
    let ae_title = super::ae_title_field(&entry_form.ae_title, &mut entry_form.ae_title_error);
    if entry_form.host.is_empty() {
        entry_form.host_error = "required".into();
    } else if let Err(e) = check_host(&entry_form.host) {
        entry_form.host_error = e.to_string();
    }
    let port = match entry_form.port.parse::<u16>() {
        Ok(p) if p > 0 => Some(p),
        _ => {
            entry_form.port_error = "a port from 1 to 65535".into();
            None
        }
    };
    if let (Some(ae_title), Some(port), true) = (ae_title, port, entry_form.host_error.is_empty()) {
        match AeEntry::new(ae_title, &entry_form.host, port, &entry_form.description) {
            Err(e) => entry_form.description_error = e.to_string(),
            Ok(mut entry) => {
                entry.tls = entry_form.tls;
                // An edit changes the form's fields only: what the page
                // does not show (who may move to it) is kept.
                let request = if form.get("existing") == Some("yes") {
                    Request::AeEdit {
                        ae_title: entry.ae_title,
                        host: Some(entry.host),
                        port: Some(entry.port),
                        description: Some(entry.description),
                        move_callers: None,
                        tls: Some(entry.tls),
                    }
                } else {
                    Request::AeAdd {
                        entry,
                        overwrite: false,
                    }
                };
                match portal.admin.ask(ns.clone(), request).await {
                    Ok(AdminResponse::AeAdded { entry, .. }) => {
                        return back(&format!("Added {entry}."));
                    }
                    Ok(AdminResponse::AeEdited { entry }) => {
                        return back(&format!("Saved {entry}."));
                    }
                    Ok(_) => return back(""),
                    Err(e) => entry_form.error = e.message,
                }
            }
        }
    }
    page(&portal, &ns, "", entry_form, String::new(), &session.csrf).await
}
