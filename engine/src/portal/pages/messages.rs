//! The message viewer: `GET /messages` (filters, pages through the
//! store's key order newest first, reads at most [`SCAN`] messages a page,
//! shows no patient data), `GET /messages/{id}` (header, deliveries, query keys,
//! the visual trace) and resending, always behind a confirmation page:
//! `GET /messages/{id}/resend`, `POST /messages/resend`.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::guard::{Form, Portal, Session};
use super::super::trace::{Cell, Trace, layout};
use crate::admin::{MessageView, Request, Response as AdminResponse};
use crate::dictionary::sop_class_name_or_unknown;
use crate::ids::NamespaceId;
use crate::message::time::{format_time, parse_utc};
use crate::message::{DeliveryStatus, MessageFilter, MessageId};

/// Messages on one page.
pub(in super::super) const PAGE: usize = 50;

/// Messages one page reads at most: a filter that matches few of them
/// answers in bounded time, with a link to search further.
pub(in super::super) const SCAN: usize = 10_000;

/// The statuses the filter offers (empty: any).
const STATUSES: [&str; 5] = ["", "queued", "in-flight", "delivered", "failed"];

/// The filter as the form submits it (every field text, empty when unset).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Filter {
    ns: String,
    production: String,
    item: String,
    status: String,
    sop_class: String,
    since: String,
    until: String,
    before: String,
    note: String,
}

impl Filter {
    /// The filter a form carries (as hidden fields).
    fn from_form(form: &Form) -> Filter {
        let field = |n| form.get(n).unwrap_or_default().to_string();
        Filter {
            ns: field("ns"),
            production: field("production"),
            item: field("item"),
            status: String::new(),
            sop_class: field("sop_class"),
            since: field("since"),
            until: field("until"),
            before: String::new(),
            note: String::new(),
        }
    }

    /// The filter's fields, to carry it in a form.
    fn fields(&self) -> Vec<(&'static str, String)> {
        [
            ("ns", &self.ns),
            ("production", &self.production),
            ("item", &self.item),
            ("sop_class", &self.sop_class),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .map(|(n, v)| (n, v.clone()))
        .collect()
    }

    /// The filter in words, for a confirmation.
    fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("namespace", &self.ns),
            ("production", &self.production),
            ("item", &self.item),
            ("SOP class", &self.sop_class),
            ("from", &self.since),
            ("to", &self.until),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(n, v)| format!("{n} {}", v.trim()))
        .collect();
        if parts.is_empty() {
            "every namespace".into()
        } else {
            parts.join(", ")
        }
    }

    /// The store's filter for one page; the first bad field's problem.
    fn to_message_filter(&self) -> Result<MessageFilter, String> {
        let text = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
        let time = |name: &str, v: &str| match text(v) {
            None => Ok(None),
            Some(t) => parse_utc(&t).map(Some).ok_or_else(|| {
                format!("{name} {t:?} is not a UTC time: write it as 2026-12-07T08:00")
            }),
        };
        let status = match text(&self.status) {
            None => None,
            Some(s) => Some(s.parse::<DeliveryStatus>().map_err(|_| {
                format!("status {s:?} is not one of queued, in-flight, delivered, failed")
            })?),
        };
        let before = match text(&self.before) {
            None => None,
            Some(b) => Some(MessageId(
                b.parse()
                    .map_err(|_| format!("before {b:?} is not a message id"))?,
            )),
        };
        Ok(MessageFilter {
            production: text(&self.production),
            status,
            since: time("From", &self.since)?,
            limit: Some(PAGE),
            item: text(&self.item),
            sop_class: text(&self.sop_class),
            until: time("To", &self.until)?,
            before,
            scan: Some(SCAN),
        })
    }

    /// This filter's link for the page after message `last`.
    fn next_page(&self, last: MessageId) -> String {
        let last = last.0.to_string();
        super::link(
            "/messages",
            &[
                ("ns", &self.ns),
                ("production", &self.production),
                ("item", &self.item),
                ("status", &self.status),
                ("sop_class", &self.sop_class),
                ("since", &self.since),
                ("until", &self.until),
                ("before", &last),
            ],
        )
    }
}

/// A message in the list: no patient data.
struct Row {
    id: u64,
    received: String,
    namespace: String,
    source: String,
    calling: String,
    called: String,
    sop_class: &'static str,
    sop_class_uid: String,
    size: u64,
    status: &'static str,
    /// Each target with its status.
    targets: String,
    resendable: bool,
}

impl From<&MessageView> for Row {
    fn from(m: &MessageView) -> Self {
        Row {
            id: m.id.0,
            received: format_time(m.header.received_at),
            namespace: m.namespace.to_string(),
            source: format!("{}/{}", m.header.source.production, m.header.source.item),
            calling: m.header.calling_ae_title.clone(),
            called: m.header.called_ae_title.clone(),
            sop_class: sop_class_name_or_unknown(&m.header.sop_class_uid),
            sop_class_uid: m.header.sop_class_uid.clone(),
            size: m.header.size,
            status: m.status.as_str(),
            targets: m
                .deliveries
                .iter()
                .map(|d| format!("{} {}", d.target.item, d.status))
                .collect::<Vec<_>>()
                .join(", "),
            resendable: resendable(m),
        }
    }
}

/// Whether a resend can queue it again (it has its body; a query or a
/// move has none).
fn resendable(m: &MessageView) -> bool {
    m.query.is_none() && m.retrieve.is_none() && !m.body_purged
}

#[derive(Template)]
#[template(path = "portal/messages.html")]
struct List<'a> {
    filter: &'a Filter,
    namespaces: Vec<String>,
    statuses: [&'static str; 5],
    rows: Vec<Row>,
    next_page: Option<String>,
    /// The page stopped after reading this many messages.
    searched: Option<usize>,
    problem: Option<String>,
    note: Option<String>,
    csrf: &'a str,
}

impl List<'_> {
    /// The filter's fields, for the "resend every failed" form.
    fn filter_fields(&self) -> Vec<(&'static str, String)> {
        self.filter.fields()
    }

    /// Whether the filter asks for this status.
    fn status_is(&self, status: &str) -> bool {
        self.filter.status == status
    }
}

pub(in super::super) async fn list(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Query(filter): Query<Filter>,
) -> Response {
    let mut page = List {
        filter: &filter,
        namespaces: Vec::new(),
        statuses: STATUSES,
        rows: Vec::new(),
        next_page: None,
        searched: None,
        problem: None,
        note: (!filter.note.is_empty()).then(|| filter.note.clone()),
        csrf: &session.csrf,
    };
    let namespace = match filter.ns.trim() {
        "" => None,
        ns => match NamespaceId::new(ns) {
            Ok(ns) => Some(ns),
            Err(e) => {
                page.problem = Some(format!("namespace {ns:?}: {e}"));
                return super::render(&page);
            }
        },
    };
    let message_filter = match filter.to_message_filter() {
        Ok(f) => f,
        Err(problem) => {
            page.problem = Some(problem);
            return super::render(&page);
        }
    };
    let request = Request::MessagesList {
        filter: message_filter,
        every_namespace: namespace.is_none(),
    };
    match portal
        .admin
        .ask(namespace.unwrap_or_default(), request)
        .await
    {
        Ok(AdminResponse::Messages {
            messages,
            namespaces,
            more_before,
        }) => {
            page.namespaces = namespaces.iter().map(ToString::to_string).collect();
            page.rows = messages.iter().map(Row::from).collect();
            if messages.len() == PAGE {
                page.next_page = messages.last().map(|m| filter.next_page(m.id));
            } else if let Some(stop) = more_before {
                page.searched = Some(SCAN);
                page.next_page = Some(filter.next_page(stop));
            }
            super::render(&page)
        }
        Ok(_) => super::unexpected(),
        Err(e) => super::failure(StatusCode::INTERNAL_SERVER_ERROR, "Messages", &e),
    }
}

/// A delivery as the message page shows it.
struct DeliveryRow {
    target: String,
    status: &'static str,
    attempts: u32,
    last_error: String,
    reason: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "portal/message.html")]
struct Show {
    m: MessageView,
    received: String,
    sop_class: &'static str,
    deliveries: Vec<DeliveryRow>,
    resendable: bool,
    trace: Trace,
    note: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Note {
    note: String,
}

/// A message by id, wherever it is.
async fn message(portal: &Portal, id: u64) -> Result<MessageView, Response> {
    let request = Request::MessagesShow {
        id: MessageId(id),
        every_namespace: true,
    };
    match portal.admin.ask(NamespaceId::default(), request).await {
        Ok(AdminResponse::Message { message }) => Ok(*message),
        Ok(_) => Err(super::unexpected()),
        Err(e) => Err(super::failure(StatusCode::NOT_FOUND, "No such message", &e)),
    }
}

pub(in super::super) async fn show(
    State(portal): State<Portal>,
    Path(id): Path<u64>,
    Query(note): Query<Note>,
) -> Response {
    let m = match message(&portal, id).await {
        Ok(m) => m,
        Err(refusal) => return refusal,
    };
    let page = Show {
        received: format_time(m.header.received_at),
        sop_class: sop_class_name_or_unknown(&m.header.sop_class_uid),
        deliveries: m
            .deliveries
            .iter()
            .map(|d| DeliveryRow {
                target: format!("{}/{}", d.target.production, d.target.item),
                status: d.status.as_str(),
                attempts: d.attempts,
                // A delivery that failed for good has its last error as
                // its reason: shown once.
                last_error: d
                    .last_error
                    .clone()
                    .filter(|e| Some(e) != d.reason.as_ref())
                    .unwrap_or_default(),
                reason: d.reason.clone().unwrap_or_default(),
                updated: format_time(d.updated_at),
            })
            .collect(),
        resendable: resendable(&m),
        trace: layout(&m),
        note: (!note.note.is_empty()).then_some(note.note),
        m,
    };
    super::render(&page)
}

#[derive(Template)]
#[template(path = "portal/resend.html")]
struct Confirm<'a> {
    ids: Vec<u64>,
    csrf: &'a str,
}

/// `GET /messages/{id}/resend`: the confirmation for one message.
pub(in super::super) async fn confirm_one(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Path(id): Path<u64>,
) -> Response {
    if let Err(refusal) = message(&portal, id).await {
        return refusal;
    }
    super::render(&Confirm {
        ids: vec![id],
        csrf: &session.csrf,
    })
}

/// `POST /messages/resend`: the selected messages (`id`, repeated); asks
/// first, resends when the confirmation (`confirm=yes`) comes back.
pub(in super::super) async fn resend(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Extension(form): Extension<Form>,
) -> Response {
    let ids: Result<Vec<u64>, _> = form.all("id").map(str::parse::<u64>).collect();
    let ids = match ids {
        Ok(ids) if !ids.is_empty() => ids,
        Ok(_) => {
            return super::refusal(
                StatusCode::BAD_REQUEST,
                "Nothing selected",
                "Tick the messages to resend in the list first.",
            );
        }
        Err(_) => {
            return super::refusal(
                StatusCode::BAD_REQUEST,
                "Not a message id",
                "A selected message id is not a number; resend from the message list.",
            );
        }
    };
    if form.get("confirm") != Some("yes") {
        return super::render(&Confirm {
            ids,
            csrf: &session.csrf,
        });
    }
    let request = Request::MessagesResend {
        ids: ids.iter().copied().map(MessageId).collect(),
        all_failed: false,
        every_namespace: true,
        matching: None,
    };
    match portal.admin.ask(NamespaceId::default(), request).await {
        Ok(AdminResponse::Resent { resent, .. }) => {
            let targets: usize = resent.iter().map(|(_, t)| t.len()).sum();
            let note = format!(
                "Queued again: {} message(s), {targets} delivery(ies).",
                resent.len()
            );
            let to = match ids.as_slice() {
                [one] => super::link(&format!("/messages/{one}"), &[("note", &note)]),
                _ => super::link("/messages", &[("note", &note)]),
            };
            Redirect::to(&to).into_response()
        }
        Ok(_) => super::unexpected(),
        Err(e) => super::failure(StatusCode::CONFLICT, "Not resent", &e),
    }
}

/// `POST /messages/resend-failed`: every failed message the filter (in the
/// form) matches, for its failed targets; asks first.
pub(in super::super) async fn resend_failed(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Extension(form): Extension<Form>,
) -> Response {
    let filter = Filter::from_form(&form);
    let matching = match filter.to_message_filter() {
        Ok(f) => f,
        Err(problem) => return super::refusal(StatusCode::BAD_REQUEST, "Not resent", &problem),
    };
    let namespace = match filter.ns.trim() {
        "" => None,
        ns => match NamespaceId::new(ns) {
            Ok(ns) => Some(ns),
            Err(e) => {
                return super::refusal(StatusCode::BAD_REQUEST, "Not a namespace", &e.to_string());
            }
        },
    };
    if form.get("confirm") != Some("yes") {
        let mut fields = filter.fields();
        fields.push(("confirm", "yes".into()));
        return super::render(&super::associations::confirmation(
            "Resend every failed message that matches?".into(),
            format!(
                "Every message with a failed delivery and {}: each is queued again for the targets it failed for.",
                filter.describe()
            ),
            "/messages/resend-failed",
            fields,
            "Resend",
            "/messages".into(),
            session.csrf.clone(),
        ));
    }
    let request = Request::MessagesResend {
        ids: Vec::new(),
        all_failed: true,
        every_namespace: namespace.is_none(),
        matching: Some(matching),
    };
    match portal
        .admin
        .ask(namespace.unwrap_or_default(), request)
        .await
    {
        Ok(AdminResponse::Resent { resent, .. }) => {
            let targets: usize = resent.iter().map(|(_, t)| t.len()).sum();
            let note = format!(
                "Queued again: {} message(s), {targets} delivery(ies).",
                resent.len()
            );
            let mut params: Vec<(&str, String)> = filter.fields();
            params.push(("note", note));
            let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
            Redirect::to(&super::link("/messages", &params)).into_response()
        }
        Ok(_) => super::unexpected(),
        Err(e) => super::failure(StatusCode::CONFLICT, "Not resent", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::SubOperationView;
    use crate::message::{
        DeliveryStatus, ItemAddress, MessageHeader, MessageRecord, RetrieveTrace, UpstreamEnd,
    };

    #[test]
    fn a_move_shows_its_destination_counts_and_each_instance_with_a_link() {
        let header = MessageHeader {
            source: ItemAddress::new("p", "IN"),
            received_at: 1_000,
            sop_class_uid: "1.2.840.10008.5.1.4.1.2.2.2".into(),
            sop_instance_uid: String::new(),
            transfer_syntax: "1.2.840.10008.1.2".into(),
            calling_ae_title: "VIEWER".into(),
            called_ae_title: "ROUTER".into(),
            origin: "127.0.0.1:4000".into(),
            size: 20,
            body: String::new(),
            sub_operation: None,
        };
        let trace = RetrieveTrace {
            level: "STUDY".into(),
            keys: Vec::new(),
            destination: "STORESCP".into(),
            sub_operations: vec![MessageId(8)],
            completed: 0,
            failed: 1,
            warning: 0,
            status: 0xA702,
            error_comment: None,
            duration_ms: 12,
        };
        let upstream = UpstreamEnd {
            target: ItemAddress::new("p", "PACS"),
            status: Some(0),
            error_comment: None,
            duration_ms: 10,
        };
        let record = MessageRecord::retrieve(
            MessageId(7),
            NamespaceId::default(),
            header,
            trace,
            &upstream,
        );
        let mut m: MessageView = record.into();
        m.sub_operations = vec![SubOperationView {
            id: MessageId(8),
            sop_instance_uid: "1.2.3.4".into(),
            status: DeliveryStatus::Failed,
            reason: Some("connection refused".into()),
        }];
        assert!(!resendable(&m));
        let page = Show {
            received: String::new(),
            sop_class: "",
            deliveries: Vec::new(),
            resendable: false,
            trace: layout(&m),
            note: None,
            m,
        };
        let html = page.render().unwrap();
        assert!(html.contains("STUDY level to STORESCP"), "{html}");
        assert!(html.contains("<a href=\"/messages/8\">8</a>"), "{html}");
        assert!(html.contains("connection refused"), "{html}");
        assert!(!html.contains("SOP instance UID</dt>"), "{html}");
    }
}
