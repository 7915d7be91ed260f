//! Reads production files from disk: `productions/<namespace>/<name>.toml`,
//! the namespace being the folder name. The only I/O of the config module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::compile::{check_resources, compile};
use super::error::ConfigError;
use super::production::{Production, ProductionId};
use super::raw::parse;
use crate::ids::NamespaceId;

/// What a load found: the valid productions and the errors of the others.
/// One bad file never hides the good ones.
#[derive(Debug, Default)]
pub struct Loaded {
    pub productions: Vec<Production>,
    pub errors: Vec<ConfigError>,
    /// Files that had at least one error.
    pub rejected: Vec<PathBuf>,
}

/// Reads and validates one production file. Its namespace is the name of
/// the folder holding it.
///
/// # Errors
/// Every error in the file.
pub fn load_file(path: &Path) -> Result<Production, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![ConfigError::file(path, format!("cannot read: {e}"))])?;
    load_text(path, &text)
}

/// Validates `text` as the content of the production file at `path` (which
/// names its namespace and production), without reading the file: what an
/// edit would become.
///
/// # Errors
/// Every error in the text.
pub fn load_text(path: &Path, text: &str) -> Result<Production, Vec<ConfigError>> {
    let namespace = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            vec![ConfigError::file(
                path,
                "a production file must be in a namespace folder: productions/<namespace>/<name>.toml",
            )]
        })
        .and_then(|n| {
            NamespaceId::new(n).map_err(|e| {
                vec![ConfigError::file(
                    path,
                    format!("the folder name is the namespace: {e}"),
                )]
            })
        })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let raw = parse(path, namespace, &stem, text)?;
    compile(raw)
}

/// Reads every production under a productions folder (or one file), then
/// checks names and exclusive resources across all of them.
pub fn load_path(path: &Path) -> Loaded {
    if path.is_file() {
        let mut loaded = Loaded::default();
        match load_file(path) {
            Ok(p) => loaded.productions.push(p),
            Err(errors) => {
                loaded.errors = errors;
                loaded.rejected.push(path.to_path_buf());
            }
        }
        return loaded;
    }
    load_dir(path)
}

/// The production files under a productions folder, sorted: every
/// `<namespace>/<name>.toml`, plus misplaced `.toml` files (reported as
/// errors by [`load_dir`]). Hidden files and folders are skipped.
///
/// # Errors
/// The folder cannot be read.
pub fn production_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            for inner in std::fs::read_dir(&path)? {
                let inner = inner?.path();
                if inner.is_file() && is_toml(&inner) && !is_hidden(&inner) {
                    files.push(inner);
                }
            }
        } else if is_toml(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'))
}

/// Reads every production under a productions folder, then resolves
/// resource conflicts in file order (the first file keeps the port).
pub fn load_dir(dir: &Path) -> Loaded {
    let mut loaded = load_dir_unchecked(dir);
    let conflicts = check_resources(&loaded.productions);
    for e in &conflicts {
        loaded.rejected.push(e.file.clone());
    }
    loaded
        .productions
        .retain(|p| !conflicts.iter().any(|e| e.file == p.file));
    loaded.errors.extend(conflicts);
    loaded.rejected.sort();
    loaded.rejected.dedup();
    loaded
}

/// Reads and validates every production file, without the resource check
/// across files (the reload controller runs it, giving running productions
/// priority).
pub fn load_dir_unchecked(dir: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let files = match production_files(dir) {
        Ok(f) => f,
        Err(e) => {
            loaded.errors.push(ConfigError::file(
                dir,
                format!("cannot read the productions folder: {e}"),
            ));
            return loaded;
        }
    };
    let mut by_id: BTreeMap<ProductionId, PathBuf> = BTreeMap::new();
    for file in files {
        if file.parent() == Some(dir) {
            loaded.errors.push(ConfigError::file(
                &file,
                "a production file must be in a namespace folder: move it to productions/<namespace>/",
            ));
            loaded.rejected.push(file);
            continue;
        }
        match load_file(&file) {
            Ok(p) => {
                if let Some(other) = by_id.get(&p.id) {
                    loaded.errors.push(
                        ConfigError::file(
                            &file,
                            format!(
                                "production name '{}' is already used in namespace '{}' by {}",
                                p.id.name,
                                p.id.namespace,
                                other.display()
                            ),
                        )
                        .in_field("name"),
                    );
                    loaded.rejected.push(file);
                    continue;
                }
                by_id.insert(p.id.clone(), file);
                loaded.productions.push(p);
            }
            Err(errors) => {
                loaded.errors.extend(errors);
                loaded.rejected.push(file);
            }
        }
    }
    loaded
}
