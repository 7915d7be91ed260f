//! The reference tables as a user sees them: `abstract-syntax`,
//! `transfer-syntax` and `dictionary` with a filter, run as the built binary.

use integration_tests::switchboard;
use serde_json::Value;

/// Runs the command, checks it succeeded, and returns its stdout.
fn stdout(args: &[&str]) -> String {
    let out = switchboard(args);
    assert!(
        out.status.success(),
        "switchboard {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// The table's lines after the header, each split into its columns.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn json(args: &[&str]) -> Vec<Value> {
    let text = stdout(args);
    match serde_json::from_str(&text).expect("valid JSON") {
        Value::Array(items) => items,
        other => panic!("expected an array, got {other}"),
    }
}

#[test]
fn worklist_finds_modality_worklist_find() {
    let table = stdout(&["abstract-syntax", "worklist"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("UID") && header.contains("Name"),
        "{header}"
    );
    let rows = rows(&table);
    assert!(
        rows.iter().any(|r| r[0] == "1.2.840.10008.5.1.4.31"
            && r[1] == "Modality Worklist Information Model - FIND"),
        "{table}"
    );
    assert!(
        rows.iter()
            .all(|r| r.iter().any(|c| c.to_lowercase().contains("worklist"))),
        "{table}"
    );
}

#[test]
fn explicit_vr_little_finds_explicit_vr_little_endian() {
    // Quoted as one argument, or as separate words: the same rows.
    let quoted = stdout(&["transfer-syntax", "explicit vr little"]);
    let words = stdout(&["transfer-syntax", "Explicit", "VR", "Little"]);
    assert_eq!(quoted, words);
    let rows = rows(&quoted);
    let explicit = rows
        .iter()
        .find(|r| r[0] == "1.2.840.10008.1.2.1")
        .unwrap_or_else(|| panic!("{quoted}"));
    assert_eq!(
        explicit[1..],
        [
            "Explicit VR Little Endian",
            "explicit",
            "little endian",
            "native"
        ]
    );
    assert!(
        !rows.iter().any(|r| r[0] == "1.2.840.10008.1.2"),
        "{quoted}"
    );
}

#[test]
fn patientname_finds_patient_name() {
    let table = stdout(&["dictionary", "patientname"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["Tag", "Keyword", "Name", "VR", "VM", "Retired"]);
    let rows = rows(&table);
    assert!(
        rows.iter()
            .any(|r| r[..] == ["(0010,0010)", "PatientName", "Patient Name", "PN", "1"]),
        "{table}"
    );
}

#[test]
fn json_gives_the_same_rows_as_the_table() {
    let items = json(&["abstract-syntax", "worklist", "--json"]);
    let table = rows(&stdout(&["abstract-syntax", "worklist"]));
    assert_eq!(items.len(), table.len());
    let worklist = items
        .iter()
        .find(|i| i["uid"] == "1.2.840.10008.5.1.4.31")
        .expect("worklist in JSON");
    assert_eq!(
        worklist["name"],
        "Modality Worklist Information Model - FIND"
    );
    assert_eq!(worklist["keyword"], "ModalityWorklistInformationModelFind");
    assert_eq!(worklist["retired"], false);

    let elements = json(&["dictionary", "--json", "patientname"]);
    assert!(elements.iter().any(|e| e["tag"] == "(0010,0010)"
        && e["vr"] == "PN"
        && e["vm"] == "1"
        && e["name"] == "Patient Name"));

    let syntaxes = json(&["transfer-syntax", "--json", "explicit vr big"]);
    assert!(syntaxes.iter().any(|t| t["uid"] == "1.2.840.10008.1.2.2"
        && t["explicit_vr"] == true
        && t["big_endian"] == true
        && t["encapsulated"] == false));
}

#[test]
fn no_filter_lists_every_row() {
    // 321 SOP classes and meta SOP classes, 5346 data elements (PS3.6 as
    // dicom-dictionary-std 0.10.1 has it), plus the header.
    assert_eq!(stdout(&["abstract-syntax"]).lines().count(), 322);
    assert_eq!(stdout(&["dictionary"]).lines().count(), 5347);
    assert!(stdout(&["transfer-syntax"]).lines().count() > 40);
}

#[test]
fn an_unknown_valid_uid_shows_as_unknown() {
    let private = "1.2.826.0.1.3680043.9.7433.1.1";
    for command in ["abstract-syntax", "transfer-syntax"] {
        let table = stdout(&[command, private]);
        assert_eq!(
            rows(&table),
            [vec![private.to_owned(), "(unknown)".to_owned()]]
        );
    }
}

#[test]
fn a_filter_that_matches_nothing_prints_only_the_header() {
    let table = stdout(&["dictionary", "no such element anywhere"]);
    assert_eq!(table.lines().count(), 1, "{table}");
}

/// Runs `scripts/gen-defined-terms.py --check --out FILE`.
fn check_defined_terms(file: &std::path::Path) -> std::process::Output {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-defined-terms.py");
    std::process::Command::new(integration_tests::pynetdicom::python())
        .arg(script)
        .args(["--check", "--out"])
        .arg(file)
        .output()
        .expect("run the generator")
}

#[test]
fn the_defined_terms_generator_checks_the_committed_table() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/src/dictionary/defined_terms.rs");
    let out = check_defined_terms(&committed);
    assert!(out.status.success(), "{}", integration_tests::text(&out));

    let dir = integration_tests::private_tempdir();
    let edited = dir.path().join("defined_terms.rs");
    let text = std::fs::read_to_string(&committed).unwrap();
    assert!(text.contains("(\"F\", \"female\")"));
    std::fs::write(
        &edited,
        text.replacen("(\"F\", \"female\")", "(\"F\", \"feminine\")", 1),
    )
    .unwrap();
    let out = check_defined_terms(&edited);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        integration_tests::text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not what the script writes"),
        "{}",
        integration_tests::text(&out)
    );
}
