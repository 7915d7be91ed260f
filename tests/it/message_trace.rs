//! The message trace: `messages list|show|resend` against a running engine
//! (through its admin socket) and a stopped one (store opened directly).
//! A message the remote cannot take fails with the reason, is never shown as
//! delivered, and is delivered after the cause is fixed and it is resent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration_tests::dicom::{
    CT_IMAGE_STORAGE, EXPLICIT, MR_IMAGE_STORAGE, dcmtk_command, free_port, wait_for_tcp,
};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};

/// Outbound, the stored association allows CT only: MR messages fail.
fn production(port: u16, archive_port: u16) -> String {
    format!(
        r#"version = 1

[[associations]]
calling_ae_title = "STORESCU"
called_ae_title = "ROUTER"
abstract_syntaxes = ["{CT_IMAGE_STORAGE}", "{MR_IMAGE_STORAGE}"]
transfer_syntaxes = ["{EXPLICIT}"]

[[associations]]
calling_ae_title = "ROUTER"
called_ae_title = "ARCHIVE"
abstract_syntaxes = ["{CT_IMAGE_STORAGE}"]
transfer_syntaxes = ["{EXPLICIT}"]

[services.IN]
type = "dicom-tcp"
port = {port}
ae_title = "ROUTER"
targets = ["OUT"]

[operations.OUT]
type = "dicom-tcp"
host = "127.0.0.1"
port = {archive_port}
remote_ae_title = "ARCHIVE"
local_ae_title = "ROUTER"
"#
    )
}

async fn json(engine: &TestEngine, args: &[&str]) -> serde_json::Value {
    let out = engine.command(args).await;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

async fn statuses(engine: &TestEngine) -> Vec<String> {
    let list = json(
        engine,
        &["--namespace", "trace", "messages", "list", "--json"],
    )
    .await;
    list.as_array()
        .expect("an array")
        .iter()
        .map(|m| {
            m["deliveries"][0]["status"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

async fn wait_until(engine: &TestEngine, what: &str, check: impl Fn(&[String]) -> bool) {
    let start = Instant::now();
    loop {
        let s = statuses(engine).await;
        if check(&s) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: {s:?}\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_traced_and_resent_after_the_fix() {
    let (port, archive_port) = (free_port(), free_port());
    let text = production(port, archive_port);
    let mut engine = TestEngine::start(&[("trace", "forward", text.as_str())]).await;
    let archive_dir = engine.folder("archive");
    let _archive = dcmtk_command("storescp")
        .args(["-aet", "ARCHIVE", "-od"])
        .arg(&archive_dir)
        .arg(archive_port.to_string())
        .spawn()
        .expect("storescp");
    wait_for_tcp(
        SocketAddr::from(([127, 0, 0, 1], archive_port)),
        Duration::from_secs(10),
    )
    .await;

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
    let out = dcmtk_command("storescu")
        .args(["-aec", "ROUTER", "127.0.0.1"])
        .arg(port.to_string())
        .args(&files)
        .output()
        .await
        .expect("storescu");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    wait_until(&engine, "2 delivered and 2 failed", |s| {
        s.iter().filter(|x| *x == "delivered").count() == 2
            && s.iter().filter(|x| *x == "failed").count() == 2
    })
    .await;
    let failed = json(
        &engine,
        &[
            "--namespace",
            "trace",
            "messages",
            "list",
            "--status",
            "failed",
            "--json",
        ],
    )
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
    wait_until(&engine, "all delivered", |s| {
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
