//! `switchboard abstract-syntax|transfer-syntax|dictionary [FILTER]`: the
//! standard's reference tables as aligned text tables (or JSON), filtered as
//! the reference screens filter: a case-insensitive substring over every
//! column. The tables and the filter live in [`crate::dictionary`]; this file
//! only prints.

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::association::Uid;
use crate::dictionary::{self, Row, UNKNOWN};

/// Arguments of the three reference commands.
#[derive(Debug, Clone, Args)]
pub struct ReferenceArgs {
    /// Show only rows with a column that contains this text, ignoring case
    /// (several words are one text: `explicit vr little`).
    #[arg(value_name = "FILTER", num_args = 0..)]
    pub filter: Vec<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl ReferenceArgs {
    fn text(&self) -> String {
        self.filter.join(" ")
    }
}

/// `switchboard abstract-syntax [FILTER]`: every SOP class of the registry.
///
/// # Errors
/// Only when stdout cannot be written.
pub fn abstract_syntax(args: &ReferenceArgs) -> anyhow::Result<()> {
    let text = args.text();
    let rows = dictionary::filter(dictionary::sop_classes(), &text);
    let unknown = unknown_uid(&rows, &text);
    print(args, &rows, unknown)
}

/// `switchboard transfer-syntax [FILTER]`: every transfer syntax of the registry.
///
/// # Errors
/// Only when stdout cannot be written.
pub fn transfer_syntax(args: &ReferenceArgs) -> anyhow::Result<()> {
    let text = args.text();
    let all = dictionary::transfer_syntaxes();
    let rows = dictionary::filter(&all, &text);
    let unknown = unknown_uid(&rows, &text);
    print(args, &rows, unknown)
}

/// `switchboard dictionary [FILTER]`: every data element of the standard.
///
/// # Errors
/// Only when stdout cannot be written.
pub fn dictionary(args: &ReferenceArgs) -> anyhow::Result<()> {
    let rows = dictionary::filter(dictionary::data_elements(), &args.text());
    print(args, &rows, None)
}

/// When nothing matched and the filter is a syntactically valid UID, that
/// UID: the table then shows it named [`UNKNOWN`] (private UIDs are valid).
fn unknown_uid<T>(rows: &[&T], text: &str) -> Option<Uid> {
    if rows.is_empty() {
        Uid::new(text).ok()
    } else {
        None
    }
}

/// Prints the rows as a table (with the unknown UID as a last row whose
/// first two columns, UID and name, are filled) or as JSON.
fn print<T: Row + Serialize>(
    args: &ReferenceArgs,
    rows: &[&T],
    unknown: Option<Uid>,
) -> anyhow::Result<()> {
    let out = if args.json {
        // JSON lists registry entries only; an unknown UID has none.
        let mut json = serde_json::to_string_pretty(rows).context("encoding JSON")?;
        json.push('\n');
        json
    } else {
        let mut cells: Vec<Vec<String>> = rows
            .iter()
            .map(|row| row.cells().into_iter().map(String::from).collect())
            .collect();
        if let Some(uid) = unknown {
            let mut row = vec![String::new(); T::HEADERS.len()];
            for (cell, value) in row.iter_mut().zip([uid.as_str(), UNKNOWN]) {
                value.clone_into(cell);
            }
            cells.push(row);
        }
        render_table(T::HEADERS, &cells)
    };
    super::output::write_stdout(&out)
}

/// An aligned text table: a header row, then one line per row; columns are
/// separated by two spaces and padded to the widest cell, and no line has
/// trailing spaces.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<&str> = headers.to_vec();
    push_line(&mut out, &widths, &header);
    for row in rows {
        let row: Vec<&str> = row.iter().map(String::as_str).collect();
        push_line(&mut out, &widths, &row);
    }
    out
}

fn push_line(out: &mut String, widths: &[usize], cells: &[&str]) {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        let pad = width.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests;
