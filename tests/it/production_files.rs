//! Production files: the valid fixtures and the demo productions load; each
//! invalid fixture `X.toml` gives exactly the errors written in `X.err`
//! (set `UPDATE_UI=1` to rewrite the `.err` files after a deliberate change).

use std::path::{Path, PathBuf};

use switchboard::config::{load_dir, load_file};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/productions")
}

#[test]
fn valid_fixtures_load_without_errors() {
    let loaded = load_dir(&fixtures().join("valid"));
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    assert_eq!(loaded.productions.len(), 2);
}

#[test]
fn demo_productions_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../productions");
    let loaded = load_dir(&dir);
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let names: Vec<String> = loaded
        .productions
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    for expected in [
        "demo/echo",
        "demo/store-and-forward",
        "demo/file-storage",
        "demo/route-by-modality",
        "demo/worklist",
        "demo/query",
        "demo/query-retrieve",
        "demo/tls-echo",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
}

#[test]
fn invalid_fixtures_report_every_error_precisely() {
    let root = fixtures();
    let dir = root.join("invalid/ui");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in files {
        let errors = load_file(&file).expect_err("an invalid fixture must not load");
        let prefix = format!("{}/", root.display());
        let actual: String = errors
            .iter()
            .map(|e| format!("{}\n", e.to_string().replace(&prefix, "")))
            .collect();
        let expected_path = file.with_extension("err");
        if std::env::var_os("UPDATE_UI").is_some() {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
