use std::path::Path;

use super::*;
use crate::component::HumanDuration;
use crate::ids::NamespaceId;
use crate::operations::OperationConfig;

fn compile_text(text: &str) -> Result<Production, Vec<ConfigError>> {
    let file = Path::new("productions/demo/store.toml");
    let raw = raw::parse(file, NamespaceId::new("demo").unwrap(), "store", text)?;
    compile(raw)
}

fn messages(text: &str) -> Vec<String> {
    match compile_text(text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = r#"
version = 1
description = "store and forward"

[[associations]]
calling_ae_title = "STORESCU"
called_ae_title = "ROUTER"
abstract_syntaxes = ["storage", "1.2.840.10008.1.1"]
transfer_syntaxes = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]

[services.IN]
type = "dicom-tcp"
port = 11114
ae_title = "ROUTER"
targets = ["ROUTE"]

[processes.ROUTE]
type = "pass-through"
targets = ["PACS", "FILES"]

[operations.PACS]
type = "dicom-tcp"
host = "127.0.0.1"
port = 11115
remote_ae_title = "ARCHIVE"
local_ae_title = "ROUTER"
retry = { initial_delay = "500ms", max_attempts = 5 }

[operations.FILES]
type = "file"
folder = "out"
"#;

#[test]
fn a_good_file_compiles() {
    let p = compile_text(GOOD).unwrap();
    assert_eq!(p.id.name.as_str(), "store");
    assert_eq!(p.services.len(), 1);
    assert_eq!(p.operations.len(), 2);
    let ctx = &p.associations[0];
    assert!(ctx.presentation_contexts.len() > 100, "storage expands");
    assert!(ctx.context_for("1.2.840.10008.5.1.4.1.1.2").is_some());
    assert!(ctx.context_for("1.2.840.10008.1.1").is_some());
    let OperationConfig::DicomTcp(scu) = &p.operations[&"PACS".parse().unwrap()] else {
        panic!("kind");
    };
    assert_eq!(scu.retry.max_attempts, Some(5));
    assert_eq!(scu.retry.initial_delay, HumanDuration::from_millis(500));
}

#[test]
fn every_error_is_reported_with_file_line_item_and_field() {
    let text = GOOD
        .replace(
            "targets = [\"PACS\", \"FILES\"]",
            "targets = [\"Archiv\", \"FILES\"]",
        )
        .replace("port = 11114", "port = \"x\"")
        .replace("folder = \"out\"", "folder = \"out\"\nfoldr = 1");
    let errs = messages(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs.iter().any(|e| e
        == "productions/demo/store.toml:19: process 'ROUTE': field 'targets': target 'Archiv' does not exist (items: FILES, PACS)"), "{errs:#?}");
    assert!(
        errs.iter().any(|e| e.starts_with(
            "productions/demo/store.toml:13: service 'IN': field 'port': invalid type"
        )),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with(
            "productions/demo/store.toml:32: operation 'FILES': field 'foldr': unknown field"
        )),
        "{errs:#?}"
    );
}

#[test]
fn version_is_probed_first() {
    let errs = messages("version = 2\n[services.X]\nbogus = 1\n");
    assert_eq!(
        errs,
        [
            "productions/demo/store.toml:1: field 'version': unsupported version 2; this engine reads version 1"
        ]
    );
    let errs = messages("[services.X]\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("missing `version = 1`"));
}

#[test]
fn unknown_kind_and_missing_field() {
    let errs = messages(
        "version = 1\n[services.A]\ntype = \"ftp\"\n[operations.B]\ntype = \"dicom-tcp\"\nhost = \"h\"\n",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].contains("service 'A': field 'type': unknown type \"ftp\""),
        "{errs:#?}"
    );
    assert!(
        errs[1].contains("operation 'B': field 'port': missing field `port`"),
        "{errs:#?}"
    );
}

#[test]
fn targets_must_be_processes_or_operations_without_loops() {
    let text = r#"version = 1
[services.A]
type = "dicom-tcp"
port = 1
ae_title = "A"
targets = ["B"]
[services.B]
type = "dicom-tcp"
port = 2
ae_title = "B"
[processes.P]
type = "pass-through"
targets = ["Q"]
[processes.Q]
type = "pass-through"
targets = ["P"]
"#;
    let errs = messages(text);
    assert!(
        errs.iter().any(|e| e.contains("target 'B' is a service")),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("processes route in a loop")),
        "{errs:#?}"
    );
}

#[test]
fn ports_conflict_across_productions() {
    let a = compile_text(GOOD).unwrap();
    let mut b = a.clone();
    b.id.namespace = NamespaceId::new("other").unwrap();
    b.file = "productions/other/store.toml".into();
    let errs = check_resources(&[a, b]);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        "productions/other/store.toml: service 'IN': TCP port 11114 is already used by service 'IN' of production demo/store (productions/demo/store.toml)"
    );
}

#[test]
fn diff_is_per_item_and_flips() {
    let a = compile_text(GOOD).unwrap();
    let b = compile_text(
        &GOOD
            .replace("max_attempts = 5", "max_attempts = 6")
            .replace(
                "[operations.FILES]\ntype = \"file\"\nfolder = \"out\"\n",
                "",
            )
            .replace("\"PACS\", \"FILES\"", "\"PACS\""),
    )
    .unwrap();
    let d = ProductionDiff::new(Some(&a), Some(&b));
    assert_eq!(d.operations.to_change.len(), 1);
    assert_eq!(d.operations.to_remove.len(), 1);
    assert_eq!(d.processes.to_change.len(), 1);
    assert_eq!(d.services.unchanged.len(), 1);
    assert_eq!(d.flip().operations.to_add, d.operations.to_remove);
    assert!(ProductionDiff::new(Some(&a), Some(&a)).is_empty());
}

#[test]
fn ae_directory_entries_are_read_and_checked_with_their_lines() {
    let good = format!(
        "{GOOD}\n[[ae_directory]]\nae_title = \"MWL-SCP\"\nhost = \"127.0.0.1\"\nport = 2005\ndescription = \"RIS\"\n"
    );
    let p = compile_text(&good).unwrap();
    assert_eq!(p.ae_directory.len(), 1);
    assert_eq!(p.ae_directory[0].address(), "127.0.0.1:2005");

    let bad = format!(
        "{GOOD}
[[ae_directory]]
ae_title = \"A\"
host = \"bad host\"
port = 104

[[ae_directory]]
ae_title = \"B\"
host = \"b\"
port = 0

[[ae_directory]]
ae_title = \"C\"
host = \"c\"
port = 104

[[ae_directory]]
ae_title = \"C\"
host = \"c2\"
port = 105

[[ae_directory]]
ae_title = \"D\"
hots = \"d\"
port = 105
"
    );
    let errors = messages(&bad);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[0].contains("ae_directory[0].host")
            && errors[0].contains("invalid host \"bad host\""),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("ae_directory[1].port") && errors[1].contains("invalid port 0"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("ae_directory[3]") && errors[2].contains("AE C is listed twice"),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].contains("ae_directory[4]") && errors[3].contains("hots"),
        "{}",
        errors[3]
    );
}

#[test]
fn a_query_operation_takes_queries_from_a_dicom_service_and_never_messages() {
    let text = r#"
version = 1

[services.IN]
type = "dicom-tcp"
port = 11114
ae_title = "ROUTER"
targets = ["MWL", "ROUTE"]

[services.FOLDER]
type = "file"
folder = "in"
targets = ["MWL"]

[processes.ROUTE]
type = "pass-through"
targets = ["MWL"]

[operations.MWL]
type = "dicom-query"
remote_ae_title = "MWL-SCP"
local_ae_title = "ROUTER"
"#;
    let errors = messages(text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for (error, item) in errors.iter().zip(["service 'FOLDER'", "process 'ROUTE'"]) {
        assert!(
            error.contains(item) && error.contains("target 'MWL' is a dicom-query operation"),
            "{error}"
        );
    }
}

#[test]
fn a_wasm_process_whose_targets_all_take_queries_stands_in_their_way() {
    let text = r#"
version = 1

[services.IN]
type = "dicom-tcp"
port = 11114
ae_title = "ROUTER"
targets = ["SCOPE"]

[services.FOLDER]
type = "file"
folder = "in"
targets = ["SCOPE"]

[processes.SCOPE]
type = "wasm"
plugin = "scope.wasm"
targets = ["MWL"]

[processes.MIXED]
type = "wasm"
plugin = "scope.wasm"
targets = ["MWL", "ARCHIVE"]

[operations.MWL]
type = "dicom-query"
remote_ae_title = "MWL-SCP"
local_ae_title = "ROUTER"

[operations.ARCHIVE]
type = "file"
folder = "out"
"#;
    // The plugin file is not there: that is its own error, for each process.
    let errors: Vec<String> = messages(text)
        .into_iter()
        .filter(|e| !e.contains("field 'plugin'"))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].contains("service 'FOLDER'")
            && errors[0].contains("target 'SCOPE' is a process in the way of queries"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("process 'MIXED'")
            && errors[1].contains("target 'MWL' is a dicom-query operation"),
        "{}",
        errors[1]
    );
}

#[test]
fn an_association_binds_certificates_and_a_bad_binding_names_its_line() {
    let bound = GOOD.replace(
        "abstract_syntaxes = [\"storage\", \"1.2.840.10008.1.1\"]",
        "abstract_syntaxes = [\"storage\", \"1.2.840.10008.1.1\"]\ncertificates = [\"cn:STORESCU\", \"san:ct1.hospital.org\"]",
    );
    let p = compile_text(&bound).unwrap();
    let bindings: Vec<String> = p.associations[0]
        .certificates
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(bindings, ["cn:STORESCU", "san:ct1.hospital.org"]);
    let errs = messages(&bound.replace("san:ct1", "ct1"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with(
            "productions/demo/store.toml:5: field 'associations[0].certificates': \
             invalid certificate binding \"ct1.hospital.org\": no form given; write cn:NAME"
        ),
        "{errs:#?}"
    );
}
