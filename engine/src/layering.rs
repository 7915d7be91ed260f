//! The dependency rule of [`crate`], checked: every `crate::…` path in a
//! module's non-test code must name a module it may use. A new arrow
//! against the rule fails this test with the file and line.

use std::path::{Path, PathBuf};

/// The pure leaves everyone may use.
const MODEL: &[&str] = &["association", "dictionary", "ids", "message", "uids"];

/// Who may use whom, besides [`MODEL`]: `cli → runtime → config → items
/// (services, processes, operations) → component → (dimse, store, plugin,
/// part10, dataset) → model`, with `admin` beside `runtime` on top of `store`.
const MAY_USE: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "admin",
            "component",
            "config",
            "dimse",
            "part10",
            "plugin",
            "portal",
            "processes",
            "runtime",
            "store",
        ],
    ),
    (
        "runtime",
        &["admin", "component", "config", "portal", "store"],
    ),
    ("admin", &["events", "store"]),
    ("portal", &["admin", "dimse"]),
    (
        "config",
        &["component", "operations", "processes", "services"],
    ),
    ("services", &["component", "dimse", "part10", "store"]),
    (
        "processes",
        &["component", "dataset", "plugin", "part10", "store"],
    ),
    (
        "operations",
        &["component", "dataset", "dimse", "part10", "store"],
    ),
    ("component", &["dataset", "dimse", "store"]),
    ("dimse", &["part10"]),
    ("store", &[]),
    ("events", &[]),
    ("fuzzing", &["admin", "config", "dataset", "dimse"]),
    ("plugin", &[]),
    ("part10", &[]),
    ("dataset", &[]),
    ("association", &[]),
    ("dictionary", &[]),
    ("message", &[]),
    ("ids", &[]),
    ("uids", &[]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// The `crate::module` names a line refers to.
fn referenced(line: &str) -> Vec<&str> {
    line.match_indices("crate::")
        .map(|(at, _)| {
            let rest = &line[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn modules_use_only_what_the_dependency_rule_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if ["lib", "main", "layering"].contains(&module.as_str()) {
            continue;
        }
        let Some((_, allowed)) = MAY_USE.iter().find(|(m, _)| *m == module) else {
            violations.push(format!(
                "{}: module `{module}` is not in the dependency rule (layering.rs)",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            for used in referenced(line) {
                if used != module && !MODEL.contains(&used) && !allowed.contains(&used) {
                    violations.push(format!(
                        "{}:{}: `{module}` uses `{used}`, against the dependency rule",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_check_sees_a_forbidden_arrow() {
    assert_eq!(
        referenced("use crate::runtime::topology::{Shared}; // crate::x"),
        ["runtime", "x"]
    );
    let (_, store) = MAY_USE.iter().find(|(m, _)| *m == "store").unwrap();
    assert!(!store.contains(&"runtime") && !MODEL.contains(&"runtime"));
}
