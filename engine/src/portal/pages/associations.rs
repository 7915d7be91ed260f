//! DICOM Settings: the associations of a namespace (list with a filter,
//! create, edit, delete with confirmation), an association's presentation
//! contexts (add one from every known SOP class, remove one), a context's
//! transfer syntaxes moved between Available and Selected and ordered (the
//! order is the preference), import of a `SOP\TS` file, export, and
//! "create for every SOP class". Every change is one admin request. Echo
//! and Test against a peer are in [`super::probe`].
//!
//! An association is named by its pair in the query string
//! (`?ns=…&calling=…&called=…`): AE titles may hold spaces and `*`.

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::guard::{Form, Portal, Session};
use crate::admin::{AssociationView, ErrorReply, Request, Response as AdminResponse};
use crate::association::model::{check_description, check_name};
use crate::association::{AeTitle, CertificateBinding, Uid, import};
use crate::dictionary::{self, SopClass, TransferSyntaxInfo};
use crate::ids::NamespaceId;

/// What a GET names: the namespace, the pair, filters, a note to show.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Which {
    ns: String,
    calling: String,
    called: String,
    /// The list's filter.
    filter: String,
    /// The abstract-syntax picker's filter.
    sop: String,
    abstract_syntax: String,
    note: String,
}

/// The pair a page or form names.
fn pair(calling: &str, called: &str) -> Result<(AeTitle, AeTitle), Response> {
    let title = |which: &str, text: &str| {
        AeTitle::new(text).map_err(|e| {
            super::refusal(
                StatusCode::BAD_REQUEST,
                "Not an AE title",
                &format!("{which} AE title {text:?}: {e}"),
            )
        })
    };
    Ok((title("calling", calling)?, title("called", called)?))
}

/// The link to a page of an association, with more parameters.
fn pair_link(path: &str, ns: &NamespaceId, a: &AssociationView, more: &[(&str, &str)]) -> String {
    pair_url(path, ns, &a.calling_aet, &a.called_aet, more)
}

/// The link to a page of the pair (calling, called), with more parameters.
fn pair_url(
    path: &str,
    ns: &NamespaceId,
    calling: &AeTitle,
    called: &AeTitle,
    more: &[(&str, &str)],
) -> String {
    let mut params = vec![
        ("ns", ns.as_str()),
        ("calling", calling.as_str()),
        ("called", called.as_str()),
    ];
    params.extend_from_slice(more);
    super::link(path, &params)
}

fn refused(error: &ErrorReply) -> Response {
    super::failure(StatusCode::BAD_REQUEST, "Not changed", error)
}

/// A transfer syntax for a picker: UID and name.
struct Syntax {
    uid: String,
    name: &'static str,
}

impl Syntax {
    fn of(uid: &str) -> Syntax {
        Syntax {
            uid: uid.to_string(),
            name: dictionary::transfer_syntax_name_or_unknown(uid),
        }
    }
}

/// Every transfer syntax the engine can read and write.
fn known_syntaxes() -> Vec<TransferSyntaxInfo> {
    dictionary::transfer_syntaxes()
}

// ---- the list, and a new association ----

/// The "new association" form with what is wrong with each field.
#[derive(Default)]
struct NewForm {
    calling: String,
    called: String,
    name: String,
    description: String,
    calling_error: String,
    called_error: String,
    name_error: String,
    description_error: String,
    error: String,
}

#[derive(Template)]
#[template(path = "portal/associations.html")]
struct List {
    ns: String,
    namespaces: Vec<String>,
    filter: String,
    rows: Vec<ListRow>,
    new: NewForm,
    note: String,
    csrf: String,
}

struct ListRow {
    link: String,
    calling: String,
    called: String,
    name: String,
    description: String,
    contexts: usize,
}

async fn list_page(
    portal: &Portal,
    ns: &NamespaceId,
    filter: &str,
    new: NewForm,
    note: String,
    csrf: &str,
) -> Result<List, Response> {
    let associations = match portal.admin.ask(ns.clone(), Request::List).await {
        Ok(AdminResponse::Associations { associations }) => associations,
        Ok(_) => return Err(super::unexpected()),
        Err(e) => {
            return Err(super::failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Associations",
                &e,
            ));
        }
    };
    let needle = filter.trim().to_lowercase();
    let rows = associations
        .iter()
        .filter(|a| {
            needle.is_empty()
                || [
                    a.calling_aet.as_str(),
                    a.called_aet.as_str(),
                    &a.name,
                    &a.description,
                ]
                .iter()
                .any(|c| c.to_lowercase().contains(&needle))
        })
        .map(|a| ListRow {
            link: pair_link("/associations/show", ns, a, &[]),
            calling: a.calling_aet.to_string(),
            called: a.called_aet.to_string(),
            name: a.name.clone(),
            description: a.description.clone(),
            contexts: a.presentation_contexts.len(),
        })
        .collect();
    Ok(List {
        ns: ns.to_string(),
        namespaces: super::namespaces(portal, ns).await,
        filter: filter.to_string(),
        rows,
        new,
        note,
        csrf: csrf.to_string(),
    })
}

/// `GET /associations`.
pub(in super::super) async fn list(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Query(which): Query<Which>,
) -> Response {
    let ns = match super::namespace(&which.ns) {
        Ok(ns) => ns,
        Err(refusal) => return refusal,
    };
    match list_page(
        &portal,
        &ns,
        &which.filter,
        NewForm::default(),
        which.note,
        &session.csrf,
    )
    .await
    {
        Ok(page) => super::render(&page),
        Err(refusal) => refusal,
    }
}

/// `POST /associations/add`: a new association without contexts; every bad
/// field is shown in red on the list page, and nothing is stored.
pub(in super::super) async fn add(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Extension(form): Extension<Form>,
) -> Response {
    let field = |n| form.get(n).unwrap_or_default().trim().to_string();
    let ns = match super::namespace(&field("ns")) {
        Ok(ns) => ns,
        Err(refusal) => return refusal,
    };
    let mut new = NewForm {
        calling: field("calling"),
        called: field("called"),
        name: field("name"),
        description: field("description"),
        ..NewForm::default()
    };
    let calling = super::ae_title_field(&new.calling, &mut new.calling_error);
    let called = super::ae_title_field(&new.called, &mut new.called_error);
    if let Err(e) = check_name(&new.name) {
        new.name_error = e.to_string();
    }
    if let Err(e) = check_description(&new.description) {
        new.description_error = e.to_string();
    }
    if let (Some(calling_aet), Some(called_aet), true, true) = (
        calling,
        called,
        new.name_error.is_empty(),
        new.description_error.is_empty(),
    ) {
        let request = Request::Add {
            calling_aet,
            called_aet,
            name: new.name.clone(),
            description: new.description.clone(),
            max_pdu_length: None,
            certificates: Vec::new(),
        };
        match portal.admin.ask(ns.clone(), request).await {
            Ok(AdminResponse::Added { association }) => {
                return Redirect::to(&pair_link("/associations/show", &ns, &association, &[]))
                    .into_response();
            }
            Ok(_) => return super::unexpected(),
            Err(e) => new.error = e.message,
        }
    }
    match list_page(&portal, &ns, "", new, String::new(), &session.csrf).await {
        Ok(page) => (StatusCode::BAD_REQUEST, super::render(&page)).into_response(),
        Err(refusal) => refusal,
    }
}

// ---- one association ----

/// One presentation context as the association page shows it.
struct ContextRow {
    sop_class: &'static str,
    uid: String,
    syntaxes: Vec<Syntax>,
    link: String,
}

#[derive(Template)]
#[template(path = "portal/association.html")]
struct Show {
    ns: String,
    a: AssociationView,
    max_pdu: String,
    /// The certificate bindings, one per line.
    certificates: String,
    contexts: Vec<ContextRow>,
    sop: String,
    sop_classes: Vec<&'static SopClass>,
    syntaxes: Vec<TransferSyntaxInfo>,
    export: String,
    delete: String,
    note: String,
    csrf: String,
}

/// The association a page names.
pub(super) async fn association(
    portal: &Portal,
    ns: &NamespaceId,
    calling: &str,
    called: &str,
) -> Result<AssociationView, Response> {
    let (calling_aet, called_aet) = pair(calling, called)?;
    let request = Request::Show {
        calling_aet,
        called_aet,
    };
    match portal.admin.ask(ns.clone(), request).await {
        Ok(AdminResponse::Association { association }) => Ok(association),
        Ok(_) => Err(super::unexpected()),
        Err(e) => Err(super::failure(
            StatusCode::NOT_FOUND,
            "No such association",
            &e,
        )),
    }
}

/// The namespace and the association a page names.
async fn named(portal: &Portal, which: &Which) -> Result<(NamespaceId, AssociationView), Response> {
    let ns = super::namespace(&which.ns)?;
    let a = association(portal, &ns, &which.calling, &which.called).await?;
    Ok((ns, a))
}

/// `GET /associations/show`.
pub(in super::super) async fn show(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Query(which): Query<Which>,
) -> Response {
    let (ns, a) = match named(&portal, &which).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let contexts = a
        .presentation_contexts
        .iter()
        .map(|pc| ContextRow {
            sop_class: dictionary::sop_class_name_or_unknown(pc.abstract_syntax.as_str()),
            uid: pc.abstract_syntax.to_string(),
            syntaxes: pc
                .transfer_syntaxes
                .iter()
                .map(|t| Syntax::of(t.as_str()))
                .collect(),
            link: pair_link(
                "/associations/context",
                &ns,
                &a,
                &[("abstract_syntax", pc.abstract_syntax.as_str())],
            ),
        })
        .collect();
    let page = Show {
        ns: ns.to_string(),
        max_pdu: a.max_pdu_length.map(|n| n.to_string()).unwrap_or_default(),
        certificates: a
            .certificates
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        contexts,
        sop_classes: dictionary::filter(dictionary::sop_classes(), &which.sop)
            .into_iter()
            .filter(|s| {
                a.presentation_contexts
                    .iter()
                    .all(|pc| pc.abstract_syntax.as_str() != s.uid)
            })
            .collect(),
        sop: which.sop,
        syntaxes: known_syntaxes(),
        export: pair_link("/associations/export", &ns, &a, &[]),
        delete: pair_link("/associations/delete", &ns, &a, &[]),
        note: which.note,
        csrf: session.csrf.clone(),
        a,
    };
    super::render(&page)
}

/// Where a form about one association came from, and the association.
pub(super) struct Posted {
    pub(super) ns: NamespaceId,
    pub(super) calling_aet: AeTitle,
    pub(super) called_aet: AeTitle,
}

impl Posted {
    pub(super) fn of(form: &Form) -> Result<Posted, Response> {
        let ns = super::namespace(form.get("ns").unwrap_or_default())?;
        let (calling_aet, called_aet) = pair(
            form.get("calling").unwrap_or_default(),
            form.get("called").unwrap_or_default(),
        )?;
        Ok(Posted {
            ns,
            calling_aet,
            called_aet,
        })
    }

    /// A page of this association, with a note.
    pub(super) fn link(&self, path: &str, more: &[(&str, &str)]) -> String {
        pair_url(path, &self.ns, &self.calling_aet, &self.called_aet, more)
    }
}

/// `POST /associations/edit`: name, description, maximum PDU length
/// (empty: the service's), certificate bindings (one per line; none:
/// unbound).
pub(in super::super) async fn edit(
    State(portal): State<Portal>,
    Extension(form): Extension<Form>,
) -> Response {
    let p = match Posted::of(&form) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let max = form.get("max_pdu_length").unwrap_or_default().trim();
    let max_pdu_length = match max {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                return super::refusal(
                    StatusCode::BAD_REQUEST,
                    "Not changed",
                    &format!("maximum PDU length {n:?} is not a number of bytes"),
                );
            }
        },
    };
    let certificates = form.get("certificates").map(|text| {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<CertificateBinding>, _>>()
    });
    let certificates = match certificates.transpose() {
        Ok(certificates) => certificates,
        Err(e) => return super::refusal(StatusCode::BAD_REQUEST, "Not changed", &e.to_string()),
    };
    let request = Request::Edit {
        calling_aet: p.calling_aet.clone(),
        called_aet: p.called_aet.clone(),
        name: form.get("name").map(|s| s.trim().to_string()),
        description: form.get("description").map(|s| s.trim().to_string()),
        max_pdu_length,
        clear_max_pdu_length: max_pdu_length.is_none(),
        certificates,
    };
    match portal.admin.ask(p.ns.clone(), request).await {
        Ok(_) => Redirect::to(&p.link("/associations/show", &[("note", "Saved.")])).into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(Template)]
#[template(path = "portal/confirm.html")]
struct Confirm {
    title: String,
    text: String,
    action: &'static str,
    fields: Vec<(&'static str, String)>,
    button: &'static str,
    cancel: String,
    csrf: String,
}

/// A confirmation page: a POST of `fields` to `action` when confirmed.
pub(in super::super) fn confirmation(
    title: String,
    text: String,
    action: &'static str,
    fields: Vec<(&'static str, String)>,
    button: &'static str,
    cancel: String,
    csrf: String,
) -> impl Template {
    Confirm {
        title,
        text,
        action,
        fields,
        button,
        cancel,
        csrf,
    }
}

/// `GET /associations/delete`: the confirmation.
pub(in super::super) async fn confirm_delete(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Query(which): Query<Which>,
) -> Response {
    let (ns, a) = match named(&portal, &which).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    super::render(&Confirm {
        title: format!("Delete association {}?", a.key()),
        text: format!(
            "Its {} presentation context(s) go with it; peers of this pair are then negotiated by a wildcard association, if any.",
            a.presentation_contexts.len()
        ),
        action: "/associations/delete",
        fields: vec![
            ("ns", ns.to_string()),
            ("calling", a.calling_aet.to_string()),
            ("called", a.called_aet.to_string()),
        ],
        button: "Delete",
        cancel: pair_link("/associations/show", &ns, &a, &[]),
        csrf: session.csrf,
    })
}

/// `POST /associations/delete`.
pub(in super::super) async fn delete(
    State(portal): State<Portal>,
    Extension(form): Extension<Form>,
) -> Response {
    let p = match Posted::of(&form) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let request = Request::Delete {
        calling_aet: p.calling_aet.clone(),
        called_aet: p.called_aet.clone(),
    };
    match portal.admin.ask(p.ns.clone(), request).await {
        Ok(AdminResponse::Deleted { association }) => {
            let note = format!("Deleted association {}.", association.key());
            Redirect::to(&super::link(
                "/associations",
                &[("ns", p.ns.as_str()), ("note", &note)],
            ))
            .into_response()
        }
        Ok(_) => super::unexpected(),
        Err(e) => refused(&e),
    }
}

/// `GET /associations/export`: the import file, as a download.
pub(in super::super) async fn export(
    State(portal): State<Portal>,
    Query(which): Query<Which>,
) -> Response {
    let ns = match super::namespace(&which.ns) {
        Ok(ns) => ns,
        Err(refusal) => return refusal,
    };
    let (calling_aet, called_aet) = match pair(&which.calling, &which.called) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let file = format!(
        "{}-{}.txt",
        calling_aet
            .as_str()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        called_aet
            .as_str()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    );
    let request = Request::Export {
        calling_aet,
        called_aet,
    };
    match portal.admin.ask(ns, request).await {
        Ok(AdminResponse::Exported { text, .. }) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                ),
            ],
            text,
        )
            .into_response(),
        Ok(_) => super::unexpected(),
        Err(e) => super::failure(StatusCode::NOT_FOUND, "No such association", &e),
    }
}

// ---- presentation contexts ----

#[derive(Template)]
#[template(path = "portal/context.html")]
struct ContextPage {
    ns: String,
    a: AssociationView,
    sop_class: &'static str,
    abstract_syntax: String,
    available: Vec<Syntax>,
    selected: Vec<Syntax>,
    back: String,
    note: String,
    csrf: String,
}

/// `GET /associations/context`: a context's transfer syntaxes, Available
/// and Selected.
pub(in super::super) async fn context(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Query(which): Query<Which>,
) -> Response {
    let (ns, a) = match named(&portal, &which).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let Some(pc) = a
        .presentation_contexts
        .iter()
        .find(|pc| pc.abstract_syntax.as_str() == which.abstract_syntax)
    else {
        return super::refusal(
            StatusCode::NOT_FOUND,
            "No such presentation context",
            &format!(
                "Association {} has no presentation context for {}.",
                a.key(),
                which.abstract_syntax
            ),
        );
    };
    let selected: Vec<Syntax> = pc
        .transfer_syntaxes
        .iter()
        .map(|t| Syntax::of(t.as_str()))
        .collect();
    let available = known_syntaxes()
        .into_iter()
        .filter(|t| selected.iter().all(|s| s.uid != t.uid))
        .map(|t| Syntax::of(t.uid))
        .collect();
    super::render(&ContextPage {
        ns: ns.to_string(),
        sop_class: dictionary::sop_class_name_or_unknown(&which.abstract_syntax),
        abstract_syntax: which.abstract_syntax.clone(),
        available,
        selected,
        back: pair_link("/associations/show", &ns, &a, &[]),
        note: which.note,
        csrf: session.csrf,
        a,
    })
}

/// The new Selected list after a move: `select` appends the picked
/// available ones, `deselect` drops the picked selected ones, `up` and
/// `down` move each picked one a step. Pure.
pub(in super::super) fn moved(
    current: &[String],
    action: &str,
    picked_available: &[String],
    picked_selected: &[String],
) -> Vec<String> {
    let mut list = current.to_vec();
    match action {
        "select" => {
            for t in picked_available {
                if !list.contains(t) {
                    list.push(t.clone());
                }
            }
        }
        "deselect" => list.retain(|t| !picked_selected.contains(t)),
        "up" => {
            for i in 1..list.len() {
                if picked_selected.contains(&list[i]) && !picked_selected.contains(&list[i - 1]) {
                    list.swap(i - 1, i);
                }
            }
        }
        "down" => {
            for i in (0..list.len().saturating_sub(1)).rev() {
                if picked_selected.contains(&list[i]) && !picked_selected.contains(&list[i + 1]) {
                    list.swap(i, i + 1);
                }
            }
        }
        _ => {}
    }
    list
}

/// Parses UIDs of a form field.
fn uids(values: &[String]) -> Result<Vec<Uid>, Response> {
    values
        .iter()
        .map(|v| {
            Uid::new(v).map_err(|e| {
                super::refusal(StatusCode::BAD_REQUEST, "Not a UID", &format!("{v:?}: {e}"))
            })
        })
        .collect()
}

/// `POST /associations/context`: `action` = `add` (an abstract syntax with
/// the picked transfer syntaxes, Implicit VR Little Endian when none),
/// `remove` (the whole context), or a move of `select`, `deselect`, `up`,
/// `down` (see [`moved`]).
pub(in super::super) async fn context_change(
    State(portal): State<Portal>,
    Extension(form): Extension<Form>,
) -> Response {
    let p = match Posted::of(&form) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let abstract_syntax = form.get("abstract_syntax").unwrap_or_default().to_string();
    let values = |name| form.all(name).map(str::to_string).collect::<Vec<_>>();
    let Ok(uid) = Uid::new(&abstract_syntax) else {
        return super::refusal(
            StatusCode::BAD_REQUEST,
            "Pick an abstract syntax",
            "Choose the SOP class of the new presentation context in the list.",
        );
    };
    let context_page = p.link(
        "/associations/context",
        &[("abstract_syntax", &abstract_syntax)],
    );
    let action = form.get("action").unwrap_or_default();
    let (request, then) = match action {
        "add" => {
            let mut picked = values("transfer_syntax");
            if picked.is_empty() {
                picked.push(Uid::implicit_vr_little_endian().to_string());
            }
            let transfer_syntaxes = match uids(&picked) {
                Ok(t) => t,
                Err(refusal) => return refusal,
            };
            (
                Request::ContextAdd {
                    calling_aet: p.calling_aet.clone(),
                    called_aet: p.called_aet.clone(),
                    abstract_syntax: uid,
                    transfer_syntaxes,
                },
                context_page,
            )
        }
        "remove" => (
            Request::ContextRemove {
                calling_aet: p.calling_aet.clone(),
                called_aet: p.called_aet.clone(),
                abstract_syntax: uid,
                transfer_syntax: None,
            },
            p.link(
                "/associations/show",
                &[("note", "Presentation context removed.")],
            ),
        ),
        "select" | "deselect" | "up" | "down" => {
            let current = values("current");
            let list = moved(&current, action, &values("available"), &values("selected"));
            if list == current {
                return Redirect::to(&context_page).into_response();
            }
            let transfer_syntaxes = match uids(&list) {
                Ok(t) => t,
                Err(refusal) => return refusal,
            };
            (
                Request::ContextSet {
                    calling_aet: p.calling_aet.clone(),
                    called_aet: p.called_aet.clone(),
                    abstract_syntax: uid,
                    transfer_syntaxes,
                },
                context_page,
            )
        }
        other => {
            return super::refusal(
                StatusCode::BAD_REQUEST,
                "Unknown action",
                &format!("{other:?} is not an action of this page"),
            );
        }
    };
    match portal.admin.ask(p.ns.clone(), request).await {
        Ok(_) => Redirect::to(&then).into_response(),
        Err(e) => refused(&e),
    }
}

// ---- import and create ----

#[derive(Template)]
#[template(path = "portal/import.html")]
struct ImportPage {
    ns: String,
    calling: String,
    called: String,
    overwrite: bool,
    errors: Vec<String>,
    syntaxes: Vec<TransferSyntaxInfo>,
    csrf: String,
}

/// `GET /associations/import`.
pub(in super::super) async fn import_page(
    Extension(session): Extension<Session>,
    Query(which): Query<Which>,
) -> Response {
    super::render(&ImportPage {
        ns: which.ns,
        calling: which.calling,
        called: which.called,
        overwrite: false,
        errors: Vec::new(),
        syntaxes: known_syntaxes(),
        csrf: session.csrf,
    })
}

/// `POST /associations/import`: the uploaded file parsed as the CLI parses
/// it; every bad line is reported with its number and nothing is stored.
pub(in super::super) async fn import(
    State(portal): State<Portal>,
    Extension(session): Extension<Session>,
    Extension(form): Extension<Form>,
) -> Response {
    let field = |n| form.get(n).unwrap_or_default().trim().to_string();
    let mut page = ImportPage {
        ns: field("ns"),
        calling: field("calling"),
        called: field("called"),
        overwrite: form.get("overwrite") == Some("yes"),
        errors: Vec::new(),
        syntaxes: known_syntaxes(),
        csrf: session.csrf.clone(),
    };
    let p = match Posted::of(&form) {
        Ok(p) => p,
        Err(_) => {
            page.errors
                .push("Give the calling and called AE titles (at most 16 characters each).".into());
            return (StatusCode::BAD_REQUEST, super::render(&page)).into_response();
        }
    };
    let text = form.get("file").unwrap_or_default();
    let file = match import::parse_file("the uploaded file", text.as_bytes()) {
        Ok(file) => file,
        Err(e) => {
            page.errors = e.to_string().lines().map(str::to_string).collect();
            page.errors.push("Nothing was imported.".into());
            return (StatusCode::BAD_REQUEST, super::render(&page)).into_response();
        }
    };
    let request = Request::Import {
        calling_aet: p.calling_aet.clone(),
        called_aet: p.called_aet.clone(),
        presentation_contexts: file.presentation_contexts,
        overwrite: page.overwrite,
        certificates: file.certificates,
    };
    match portal.admin.ask(p.ns.clone(), request).await {
        Ok(AdminResponse::Imported { association, .. }) => {
            let note = format!(
                "Imported {} presentation context(s).",
                association.presentation_contexts.len()
            );
            Redirect::to(&p.link("/associations/show", &[("note", &note)])).into_response()
        }
        Ok(_) => super::unexpected(),
        Err(e) => {
            page.errors.push(e.message);
            page.errors.extend(e.causes);
            (StatusCode::BAD_REQUEST, super::render(&page)).into_response()
        }
    }
}

/// `POST /associations/create`: one context for every SOP class, each with
/// the picked transfer syntaxes in their order.
pub(in super::super) async fn create(
    State(portal): State<Portal>,
    Extension(form): Extension<Form>,
) -> Response {
    let p = match Posted::of(&form) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let picked: Vec<String> = form.all("transfer_syntax").map(str::to_string).collect();
    let transfer_syntaxes = match uids(&picked) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let request = Request::Create {
        calling_aet: p.calling_aet.clone(),
        called_aet: p.called_aet.clone(),
        transfer_syntaxes,
        overwrite: form.get("overwrite") == Some("yes"),
    };
    match portal.admin.ask(p.ns.clone(), request).await {
        Ok(AdminResponse::Created { association, .. }) => {
            let note = format!(
                "Created {} presentation context(s).",
                association.presentation_contexts.len()
            );
            Redirect::to(&p.link("/associations/show", &[("note", &note)])).into_response()
        }
        Ok(_) => super::unexpected(),
        Err(e) => refused(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::moved;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn moves_keep_the_selected_order_as_the_preference() {
        let current = list(&["a", "b", "c"]);
        assert_eq!(
            moved(&current, "select", &list(&["d", "a"]), &[]),
            list(&["a", "b", "c", "d"])
        );
        assert_eq!(
            moved(&current, "deselect", &[], &list(&["b"])),
            list(&["a", "c"])
        );
        assert_eq!(
            moved(&current, "up", &[], &list(&["c"])),
            list(&["a", "c", "b"])
        );
        assert_eq!(
            moved(&current, "up", &[], &list(&["a", "c"])),
            list(&["a", "c", "b"])
        );
        assert_eq!(
            moved(&current, "down", &[], &list(&["a"])),
            list(&["b", "a", "c"])
        );
        assert_eq!(moved(&current, "down", &[], &list(&["b", "c"])), current);
        assert_eq!(moved(&current, "sideways", &[], &list(&["a"])), current);
    }
}
