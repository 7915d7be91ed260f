//! Raw production → validated [`Production`]: resolves item references,
//! expands association keywords, runs each kind's checks and the resource
//! checks, and reports every error at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::error::{ConfigError, ItemKind, list_names};
use super::production::{Production, ProductionId};
use super::raw::{RawAssociation, RawItem, RawProduction};
use crate::association::{AssociationContext, PresentationContext, Uid};
use crate::component::{FieldError, Resource};
use crate::ids::ItemName;
use crate::processes::ProcessConfig;

/// The keyword that stands for every storage SOP class in
/// `abstract_syntaxes`.
pub const STORAGE_KEYWORD: &str = "storage";

/// Validates one production read from its file.
///
/// # Errors
/// Every error found, each naming the file, line, item and field.
pub fn compile(raw: RawProduction) -> Result<Production, Vec<ConfigError>> {
    let file = raw.file.clone();
    let mut errors = raw.errors.clone();
    let err = |line: usize, message: String| ConfigError::file(&file, message).at_line(Some(line));

    let name = match ItemName::new(&raw.name) {
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(
                ConfigError::file(&file, e.to_string())
                    .at_line(raw.name_line)
                    .in_field("name"),
            );
            None
        }
    };

    // Item names.
    let mut names: BTreeMap<String, (ItemKind, Option<ItemName>)> = BTreeMap::new();
    for (n, kind) in &raw.declared {
        let valid = ItemName::new(n).ok();
        names.insert(n.clone(), (*kind, valid));
    }
    let item_name = |kind: ItemKind, item_line: usize, n: &str, errors: &mut Vec<ConfigError>| {
        match ItemName::new(n) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(err(item_line, e.to_string()).in_item(kind, n));
                None
            }
        }
    };

    let production_dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut services = BTreeMap::new();
    for item in &raw.services {
        let mut config = item.config.clone();
        let problems = check_and_resolve(&config.check(), |d| config.resolve(d), &production_dir);
        check_item(&file, ItemKind::Service, item, problems, &mut errors);
        check_targets(
            &file,
            ItemKind::Service,
            item,
            config.targets(),
            &names,
            &mut errors,
        );
        if let Some(n) = item_name(ItemKind::Service, item.line, &item.name, &mut errors) {
            services.insert(n, config);
        }
    }
    let mut processes = BTreeMap::new();
    for item in &raw.processes {
        let mut config = item.config.clone();
        let problems = check_and_resolve(&config.check(), |d| config.resolve(d), &production_dir);
        check_item(&file, ItemKind::Process, item, problems, &mut errors);
        check_targets(
            &file,
            ItemKind::Process,
            item,
            config.targets(),
            &names,
            &mut errors,
        );
        if let Some(n) = item_name(ItemKind::Process, item.line, &item.name, &mut errors) {
            processes.insert(n, config);
        }
    }
    let mut operations = BTreeMap::new();
    for item in &raw.operations {
        let mut config = item.config.clone();
        let problems = check_and_resolve(&config.check(), |d| config.resolve(d), &production_dir);
        check_item(&file, ItemKind::Operation, item, problems, &mut errors);
        check_targets(
            &file,
            ItemKind::Operation,
            item,
            config.targets(),
            &names,
            &mut errors,
        );
        if let Some(n) = item_name(ItemKind::Operation, item.line, &item.name, &mut errors) {
            operations.insert(n, config);
        }
    }
    check_cycles(&file, &raw.processes, &mut errors);
    // A query operation takes queries from a DICOM service, never messages;
    // so does a `wasm` process whose targets all take queries only (its
    // plugin's query hook is in the queries' way).
    let mut query_only: BTreeSet<&str> = operations
        .iter()
        .filter(|(_, c)| c.kind() == "dicom-query")
        .map(|(n, _)| n.as_str())
        .collect();
    let query_process = |p: &RawItem<ProcessConfig>, only: &BTreeSet<&str>| {
        let targets = p.config.targets();
        p.config.kind() == "wasm" && !targets.is_empty() && targets.iter().all(|t| only.contains(t))
    };
    // Chains of such processes: until nothing changes (cycles were refused).
    while let Some(p) = raw
        .processes
        .iter()
        .find(|p| !query_only.contains(p.name.as_str()) && query_process(p, &query_only))
    {
        query_only.insert(p.name.as_str());
    }
    let senders = raw
        .services
        .iter()
        .filter(|s| s.config.kind() != "dicom-tcp")
        .map(|s| {
            (
                ItemKind::Service,
                &s.name,
                s.line_of("targets"),
                s.config.targets(),
            )
        })
        .chain(
            raw.processes
                .iter()
                .filter(|p| !query_only.contains(p.name.as_str()))
                .map(|p| {
                    (
                        ItemKind::Process,
                        &p.name,
                        p.line_of("targets"),
                        p.config.targets(),
                    )
                }),
        );
    for (kind, name, line, targets) in senders {
        for t in targets.into_iter().filter(|t| query_only.contains(t)) {
            let what = if operations.keys().any(|n| n.as_str() == t) {
                "a dicom-query operation"
            } else {
                "a process in the way of queries"
            };
            errors.push(
                ConfigError::file(
                    &file,
                    format!(
                        "target '{t}' is {what}: it answers the C-FIND of a dicom-tcp service and takes no messages; send messages to a dicom-tcp or file operation (a wasm process may stand before query operations if all its targets take queries)"
                    ),
                )
                .at_line(Some(line))
                .in_item(kind, name)
                .in_field("targets"),
            );
        }
    }

    // Resources inside this production (across productions: check_resources).
    let claims = raw
        .services
        .iter()
        .map(|i| {
            (
                ItemKind::Service,
                i.name.as_str(),
                i.line,
                i.config.resources(),
            )
        })
        .chain(raw.processes.iter().map(|i| {
            (
                ItemKind::Process,
                i.name.as_str(),
                i.line,
                i.config.resources(),
            )
        }))
        .chain(raw.operations.iter().map(|i| {
            (
                ItemKind::Operation,
                i.name.as_str(),
                i.line,
                i.config.resources(),
            )
        }));
    let mut claimed: BTreeMap<Resource, (ItemKind, &str)> = BTreeMap::new();
    for (role, item, line, resources) in claims {
        for r in resources {
            if let Some((other_role, other)) = claimed.insert(r.clone(), (role, item)) {
                errors.push(
                    err(
                        line,
                        format!("{r} is already used by {other_role} '{other}' in this file"),
                    )
                    .in_item(role, item),
                );
            }
        }
    }

    // Associations.
    let mut associations = Vec::new();
    let mut pairs = BTreeSet::new();
    for (i, (line, a)) in raw.associations.iter().enumerate() {
        match association(a) {
            Ok(ctx) => {
                if !pairs.insert(ctx.key()) {
                    errors.push(
                        err(*line, format!("the pair {} is listed twice", ctx.key()))
                            .in_field(format!("associations[{i}]")),
                    );
                }
                associations.push(ctx);
            }
            Err((field, message)) => {
                errors.push(err(*line, message).in_field(format!("associations[{i}].{field}")))
            }
        }
    }

    // The AE directory.
    let mut ae_directory = Vec::new();
    let mut titles = BTreeSet::new();
    for (i, (line, entry)) in raw.ae_directory.iter().enumerate() {
        if let Err(e) = entry.check() {
            let field = match e {
                crate::association::DirectoryError::Host { .. } => "host",
                crate::association::DirectoryError::Port { .. } => "port",
                crate::association::DirectoryError::DescriptionTooLong { .. } => "description",
            };
            errors.push(err(*line, e.to_string()).in_field(format!("ae_directory[{i}].{field}")));
            continue;
        }
        if !titles.insert(entry.ae_title.clone()) {
            errors.push(
                err(*line, format!("AE {} is listed twice", entry.ae_title))
                    .in_field(format!("ae_directory[{i}]")),
            );
        }
        ae_directory.push(entry.clone());
    }

    errors.sort_by_key(|a| a.line);
    match name {
        Some(name) if errors.is_empty() => Ok(Production {
            id: ProductionId {
                namespace: raw.namespace,
                name,
            },
            file: raw.file,
            description: raw.description,
            associations,
            ae_directory,
            services,
            processes,
            operations,
        }),
        _ => Err(errors),
    }
}

/// The kind's checks, then (when they found nothing) its resolution
/// against the file system.
fn check_and_resolve(
    checked: &[FieldError],
    resolve: impl FnOnce(&Path) -> Vec<FieldError>,
    production_dir: &Path,
) -> Vec<FieldError> {
    if checked.is_empty() {
        resolve(production_dir)
    } else {
        checked.to_vec()
    }
}

fn check_item<T>(
    file: &Path,
    kind: ItemKind,
    item: &RawItem<T>,
    problems: Vec<FieldError>,
    errors: &mut Vec<ConfigError>,
) {
    for FieldError { field, message } in problems {
        let top = field.split('.').next().unwrap_or(&field).to_string();
        let mut e = ConfigError::file(file, message)
            .at_line(Some(item.line_of(&top)))
            .in_item(kind, &item.name);
        if !field.is_empty() {
            e = e.in_field(field);
        }
        errors.push(e);
    }
}

fn check_targets<T>(
    file: &Path,
    kind: ItemKind,
    item: &RawItem<T>,
    targets: Vec<&str>,
    names: &BTreeMap<String, (ItemKind, Option<ItemName>)>,
    errors: &mut Vec<ConfigError>,
) {
    let line = Some(item.line_of("targets"));
    let possible: Vec<&ItemName> = names
        .values()
        .filter(|(k, _)| *k != ItemKind::Service)
        .filter_map(|(_, n)| n.as_ref())
        .filter(|n| n.as_str() != item.name)
        .collect();
    let mut seen = BTreeSet::new();
    for t in targets {
        let t = match ItemName::new(t) {
            Ok(t) => t,
            Err(e) => {
                errors.push(
                    ConfigError::file(file, e.to_string())
                        .at_line(line)
                        .in_item(kind, &item.name)
                        .in_field("targets"),
                );
                continue;
            }
        };
        let e = |message: String| {
            ConfigError::file(file, message)
                .at_line(line)
                .in_item(kind, &item.name)
                .in_field("targets")
        };
        if !seen.insert(t.clone()) {
            errors.push(e(format!("target '{t}' is listed twice")));
            continue;
        }
        match names.get(t.as_str()) {
            None => errors.push(e(format!(
                "target '{t}' does not exist (items: {})",
                list_names(possible.iter().copied())
            ))),
            Some((ItemKind::Service, _)) => errors.push(e(format!(
                "target '{t}' is a service; targets are processes or operations (items: {})",
                list_names(possible.iter().copied())
            ))),
            Some(_) if t.as_str() == item.name => {
                errors.push(e(format!("target '{t}' is the item itself")))
            }
            Some(_) => {}
        }
    }
}

/// Processes that route to each other in a loop would pass a message around
/// forever.
fn check_cycles(file: &Path, processes: &[RawItem<ProcessConfig>], errors: &mut Vec<ConfigError>) {
    let edges: BTreeMap<&str, Vec<&str>> = processes
        .iter()
        .map(|p| (p.name.as_str(), p.config.targets()))
        .collect();
    let mut reported = BTreeSet::new();
    for start in processes {
        // depth-first search for a path back to `start`
        let mut stack = vec![(start.name.as_str(), vec![start.name.as_str()])];
        let mut visited = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(node).into_iter().flatten() {
                if *next == start.name {
                    let mut cycle: Vec<&str> = path.clone();
                    cycle.push(next);
                    let mut key = path.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        errors.push(
                            ConfigError::file(
                                file,
                                format!("processes route in a loop: {}", cycle.join(" → ")),
                            )
                            .at_line(Some(start.line_of("targets")))
                            .in_item(ItemKind::Process, &start.name)
                            .in_field("targets"),
                        );
                    }
                } else if edges.contains_key(next) && visited.insert(*next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
}

/// Builds an association context from its raw form: (field, message) on
/// error.
fn association(a: &RawAssociation) -> Result<AssociationContext, (String, String)> {
    if a.abstract_syntaxes.is_empty() {
        return Err((
            "abstract_syntaxes".into(),
            format!("give at least one SOP class UID, or \"{STORAGE_KEYWORD}\""),
        ));
    }
    if a.transfer_syntaxes.is_empty() {
        return Err((
            "transfer_syntaxes".into(),
            "give at least one transfer syntax UID, in order of preference".into(),
        ));
    }
    let mut abstract_syntaxes: Vec<Uid> = Vec::new();
    for s in &a.abstract_syntaxes {
        if s.eq_ignore_ascii_case(STORAGE_KEYWORD) {
            for uid in storage_sop_classes() {
                if !abstract_syntaxes.contains(&uid) {
                    abstract_syntaxes.push(uid);
                }
            }
        } else {
            let uid = Uid::new(s).map_err(|e| {
                (
                    "abstract_syntaxes".to_string(),
                    format!("{e} (or write \"{STORAGE_KEYWORD}\" for every storage SOP class)"),
                )
            })?;
            if !abstract_syntaxes.contains(&uid) {
                abstract_syntaxes.push(uid);
            }
        }
    }
    let mut ctx = AssociationContext::new(a.calling_ae_title.clone(), a.called_ae_title.clone());
    ctx.name = a.name.clone();
    ctx.description = a.description.clone();
    ctx.max_pdu_length = a.max_pdu_length;
    ctx.certificates = a
        .certificates
        .iter()
        .map(|b| b.parse())
        .collect::<Result<_, _>>()
        .map_err(|e: crate::association::BindingError| {
            ("certificates".to_string(), e.to_string())
        })?;
    ctx.presentation_contexts = abstract_syntaxes
        .into_iter()
        .map(|abstract_syntax| PresentationContext {
            abstract_syntax,
            transfer_syntaxes: a.transfer_syntaxes.clone(),
        })
        .collect();
    ctx.validate().map_err(|e| {
        let field = match e {
            crate::association::ModelError::NameTooLong { .. } => "name",
            crate::association::ModelError::DescriptionTooLong { .. } => "description",
            crate::association::ModelError::MaxPduLength(_) => "max_pdu_length",
            _ => "transfer_syntaxes",
        };
        (field.to_string(), e.to_string())
    })?;
    Ok(ctx)
}

/// Every storage SOP class of the standard (retired ones included: old
/// modalities still send them).
pub fn storage_sop_classes() -> Vec<Uid> {
    crate::dictionary::sop_classes()
        .iter()
        .filter(|c| c.uid.starts_with(STORAGE_ROOT) && c.name.contains("Storage"))
        .filter_map(|c| Uid::new(c.uid).ok())
        .collect()
}

/// Storage SOP classes all live under this root (PS3.4 Annex B; storage
/// commitment, print and media directory classes do not).
const STORAGE_ROOT: &str = "1.2.840.10008.5.1.4.";

/// Checks that no two productions claim the same resource, across all
/// namespaces. The first production (in the given order) keeps it; each
/// later one gets an error naming the first.
pub fn check_resources(productions: &[Production]) -> Vec<ConfigError> {
    let mut claimed: BTreeMap<Resource, (&Production, ItemKind, ItemName)> = BTreeMap::new();
    let mut errors = Vec::new();
    for p in productions {
        for (r, role, item) in p.resources() {
            match claimed.get(&r) {
                Some((owner, owner_role, owner_item)) if owner.id != p.id => errors.push(
                    ConfigError::file(
                        &p.file,
                        format!(
                            "{r} is already used by {owner_role} '{owner_item}' of production {} ({})",
                            owner.id,
                            owner.file.display()
                        ),
                    )
                    .in_item(role, item.as_str()),
                ),
                Some(_) => {}
                None => {
                    claimed.insert(r, (p, role, item));
                }
            }
        }
    }
    errors
}
