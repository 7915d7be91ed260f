//! Store-and-forward with real peers: DCMTK storescu → engine → DCMTK
//! storescp. Every acknowledged instance arrives with an identical data set,
//! also when the archive is down for a while or the engine is killed with
//! `kill -9` in the middle of a transfer; SIGTERM exits 0.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration_tests::archive::Archive;
use integration_tests::dicom::{EXPLICIT, IMPLICIT, dcmtk_command, free_port};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, data_set_bytes, write_instances};

fn production(port: u16, archive_port: u16) -> String {
    format!(
        r#"version = 1
description = "test store and forward"

[[associations]]
calling_ae_title = "STORESCU"
called_ae_title = "ROUTER"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "{IMPLICIT}"]

[[associations]]
calling_ae_title = "ROUTER"
called_ae_title = "ARCHIVE"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "{IMPLICIT}"]

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
max_associations = 1
idle_release = "1s"
retry = {{ initial_delay = "100ms", factor = 2.0, max_delay = "1s" }}
"#
    )
}

/// storescu of these files to the engine; returns (exit ok, acknowledged count, output).
pub(crate) async fn storescu(
    port: u16,
    files: &[PathBuf],
    extra: &[&str],
) -> (bool, usize, String) {
    let out = dcmtk_command("storescu")
        .args(["-v", "-aec", "ROUTER"])
        .args(extra)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .args(files)
        .output()
        .await
        .expect("run storescu");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let acked = text.matches("Received Store Response (Success)").count();
    (out.status.success(), acked, text)
}

fn assert_identical(sent: &[(PathBuf, String)], archive: &Archive) {
    let got = archive.received();
    for (path, uid) in sent {
        let arrived = got
            .get(uid)
            .unwrap_or_else(|| panic!("{uid} did not arrive"));
        assert!(
            data_set_bytes(path) == data_set_bytes(arrived),
            "the data set of {uid} changed on the way"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_instance_arrives_identical_and_sigterm_exits_zero() {
    let (port, archive_port) = (free_port(), free_port());
    let text = production(port, archive_port);
    let mut engine = TestEngine::start(&[("test", "forward", text.as_str())]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 25, 8 * 1024);
    let mr = write_instances(&input, "mr", Modality::Mr, IMPLICIT, 25, 8 * 1024);

    let ct_files: Vec<PathBuf> = ct.iter().map(|(p, _)| p.clone()).collect();
    let (ok, acked, out) = storescu(port, &ct_files, &[]).await;
    assert!(ok && acked == ct.len(), "{out}");
    // Implicit VR only, so that the data set travels unconverted.
    let mr_files: Vec<PathBuf> = mr.iter().map(|(p, _)| p.clone()).collect();
    let (ok, acked, out) = storescu(port, &mr_files, &["-xi"]).await;
    assert!(ok && acked == mr.len(), "{out}");

    let all: Vec<(PathBuf, String)> = ct.into_iter().chain(mr).collect();
    let uids: Vec<String> = all.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
    assert_identical(&all, &archive);

    let status = engine.stop().await;
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        engine.log()
    );
    assert!(engine.log().contains("Engine stopped."), "{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_that_is_down_gets_everything_once_it_is_up() {
    let (port, archive_port) = (free_port(), free_port());
    let text = production(port, archive_port);
    let engine = TestEngine::start(&[("test", "forward", text.as_str())]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 10, 4 * 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();
    // Acknowledged although the archive does not run.
    let (ok, acked, out) = storescu(port, &files, &[]).await;
    assert!(ok && acked == sent.len(), "{out}");
    // Let a few attempts fail.
    let start = Instant::now();
    while !engine.log().contains("will retry") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let uids: Vec<String> = sent.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
    assert_identical(&sent, &archive);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_stream_loses_no_acknowledged_instance() {
    let (port, archive_port) = (free_port(), free_port());
    let text = production(port, archive_port);
    let mut engine = TestEngine::start(&[("test", "forward", text.as_str())]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 60, 64 * 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();

    // The archive is down: everything acknowledged waits in the store.
    let sender = tokio::spawn(async move { storescu(port, &files, &[]).await });
    let bodies = engine.data_dir().join("bodies");
    let start = Instant::now();
    loop {
        // Bodies with content: the folder also holds empty spool files made
        // ahead of time. One at most is still being received, so at least
        // nine of ten were acknowledged.
        let n = std::fs::read_dir(&bodies)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
                    .count()
            })
            .unwrap_or(0);
        if n >= 10 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engine.kill9().await;
    let (_, acked, out) = sender.await.expect("storescu task");
    assert!(acked >= 1, "{out}");

    engine.restart().await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    // storescu sends in order: the first `acked` files were acknowledged.
    let acknowledged: Vec<(PathBuf, String)> = sent.into_iter().take(acked).collect();
    let uids: Vec<String> = acknowledged.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
    assert_identical(&acknowledged, &archive);
}
