//! The portal in a real browser (Debian's chromium driven by playwright):
//! each flow logs in with the printed URL and saves a full-page screenshot
//! of every page it sees in `target/portal-screenshots/<flow>/`.

use std::path::PathBuf;

use integration_tests::browser::{Flow, screenshots};
use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{
    Association, DicomOperation, DicomService, FileOperation, Production,
};
use integration_tests::pynetdicom::run_python;
use integration_tests::text;
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT, IMPLICIT, VERIFICATION};

/// The login URL a portal engine wrote.
fn login_url(engine: &TestEngine) -> String {
    std::fs::read_to_string(engine.data_dir().join("portal.token"))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_to_an_archive_that_is_down_fail_and_are_resent_from_the_page() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = Production::new()
        .association(Association::storage("STORESCU", "ROUTER"))
        .association(Association::storage("ROUTER", "ARCHIVE"))
        .dicom_service(DicomService::new("IN", port.get(), "ROUTER").targets(["OUT"]))
        .dicom_operation(DicomOperation::archive(archive_port.get()).max_attempts(2))
        .to_string();
    let engine = TestEngine::start_with(
        &[("browser", "forward", &text)],
        &["--portal", "127.0.0.1:0"],
        |_| {},
    )
    .await;
    let files: Vec<PathBuf> = write_instances(
        &engine.folder("input"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        2,
        1024,
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok, "{stored}");

    let shots = screenshots("resend");
    let mut flow = Flow::start("resend.py", &[&login_url(&engine), shots.to_str().unwrap()]);
    assert_eq!(flow.next_wait().await.as_deref(), Some("archive"));
    let _archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    flow.resume().await;
    assert_eq!(flow.next_wait().await, None);
    assert!(shots.join("messages-delivered.png").exists());
}

/// pynetdicom proposes Verification as [Implicit, Explicit] and CT Image
/// Storage as [Explicit, Implicit], as `VIEWER`; prints what was accepted.
const PROPOSE: &str = r#"
import sys, json
from pynetdicom import AE
ae = AE(ae_title="VIEWER")
ae.add_requested_context("1.2.840.10008.1.1", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="ENS-SCP")
print(json.dumps({str(cx.abstract_syntax): str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}))
if assoc.is_established:
    assoc.release()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_association_made_in_the_page_is_what_the_engine_negotiates() {
    let port = Port::reserve();
    let text_of = Production::echo("OTHER", port.get()).to_string();
    let engine = TestEngine::start_with(
        &[("settings", "echo", &text_of)],
        &["--portal", "127.0.0.1:0"],
        |_| {},
    )
    .await;
    let peer_port = Port::reserve();
    let peer_address = peer_port.get().to_string();
    let _peer = Archive::start("ANY-SCP", peer_port, &engine.folder("peer")).await;
    let shots = screenshots("associations");
    let mut flow = Flow::start(
        "associations.py",
        &[
            &login_url(&engine),
            shots.to_str().unwrap(),
            "settings",
            &peer_address,
        ],
    );
    assert_eq!(flow.next_wait().await.as_deref(), Some("check"));

    let shown = engine
        .json(&[
            "--namespace",
            "settings",
            "association",
            "show",
            "--calling",
            "VIEWER",
            "--called",
            "ENS-SCP",
            "--json",
        ])
        .await;
    assert_eq!(shown["name"], "Viewer");
    let contexts = &shown["presentation_contexts"];
    assert_eq!(contexts[0]["abstract_syntax"], VERIFICATION);
    assert_eq!(
        contexts[0]["transfer_syntaxes"],
        serde_json::json!([EXPLICIT, IMPLICIT])
    );
    assert_eq!(contexts[1]["abstract_syntax"], CT_IMAGE_STORAGE);
    assert_eq!(
        contexts[1]["transfer_syntaxes"],
        serde_json::json!([IMPLICIT, EXPLICIT])
    );
    // The engine's preference wins over the requester's order.
    let out = run_python(PROPOSE, &[&port.get().to_string()]).await;
    let accepted: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
            .unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(
        accepted,
        serde_json::json!({VERIFICATION: EXPLICIT, CT_IMAGE_STORAGE: IMPLICIT}),
        "{}",
        text(&out)
    );

    flow.resume().await;
    assert_eq!(flow.next_wait().await, None);
    let listed = engine
        .json(&["--namespace", "settings", "association", "list", "--json"])
        .await;
    let pairs: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}>{}",
                a["calling_aet"].as_str().unwrap(),
                a["called_aet"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        pairs,
        ["OTHER>ENS-SCP"],
        "deleted, and the bad import stored nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reference_tables_filter_as_you_type_and_open_an_elements_values() {
    let engine = TestEngine::start_with(&[], &["--portal", "127.0.0.1:0"], |_| {}).await;
    let shots = screenshots("reference");
    let mut flow = Flow::start(
        "reference.py",
        &[&login_url(&engine), shots.to_str().unwrap()],
    );
    assert_eq!(flow.next_wait().await, None);
    assert!(shots.join("codes.png").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_edited_in_the_page_is_checked_then_saved_and_runs() {
    let port = Port::reserve();
    let text_of = Production::echo("OTHER", port.get()).to_string();
    let engine = TestEngine::start_with(
        &[("edit", "echo", &text_of)],
        &["--portal", "127.0.0.1:0"],
        |_| {},
    )
    .await;
    let file = engine.productions_dir().join("edit").join("echo.toml");
    let before = std::fs::read_to_string(&file).unwrap();
    let addition = FileOperation::new("COPY", &engine.folder("copies")).to_string();
    let typo = addition.replace("folder =", "foldr =");
    let shots = screenshots("production-edit");
    let mut flow = Flow::start(
        "production_edit.py",
        &[
            &login_url(&engine),
            shots.to_str().unwrap(),
            "edit/echo",
            &typo,
            &addition,
        ],
    );
    assert_eq!(flow.next_wait().await.as_deref(), Some("typo"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "a typo is never written"
    );
    flow.resume().await;
    assert_eq!(flow.next_wait().await, None);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("[operations.COPY]")
    );
    engine
        .wait_until("COPY runs", async || {
            let status = engine.json(&["status", "--json"]).await;
            status["productions"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["items"].as_array().is_some_and(|items| {
                        items
                            .iter()
                            .any(|i| i["name"] == "COPY" && i["state"] == "running")
                    })
                })
            })
        })
        .await;
    // The save is in the audit trail with the text before and after; the
    // refused typo is not.
    let audit = engine.json(&["audit", "list", "--json"]).await;
    let saves: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "production save")
        .collect();
    assert_eq!(saves.len(), 1, "{audit:#}");
    assert_eq!(saves[0]["target"], "echo");
    assert_eq!(saves[0]["before"], before.as_str());
    assert!(
        saves[0]["after"]
            .as_str()
            .is_some_and(|t| t.contains("[operations.COPY]"))
    );
    assert!(
        saves[0]["who"]
            .as_str()
            .unwrap()
            .starts_with("portal session ")
    );
}
