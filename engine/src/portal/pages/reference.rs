//! The reference tables: Abstract Syntax (every SOP class), Transfer Syntax
//! (what the engine reads and writes) and the Dictionary (every data
//! element, with "(Code)" where the standard lists its values). Each has a
//! filter that matches any column, case-insensitive: a plain form (the
//! server filters) that `portal.js` also applies as you type.

use std::borrow::Cow;

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;

use axum::http::StatusCode;

use crate::dictionary::{self, DataElement, Row, TermList};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Filter {
    filter: String,
}

/// One cell: its text, and a link when it has one.
struct Cell {
    text: Cow<'static, str>,
    link: Option<String>,
}

/// One row, and whether the filter keeps it.
struct Line {
    shown: bool,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "portal/reference.html")]
struct Table {
    title: String,
    action: &'static str,
    /// What the filter form sends besides the filter.
    hidden: Vec<(&'static str, String)>,
    headers: &'static [&'static str],
    rows: Vec<Line>,
    shown: usize,
    filter: String,
}

fn table<T: Row>(
    title: String,
    (action, hidden): (&'static str, Vec<(&'static str, String)>),
    all: &[T],
    filter: String,
    link: impl Fn(&T, usize) -> Option<String>,
) -> Response {
    // Every row is sent, those the filter leaves out hidden: the script
    // then filters over all of them as you type.
    let rows: Vec<Line> = all
        .iter()
        .map(|row| Line {
            shown: !dictionary::filter(std::slice::from_ref(row), &filter).is_empty(),
            cells: row
                .cells()
                .into_iter()
                .enumerate()
                .map(|(column, text)| Cell {
                    link: link(row, column),
                    text,
                })
                .collect(),
        })
        .collect();
    super::render(&Table {
        title,
        action,
        hidden,
        headers: T::HEADERS,
        shown: rows.iter().filter(|r| r.shown).count(),
        rows,
        filter,
    })
}

/// `GET /reference/abstract-syntax`.
pub(in super::super) async fn abstract_syntax(Query(f): Query<Filter>) -> Response {
    table(
        "Abstract Syntax".into(),
        ("/reference/abstract-syntax", Vec::new()),
        dictionary::sop_classes(),
        f.filter,
        |_, _| None,
    )
}

/// `GET /reference/transfer-syntax`.
pub(in super::super) async fn transfer_syntax(Query(f): Query<Filter>) -> Response {
    table(
        "Transfer Syntax".into(),
        ("/reference/transfer-syntax", Vec::new()),
        &dictionary::transfer_syntaxes(),
        f.filter,
        |_, _| None,
    )
}

/// A data element with its "(Code)" column.
struct Element(&'static DataElement);

impl Row for Element {
    const HEADERS: &'static [&'static str] =
        &["Tag", "Keyword", "Name", "VR", "VM", "Retired", "Values"];

    fn cells(&self) -> Vec<Cow<'static, str>> {
        let mut cells = self.0.cells();
        cells.push(
            if dictionary::defined_terms(self.0.tag).is_some() {
                "(Code)"
            } else {
                ""
            }
            .into(),
        );
        cells
    }
}

/// `GET /reference/dictionary`.
pub(in super::super) async fn data_dictionary(Query(f): Query<Filter>) -> Response {
    let elements: Vec<Element> = dictionary::data_elements().iter().map(Element).collect();
    table(
        "Dictionary".into(),
        ("/reference/dictionary", Vec::new()),
        &elements,
        f.filter,
        |e, column| {
            (column == Element::HEADERS.len() - 1 && dictionary::defined_terms(e.0.tag).is_some())
                .then(|| super::link("/reference/codes", &[("tag", e.0.tag)]))
        },
    )
}

/// One value of a list.
struct Value {
    value: &'static str,
    meaning: &'static str,
    list: &'static TermList,
}

impl Row for Value {
    const HEADERS: &'static [&'static str] = &["Value", "Meaning", "List", "Modules"];

    fn cells(&self) -> Vec<Cow<'static, str>> {
        vec![
            self.value.into(),
            self.meaning.into(),
            self.list.heading.into(),
            self.list.modules.into(),
        ]
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(in super::super) struct Codes {
    tag: String,
    filter: String,
}

/// `GET /reference/codes?tag=(0008,0060)`: the values of one data element,
/// with their own filter.
pub(in super::super) async fn codes(Query(q): Query<Codes>) -> Response {
    let Some(terms) = dictionary::defined_terms(q.tag.trim()) else {
        return super::refusal(
            StatusCode::NOT_FOUND,
            "No values listed",
            &format!(
                "PS3.3 lists no Enumerated Values or Defined Terms for {:?}.",
                q.tag
            ),
        );
    };
    let name = dictionary::data_elements()
        .iter()
        .find(|e| e.tag == terms.tag)
        .map_or("", |e| e.name);
    let values: Vec<Value> = terms
        .lists
        .iter()
        .flat_map(|list| {
            list.values.iter().map(move |(value, meaning)| Value {
                value,
                meaning,
                list,
            })
        })
        .collect();
    table(
        format!("Values of {name} {}", terms.tag),
        ("/reference/codes", vec![("tag", terms.tag.to_string())]),
        &values,
        q.filter,
        |_, _| None,
    )
}
