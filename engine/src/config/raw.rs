//! The production file as written: a TOML document read into typed structs
//! with `deny_unknown_fields`, keeping the line of every item and field so
//! that errors can point at them.
//!
//! The `version` field is probed before anything else. Items are read one by
//! one (their `type` picks the struct), so that one broken item does not hide
//! the errors of the others.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{ConfigError, ItemKind};
use crate::association::{AeEntry, AeTitle, Uid};
use crate::ids::NamespaceId;
use crate::operations::OperationConfig;
use crate::processes::ProcessConfig;
use crate::services::ServiceConfig;

/// The only version of the production file format this engine reads.
pub const CURRENT_VERSION: i64 = 1;

/// An `[[associations]]` entry: an association context the production
/// needs, created in the namespace's store when the pair is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssociation {
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// SOP class UIDs, or the keyword `"storage"` for every storage SOP
    /// class.
    pub abstract_syntaxes: Vec<String>,
    /// In order of preference.
    pub transfer_syntaxes: Vec<Uid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pdu_length: Option<u32>,
    /// The client certificates the calling AE title is bound to
    /// (`cn:NAME`, `san:DNS-NAME`, `sha256:FINGERPRINT`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<String>,
}

/// One item as read, with where it is in the file.
#[derive(Debug, Clone)]
pub struct RawItem<T> {
    pub name: String,
    /// Line of the item's header (`[services.NAME]`).
    pub line: usize,
    /// Line of each top-level field of the item.
    pub field_lines: BTreeMap<String, usize>,
    pub config: T,
}

impl<T> RawItem<T> {
    /// The line of a field, or of the item when the field is not written.
    pub fn line_of(&self, field: &str) -> usize {
        self.field_lines.get(field).copied().unwrap_or(self.line)
    }
}

/// A production file read without errors in its syntax and fields (the
/// cross-item checks are done by [`super::compile`]).
#[derive(Debug, Clone)]
pub struct RawProduction {
    pub file: PathBuf,
    pub namespace: NamespaceId,
    /// The `name` field, or the file stem.
    pub name: String,
    pub name_line: Option<usize>,
    pub description: String,
    pub associations: Vec<(usize, RawAssociation)>,
    /// `[[ae_directory]]` entries, with their lines.
    pub ae_directory: Vec<(usize, AeEntry)>,
    pub services: Vec<RawItem<ServiceConfig>>,
    pub processes: Vec<RawItem<ProcessConfig>>,
    pub operations: Vec<RawItem<OperationConfig>>,
    /// Every item name written in the file, including items whose fields had
    /// errors, so that references to them do not add misleading errors.
    pub declared: BTreeMap<String, ItemKind>,
    /// Errors found while reading the items; [`super::compile`] adds the
    /// cross-item ones and reports them all.
    pub errors: Vec<ConfigError>,
}

/// Maps byte offsets to 1-based lines.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, offset: usize) -> usize {
        let end = offset.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// Reads one production file's text. The namespace is the name of the folder
/// the file is in; `stem` the default production name.
///
/// Items with errors are left out and their errors kept in
/// [`RawProduction::errors`].
///
/// # Errors
/// A file that is not TOML, or not of the current version, is not read
/// further: that one error.
pub fn parse(
    file: &Path,
    namespace: NamespaceId,
    stem: &str,
    text: &str,
) -> Result<RawProduction, Vec<ConfigError>> {
    let lines = Lines(text);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(err) => {
            return Err(vec![
                ConfigError::file(file, format!("not valid TOML: {}", err.message()))
                    .at_line(err.span().map(|s| lines.of(s.start))),
            ]);
        }
    };
    let doc = doc.into_inner();
    let mut errors = Vec::new();

    // The version first: a file for another version is not read further.
    match doc.get("version").map(|v| (v.span(), v.get_ref())) {
        None => {
            return Err(vec![
                ConfigError::file(
                    file,
                    format!(
                        "missing `version = {CURRENT_VERSION}`: put it on the first line of the file"
                    ),
                )
                .in_field("version"),
            ]);
        }
        Some((span, value)) => {
            let v = value
                .as_integer()
                .filter(|i| i.radix() == 10)
                .and_then(|i| i.as_str().replace('_', "").parse::<i64>().ok());
            if v != Some(CURRENT_VERSION) {
                return Err(vec![
                    ConfigError::file(
                        file,
                        format!(
                            "unsupported version {}; this engine reads version {CURRENT_VERSION}",
                            short(value)
                        ),
                    )
                    .at_line(Some(lines.of(span.start)))
                    .in_field("version"),
                ]);
            }
        }
    }

    let mut raw = RawProduction {
        file: file.to_path_buf(),
        namespace,
        name: stem.to_string(),
        name_line: None,
        description: String::new(),
        associations: Vec::new(),
        ae_directory: Vec::new(),
        services: Vec::new(),
        processes: Vec::new(),
        operations: Vec::new(),
        declared: BTreeMap::new(),
        errors: Vec::new(),
    };

    for (key, value) in doc.iter() {
        let line = lines.of(key.span().start);
        let err = |message: String| {
            ConfigError::file(file, message)
                .at_line(Some(line))
                .in_field(key.get_ref().to_string())
        };
        match key.get_ref().as_ref() {
            "version" => {}
            "name" => match value.get_ref().as_str() {
                Some(s) => {
                    raw.name = s.to_string();
                    raw.name_line = Some(line);
                }
                None => errors.push(err("must be a string".into())),
            },
            "description" => match value.get_ref().as_str() {
                Some(s) => raw.description = s.to_string(),
                None => errors.push(err("must be a string".into())),
            },
            "associations" => match value.get_ref().as_array() {
                Some(entries) => {
                    for (i, entry) in entries.iter().enumerate() {
                        let entry_line = lines.of(entry.span().start);
                        match RawAssociation::deserialize(ValueDeserializer::from(entry.clone())) {
                            Ok(a) => raw.associations.push((entry_line, a)),
                            Err(e) => errors.push(field_error(
                                file,
                                &lines,
                                entry,
                                &e,
                                &format!("associations[{i}]"),
                            )),
                        }
                    }
                }
                None => errors.push(err(
                    "must be an array of tables: write each as [[associations]]".into(),
                )),
            },
            "ae_directory" => match value.get_ref().as_array() {
                Some(entries) => {
                    for (i, entry) in entries.iter().enumerate() {
                        let entry_line = lines.of(entry.span().start);
                        match AeEntry::deserialize(ValueDeserializer::from(entry.clone())) {
                            Ok(a) => raw.ae_directory.push((entry_line, a)),
                            Err(e) => errors.push(field_error(
                                file,
                                &lines,
                                entry,
                                &e,
                                &format!("ae_directory[{i}]"),
                            )),
                        }
                    }
                }
                None => errors.push(err(
                    "must be an array of tables: write each as [[ae_directory]]".into(),
                )),
            },
            table @ ("services" | "processes" | "operations") => {
                let kind = match table {
                    "services" => ItemKind::Service,
                    "processes" => ItemKind::Process,
                    _ => ItemKind::Operation,
                };
                let Some(items) = value.get_ref().as_table() else {
                    errors.push(err(format!(
                        "must be a table of items: write each as [{table}.NAME]"
                    )));
                    continue;
                };
                for (name, item) in items.iter() {
                    let name_str = name.get_ref().to_string();
                    let item_line = lines.of(name.span().start);
                    if let Some(previous) = raw.declared.insert(name_str.clone(), kind) {
                        errors.push(
                            ConfigError::file(
                                file,
                                format!(
                                    "the name is also used by a {previous}; item names must be unique in a production"
                                ),
                            )
                            .at_line(Some(item_line))
                            .in_item(kind, &name_str),
                        );
                    }
                    match kind {
                        ItemKind::Service => {
                            if let Some(i) = read_item(
                                file,
                                &lines,
                                kind,
                                &name_str,
                                item_line,
                                item,
                                ServiceConfig::KINDS,
                                ServiceConfig::deserialize_kind,
                                &mut errors,
                            ) {
                                raw.services.push(i);
                            }
                        }
                        ItemKind::Process => {
                            if let Some(i) = read_item(
                                file,
                                &lines,
                                kind,
                                &name_str,
                                item_line,
                                item,
                                ProcessConfig::KINDS,
                                ProcessConfig::deserialize_kind,
                                &mut errors,
                            ) {
                                raw.processes.push(i);
                            }
                        }
                        ItemKind::Operation => {
                            if let Some(i) = read_item(
                                file,
                                &lines,
                                kind,
                                &name_str,
                                item_line,
                                item,
                                OperationConfig::KINDS,
                                OperationConfig::deserialize_kind,
                                &mut errors,
                            ) {
                                raw.operations.push(i);
                            }
                        }
                    }
                }
            }
            other => errors.push(err(format!(
                "unknown field `{other}`; a production file has version, name, description, associations, ae_directory, services, processes and operations"
            ))),
        }
    }

    raw.errors = errors;
    Ok(raw)
}

/// Reads one item: its `type`, then the kind's own struct.
#[allow(clippy::too_many_arguments)]
fn read_item<'i, T>(
    file: &Path,
    lines: &Lines<'_>,
    kind: ItemKind,
    name: &str,
    line: usize,
    item: &Spanned<DeValue<'i>>,
    kinds: &[&str],
    deserialize: impl FnOnce(&str, ValueDeserializer<'i>) -> Option<Result<T, toml::de::Error>>,
    errors: &mut Vec<ConfigError>,
) -> Option<RawItem<T>> {
    let base = |message: String| {
        ConfigError::file(file, message)
            .at_line(Some(line))
            .in_item(kind, name)
    };
    let Some(table) = item.get_ref().as_table() else {
        errors.push(base(format!(
            "must be a table: write it as [{}.{name}]",
            kind.table()
        )));
        return None;
    };
    let choices = kinds
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let type_name = match table.get("type") {
        None => {
            errors.push(base(format!("missing `type`; one of {choices}")).in_field("type"));
            return None;
        }
        Some(t) => match t.get_ref().as_str() {
            Some(s) => s.to_string(),
            None => {
                errors.push(
                    base(format!("`type` must be a string: one of {choices}"))
                        .at_line(Some(lines.of(t.span().start)))
                        .in_field("type"),
                );
                return None;
            }
        },
    };
    let field_lines: BTreeMap<String, usize> = table
        .iter()
        .map(|(k, _)| (k.get_ref().to_string(), lines.of(k.span().start)))
        .collect();
    let mut fields = table.clone();
    fields.remove("type");
    let value = Spanned::new(item.span(), DeValue::Table(fields));
    match deserialize(&type_name, ValueDeserializer::from(value.clone())) {
        None => {
            errors.push(
                base(format!(
                    "unknown type \"{type_name}\" for a {kind}; one of {choices}"
                ))
                .at_line(field_lines.get("type").copied())
                .in_field("type"),
            );
            None
        }
        Some(Err(e)) => {
            let mut error = field_error(file, lines, &value, &e, "");
            error.item = base(String::new()).item;
            if error.field.is_none() {
                error.line = Some(line);
            }
            errors.push(error);
            None
        }
        Some(Ok(config)) => Some(RawItem {
            name: name.to_string(),
            line,
            field_lines,
            config,
        }),
    }
}

/// Turns a serde error inside a table into a [`ConfigError`], finding the
/// field whose key or value holds the error's position, or the field the
/// message names (unknown and missing fields).
fn field_error(
    file: &Path,
    lines: &Lines<'_>,
    value: &Spanned<DeValue<'_>>,
    err: &toml::de::Error,
    prefix: &str,
) -> ConfigError {
    let message = err.message().to_string();
    let mut field = None;
    let mut line = err.span().map(|s| lines.of(s.start));
    if let (Some(span), Some(table)) = (err.span(), value.get_ref().as_table()) {
        for (k, v) in table.iter() {
            if contains(&k.span(), &span) || contains(&v.span(), &span) {
                field = Some(k.get_ref().to_string());
                line = Some(lines.of(k.span().start));
            }
        }
    }
    if field.is_none() {
        field = named_field(&message);
    }
    let field = field.map(|f| {
        if prefix.is_empty() {
            f
        } else {
            format!("{prefix}.{f}")
        }
    });
    let mut e =
        ConfigError::file(file, message).at_line(line.or(Some(lines.of(value.span().start))));
    e.field = field.or_else(|| (!prefix.is_empty()).then(|| prefix.to_string()));
    e
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && inner.start < outer.end
}

/// The field named in serde's "unknown field `x`" / "missing field `x`".
fn named_field(message: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    None
}

/// A short rendering of a value for messages.
fn short(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("{s:?}"),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        other => other.type_str().to_string(),
    }
}
