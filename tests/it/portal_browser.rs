//! The portal in a real browser (Debian's chromium driven by playwright):
//! each flow logs in with the printed URL and saves a full-page screenshot
//! of every page it sees in `target/portal-screenshots/<flow>/`.

use std::path::PathBuf;

use integration_tests::browser::{Flow, screenshots};
use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomOperation, DicomService, Production};
use integration_tests::uids::EXPLICIT;

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
