//! Which version of every production should run: the productions folder
//! read and validated ([`read_folder`]), then a [`plan`] that keeps the
//! running version of every file whose change is rejected (invalid, a
//! resource another production holds, a port another program holds). Pure
//! but for reading the folder and probing ports.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use crate::component::Resource;
use crate::config::load::production_files;
use crate::config::{ConfigError, Production, ProductionId, check_resources, load_file};

/// The productions folder as read now.
#[derive(Debug, Default)]
pub struct Folder {
    /// Every valid production (each knows its file).
    pub valid: Vec<Production>,
    /// The errors of every invalid file.
    pub invalid: BTreeMap<PathBuf, Vec<ConfigError>>,
}

/// Reads and validates every production file of the folder.
///
/// # Errors
/// The folder itself cannot be read; then nothing should change.
pub fn read_folder(dir: &Path) -> Result<Folder, ConfigError> {
    let files = production_files(dir)
        .map_err(|e| ConfigError::file(dir, format!("cannot read the productions folder: {e}")))?;
    let mut folder = Folder::default();
    for file in files {
        if file.parent() == Some(dir) {
            folder.invalid.insert(
                file.clone(),
                vec![ConfigError::file(
                    &file,
                    "a production file must be in a namespace folder: move it to productions/<namespace>/",
                )],
            );
            continue;
        }
        match load_file(&file) {
            Ok(p) => folder.valid.push(p),
            Err(errors) => {
                folder.invalid.insert(file, errors);
            }
        }
    }
    Ok(folder)
}

/// Which version of every production should run, and which files are not
/// applied.
#[derive(Debug, Default)]
pub struct Plan {
    /// The productions to run: new versions where valid, running versions
    /// where the file's change is rejected.
    pub productions: Vec<Production>,
    /// Files whose content is not applied, with every reason (one line
    /// each, naming file, line, item and field when known).
    pub rejected: BTreeMap<PathBuf, Vec<String>>,
}

/// Chooses the version of each production to run.
///
/// - `running`: what runs now;
/// - `folder`: what the files say now;
/// - `hold`: files whose current content already failed to start (an item
///   could not be built): they keep their running version until they change
///   again, so an unrelated reload does not bounce their items;
/// - `probe`: checks what only the operating system knows (a port another
///   program holds) for a new or changed production; returns error lines.
///
/// Resource conflicts are checked against every production that keeps
/// running: the one already holding a resource wins, the newcomer is
/// rejected.
pub fn plan(
    running: &[Production],
    folder: Folder,
    hold: &BTreeMap<PathBuf, Vec<String>>,
    probe: &dyn Fn(&Production) -> Vec<String>,
) -> Plan {
    let running_by_file: BTreeMap<&Path, &Production> =
        running.iter().map(|p| (p.file.as_path(), p)).collect();
    let running_by_id: BTreeMap<&ProductionId, &Production> =
        running.iter().map(|p| (&p.id, p)).collect();
    let mut chosen: BTreeMap<ProductionId, Production> = BTreeMap::new();
    let mut rejected: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let keep_running_version = |file: &Path, chosen: &mut BTreeMap<_, _>| {
        if let Some(old) = running_by_file.get(file) {
            chosen.insert(old.id.clone(), (*old).clone());
        }
    };

    for (file, errors) in folder.invalid {
        keep_running_version(&file, &mut chosen);
        rejected.insert(file, errors.iter().map(ToString::to_string).collect());
    }
    let mut valid = Vec::new();
    for p in folder.valid {
        if let Some(errors) = hold.get(&p.file) {
            keep_running_version(&p.file, &mut chosen);
            rejected.insert(p.file.clone(), errors.clone());
        } else {
            valid.push(p);
        }
    }
    // A file that runs now keeps its production's name against a newcomer.
    valid.sort_by_key(|p| !running_by_file.contains_key(p.file.as_path()));

    let mut changed = Vec::new();
    let mut added = Vec::new();
    for p in valid {
        if let Some(other) = chosen.get(&p.id) {
            rejected.insert(
                p.file.clone(),
                vec![
                    ConfigError::file(
                        &p.file,
                        format!(
                            "production name '{}' is already used in namespace '{}' by {}",
                            p.id.name,
                            p.id.namespace,
                            other.file.display()
                        ),
                    )
                    .in_field("name")
                    .to_string(),
                ],
            );
            continue;
        }
        match running_by_id.get(&p.id) {
            Some(old) if **old == p => {
                chosen.insert(p.id.clone(), p);
            }
            Some(_) => {
                // Reserve the id now so that a duplicate is reported.
                chosen.insert(p.id.clone(), p.clone());
                changed.push(p);
            }
            None => {
                chosen.insert(p.id.clone(), p.clone());
                added.push(p);
            }
        }
    }
    // Changed and added productions are not decided yet: take them out and
    // check them one by one against what will run.
    for p in changed.iter().chain(&added) {
        chosen.remove(&p.id);
    }
    let mut undecided_old: BTreeMap<ProductionId, Production> = changed
        .iter()
        .filter_map(|p| {
            running_by_id
                .get(&p.id)
                .map(|o| (p.id.clone(), (*o).clone()))
        })
        .collect();
    for p in changed {
        let old = undecided_old.remove(&p.id);
        let mut errors = conflicts(chosen.values().chain(undecided_old.values()), &p);
        if errors.is_empty() {
            errors = probe(&p);
        }
        if errors.is_empty() {
            chosen.insert(p.id.clone(), p);
        } else {
            rejected.insert(p.file.clone(), errors);
            if let Some(old) = old {
                chosen.insert(old.id.clone(), old);
            }
        }
    }
    for p in added {
        let mut errors = conflicts(chosen.values(), &p);
        if errors.is_empty() {
            errors = probe(&p);
        }
        if errors.is_empty() {
            chosen.insert(p.id.clone(), p);
        } else {
            rejected.insert(p.file.clone(), errors);
        }
    }
    Plan {
        productions: chosen.into_values().collect(),
        rejected,
    }
}

/// The resource conflicts of `candidate` with `others` (which win).
fn conflicts<'a>(
    others: impl Iterator<Item = &'a Production>,
    candidate: &Production,
) -> Vec<String> {
    let mut all: Vec<Production> = others.filter(|o| o.id != candidate.id).cloned().collect();
    all.push(candidate.clone());
    check_resources(&all)
        .into_iter()
        .filter(|e| e.file == candidate.file)
        .map(|e| e.to_string())
        .collect()
}

/// The TCP ports the running productions hold.
pub(super) fn held_ports(running: &[Production]) -> BTreeSet<u16> {
    running
        .iter()
        .flat_map(Production::resources)
        .filter_map(|(r, _, _)| match r {
            Resource::TcpPort(port) => Some(port),
            Resource::Folder(_) => None,
        })
        .collect()
}

/// Tries to bind every listening address of `p` that the engine does not
/// hold itself, so that a port another program holds is a rejected change
/// (the old version keeps serving) rather than a failed one.
pub(super) fn probe_ports(p: &Production, held: &BTreeSet<u16>) -> Vec<String> {
    p.listen_addresses()
        .into_iter()
        .filter(|(addr, _, _)| !held.contains(&addr.port()))
        .filter_map(|(addr, role, name): (SocketAddr, _, _)| {
            TcpListener::bind(addr).err().map(|e| {
                ConfigError::file(&p.file, format!("cannot listen on {addr}: {e}"))
                    .in_item(role, name.as_str())
                    .in_field("port")
                    .to_string()
            })
        })
        .collect()
}
