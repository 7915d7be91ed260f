//! Namespaces seen from the command line: the message trace covers every
//! namespace unless `--namespace` narrows it, and an association refused
//! because its pair lives in another namespace says which.

use std::path::PathBuf;

use integration_tests::dcmtk::{echoscu, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomService, FileOperation, Production};
use integration_tests::text;

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
use integration_tests::uids::EXPLICIT;

/// `IN` (AE title `ROUTER`) files what `STORESCU` sends in `folder`.
fn filer(port: u16, folder: &std::path::Path) -> String {
    Production::new()
        .association(Association::storage("STORESCU", "ROUTER"))
        .dicom_service(DicomService::new("IN", port, "ROUTER").targets(["FILES"]))
        .file_operation(FileOperation::new("FILES", folder))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_message_trace_covers_every_namespace_unless_one_is_named() {
    let (demo_port, radiology_port) = (Port::reserve(), Port::reserve());
    let root = integration_tests::private_tempdir();
    let demo = filer(demo_port.get(), &root.path().join("demo"));
    let radiology = filer(radiology_port.get(), &root.path().join("radiology"));
    let engine =
        TestEngine::start(&[("demo", "filer", &demo), ("radiology", "filer", &radiology)]).await;
    let input = engine.folder("input");
    for (prefix, port) in [("demo", &demo_port), ("radiology", &radiology_port)] {
        let sent = write_instances(&input, prefix, Modality::Ct, EXPLICIT, 1, 1024);
        let files: Vec<PathBuf> = sent.into_iter().map(|(p, _)| p).collect();
        let stored = storescu("ROUTER", port.get(), &files, &[]).await;
        assert!(stored.ok, "{stored}");
    }

    let everywhere = engine.json(&["messages", "list", "--json"]).await;
    let namespaces: Vec<&str> = everywhere
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| m["namespace"].as_str().expect("a namespace"))
        .collect();
    assert_eq!(namespaces, ["radiology", "demo"], "newest first");
    let table = utf8(&engine.command(&["messages", "list"]).await.stdout);
    assert!(table.starts_with("ID  NAMESPACE"), "{table}");
    assert!(
        table.contains("radiology") && table.contains("demo"),
        "{table}"
    );

    let narrowed = engine
        .json(&["--namespace", "demo", "messages", "list", "--json"])
        .await;
    assert_eq!(narrowed.as_array().map(Vec::len), Some(1), "{narrowed}");
    assert_eq!(narrowed[0]["namespace"], "demo");
    let table = utf8(
        &engine
            .command(&["--namespace", "demo", "messages", "list"])
            .await
            .stdout,
    );
    assert!(!table.contains("NAMESPACE"), "{table}");

    // Found by id wherever it is; not in a namespace that lacks it.
    let id = everywhere[0]["id"].to_string();
    let shown = engine.json(&["messages", "show", &id, "--json"]).await;
    assert_eq!(shown["namespace"], "radiology");
    let missing = engine
        .command(&["--namespace", "demo", "messages", "show", &id])
        .await;
    assert!(!missing.status.success(), "{}", text(&missing));
    assert!(
        utf8(&missing.stderr).contains(&format!("no message {id} in namespace demo")),
        "{}",
        text(&missing)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pair_defined_in_another_namespace_is_named_when_rejected() {
    let port = Port::reserve();
    let scp = Production::new()
        .dicom_service(DicomService::new("ECHO-SCP", port.get(), "ENS-SCP"))
        .to_string();
    let engine = TestEngine::start(&[("demo", "echo", &scp)]).await;
    let created = engine
        .command(&[
            "association",
            "create",
            "--calling",
            "ENS-SCU",
            "--called",
            "ENS-SCP",
        ])
        .await;
    assert!(created.status.success(), "{}", text(&created));

    let echo = echoscu("ENS-SCU", "ENS-SCP", port.get(), &[]).await;
    assert!(!echo.ok, "{echo}");
    assert!(
        echo.output.contains("Calling AE Title Not Recognized"),
        "{echo}"
    );
    engine
        .wait_for_log(
            "ENS-SCU → ENS-SCP is defined in namespace default, this service is in namespace demo",
            1,
        )
        .await;
}
