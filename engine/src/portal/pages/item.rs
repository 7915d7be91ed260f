//! `GET /item?ns=…&production=…&item=…`: one item of a running production:
//! its state and queue, its settings as the production file writes them,
//! and its recent messages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::super::guard::Portal;
use crate::admin::status::ItemStatus;
use crate::admin::{MessageView, Request, Response as AdminResponse};
use crate::ids::NamespaceId;
use crate::message::MessageFilter;
use crate::message::time::format_time;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Which {
    ns: String,
    production: String,
    item: String,
}

/// A recent message, without patient data.
struct Recent {
    id: u64,
    received: String,
    status: &'static str,
    calling: String,
    sop_class: &'static str,
}

#[derive(Template)]
#[template(path = "portal/item.html")]
struct Item {
    ns: String,
    production: String,
    status: ItemStatus,
    oldest: String,
    settings: String,
    recent: Vec<Recent>,
    messages: String,
}

/// Recent messages shown.
const RECENT: usize = 20;

/// The item's table in a production file (`[services.NAME]`, …), as TOML.
fn settings(text: &str, kind: &str, item: &str) -> String {
    let section = match kind {
        "service" => "services",
        "process" => "processes",
        _ => "operations",
    };
    let Ok(file) = text.parse::<toml::Table>() else {
        return String::new();
    };
    file.get(section)
        .and_then(|s| s.get(item))
        .and_then(|t| toml::to_string_pretty(t).ok())
        .unwrap_or_default()
}

pub(in super::super) async fn item(
    State(portal): State<Portal>,
    Query(which): Query<Which>,
) -> Response {
    let Ok(ns) = NamespaceId::new(&which.ns) else {
        return super::refusal(StatusCode::BAD_REQUEST, "Not a namespace", &which.ns);
    };
    let status = match portal.admin.ask(ns.clone(), Request::Status).await {
        Ok(AdminResponse::Status { status }) => status,
        Ok(_) | Err(_) => {
            return super::refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The engine could not say its state",
                "Try again.",
            );
        }
    };
    let Some(found) = status
        .productions
        .iter()
        .filter(|p| p.namespace == ns && p.name == which.production)
        .flat_map(|p| p.items.iter())
        .find(|i| i.name == which.item)
        .cloned()
    else {
        return super::refusal(
            StatusCode::NOT_FOUND,
            "No such item",
            &format!(
                "No item {} runs in production {}/{}.",
                which.item, ns, which.production
            ),
        );
    };
    let text = match portal
        .admin
        .ask(
            ns.clone(),
            Request::ProductionShow {
                name: which.production.clone(),
            },
        )
        .await
    {
        Ok(AdminResponse::ProductionFile { file }) => file.text,
        _ => String::new(),
    };
    let filter = MessageFilter {
        production: Some(which.production.clone()),
        item: Some(which.item.clone()),
        limit: Some(RECENT),
        scan: Some(super::messages::SCAN),
        ..MessageFilter::default()
    };
    let recent: Vec<MessageView> = match portal
        .admin
        .ask(
            ns.clone(),
            Request::MessagesList {
                filter,
                every_namespace: false,
            },
        )
        .await
    {
        Ok(AdminResponse::Messages { messages, .. }) => messages,
        _ => Vec::new(),
    };
    let page = Item {
        oldest: found.oldest_queued_ms.map(format_time).unwrap_or_default(),
        settings: settings(&text, &found.kind, &found.name),
        recent: recent
            .iter()
            .map(|m| Recent {
                id: m.id.0,
                received: format_time(m.header.received_at),
                status: m.status.as_str(),
                calling: m.header.calling_ae_title.clone(),
                sop_class: crate::dictionary::sop_class_name_or_unknown(&m.header.sop_class_uid),
            })
            .collect(),
        messages: super::link(
            "/messages",
            &[
                ("ns", ns.as_str()),
                ("production", &which.production),
                ("item", &which.item),
            ],
        ),
        ns: ns.to_string(),
        production: which.production,
        status: found,
    };
    super::render(&page)
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_are_the_items_table_of_the_file() {
        let text = "version = 1\n[services.IN]\ntype = \"dicom-tcp\"\nport = 104\n\n[operations.OUT]\ntype = \"file\"\nfolder = \"/x\"\n";
        let shown = super::settings(text, "operation", "OUT");
        assert!(
            shown.contains("folder = \"/x\"") && !shown.contains("104"),
            "{shown}"
        );
        assert!(super::settings("not toml [", "service", "IN").is_empty());
    }
}
