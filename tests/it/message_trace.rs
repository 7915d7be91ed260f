//! The message trace: `messages list|show|resend` against a running engine
//! (through its admin socket) and a stopped one (store opened directly).
//! A message the remote cannot take fails with the reason, is never shown as
//! delivered, and is delivered after the cause is fixed and it is resent.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomOperation, Production};
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT, MR_IMAGE_STORAGE};

/// Store and forward where the stored association outbound allows CT
/// only: MR messages fail.
fn production(port: u16, archive_port: u16) -> String {
    Production::store_and_forward(port, archive_port)
        .association(Association::new(
            "STORESCU",
            "ROUTER",
            &[CT_IMAGE_STORAGE, MR_IMAGE_STORAGE],
            &[EXPLICIT],
        ))
        .association(Association::new(
            "ROUTER",
            "ARCHIVE",
            &[CT_IMAGE_STORAGE],
            &[EXPLICIT],
        ))
        .dicom_operation(DicomOperation::new(
            "OUT",
            archive_port,
            "ARCHIVE",
            "ROUTER",
        ))
        .to_string()
}

/// The status of each message's (only) delivery, oldest first.
async fn statuses(engine: &TestEngine) -> Vec<String> {
    engine
        .messages("trace")
        .await
        .iter()
        .map(|m| {
            m["deliveries"][0]["status"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_traced_and_resent_after_the_fix() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = production(port.get(), archive_port.get());
    let mut engine = TestEngine::start(&[("trace", "forward", &text)]).await;
    let _archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;

    let input = engine.folder("input");
    let mut files: Vec<PathBuf> = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 2, 1024)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    files.extend(
        write_instances(&input, "mr", Modality::Mr, EXPLICIT, 2, 1024)
            .into_iter()
            .map(|(p, _)| p),
    );
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok, "{stored}");

    engine
        .wait_until("2 delivered and 2 failed", async || {
            let s = statuses(&engine).await;
            s.iter().filter(|x| *x == "delivered").count() == 2
                && s.iter().filter(|x| *x == "failed").count() == 2
        })
        .await;
    let failed = engine
        .json(&[
            "--namespace",
            "trace",
            "messages",
            "list",
            "--status",
            "failed",
            "--json",
        ])
        .await;
    let failed = failed.as_array().expect("array");
    assert_eq!(failed.len(), 2);
    let reason = failed[0]["deliveries"][0]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("no presentation context"), "{reason}");
    let id = failed[0]["id"].to_string();
    let show = engine
        .command(&["--namespace", "trace", "messages", "show", &id])
        .await;
    let show = String::from_utf8_lossy(&show.stdout).into_owned();
    assert!(
        show.contains("Trace:") && show.contains("failed:"),
        "{show}"
    );

    // Fix the cause, then resend what failed.
    let out = engine
        .command(&[
            "--namespace",
            "trace",
            "association",
            "context",
            "add",
            "--calling",
            "ROUTER",
            "--called",
            "ARCHIVE",
            "--abstract-syntax",
            MR_IMAGE_STORAGE,
            "--transfer-syntax",
            EXPLICIT,
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = engine
        .command(&[
            "--namespace",
            "trace",
            "messages",
            "resend",
            "--status",
            "failed",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("queued again for OUT"));
    let resent = Instant::now();
    engine
        .wait_until("all delivered", async || {
            let s = statuses(&engine).await;
            s.len() == 4 && s.iter().all(|x| x == "delivered")
        })
        .await;
    // The resend woke the operation's queue reader: it did not wait for its
    // safety-net rescan (every 5 s).
    assert!(
        resent.elapsed() < Duration::from_secs(3),
        "delivered {:?} after the resend",
        resent.elapsed()
    );

    // Stopped: the same commands read the store directly.
    assert!(engine.stop().await.success());
    assert_eq!(statuses(&engine).await.len(), 4);
}
