//! Files in and out: a DICOM service files what it receives as
//! `<SOPInstanceUID>.dcm` Part 10 files with the data set unchanged, and a
//! folder service sends the files dropped into it to an archive.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration_tests::dicom::{EXPLICIT, dcmtk, dcmtk_command, free_port, wait_for_tcp};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, data_set_bytes, write_instances};

fn production(port: u16, archive_port: u16, received: &Path, outbox: &Path) -> String {
    format!(
        r#"version = 1

[[associations]]
calling_ae_title = "STORESCU"
called_ae_title = "FILER"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}"]

[[associations]]
calling_ae_title = "FILER"
called_ae_title = "ARCHIVE"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}"]

[services.FILER]
type = "dicom-tcp"
port = {port}
ae_title = "FILER"
targets = ["RECEIVED"]

[operations.RECEIVED]
type = "file"
folder = "{received}"

[services.OUTBOX]
type = "file"
folder = "{outbox}"
poll_interval = "100ms"
targets = ["ARCHIVE"]

[operations.ARCHIVE]
type = "dicom-tcp"
host = "127.0.0.1"
port = {archive_port}
remote_ae_title = "ARCHIVE"
local_ae_title = "FILER"
"#,
        received = received.display(),
        outbox = outbox.display()
    )
}

async fn wait_for_files(dir: &Path, n: usize, engine: &TestEngine) -> Vec<PathBuf> {
    let start = Instant::now();
    loop {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        });
        if files.len() >= n && engine.all_delivered("files").await {
            files.sort();
            return files;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} of {n} files in {}:\n{}",
            files.len(),
            dir.display(),
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn received_instances_are_filed_and_dropped_files_are_sent() {
    let (port, archive_port) = (free_port(), free_port());
    let root = tempfile::tempdir().expect("temp dir");
    let received = root.path().join("received");
    let outbox = root.path().join("outbox");
    let text = production(port, archive_port, &received, &outbox);
    let engine = TestEngine::start(&[("files", "file-storage", text.as_str())]).await;
    let archive_dir = engine.folder("archive");
    let _archive = dcmtk_command("storescp")
        .args(["-aet", "ARCHIVE", "+B", "-od"])
        .arg(&archive_dir)
        .arg(archive_port.to_string())
        .spawn()
        .expect("storescp");
    wait_for_tcp(
        SocketAddr::from(([127, 0, 0, 1], archive_port)),
        Duration::from_secs(10),
    )
    .await;

    // DICOM in, files out.
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 3, 2048);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();
    let out = dcmtk_command("storescu")
        .args(["-aec", "FILER", "127.0.0.1"])
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
    wait_for_files(&received, 3, &engine).await;
    for (path, uid) in &sent {
        let filed = received.join(format!("{uid}.dcm"));
        assert!(
            data_set_bytes(path) == data_set_bytes(&filed),
            "{uid} changed"
        );
        let dump = std::process::Command::new(dcmtk("dcmdump"))
            .arg(&filed)
            .output()
            .expect("dcmdump");
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
    }

    // Files in, DICOM out.
    let dropped = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 3, 2048);
    for (path, _) in &dropped {
        std::fs::copy(path, outbox.join(path.file_name().expect("name"))).expect("copy");
    }
    let arrived = wait_for_files(&archive_dir, 3, &engine).await;
    assert_eq!(arrived.len(), 3);
    for (path, uid) in &dropped {
        let got = arrived
            .iter()
            .find(|p| p.to_string_lossy().ends_with(uid.as_str()))
            .unwrap_or_else(|| panic!("{uid} did not arrive"));
        assert!(data_set_bytes(path) == data_set_bytes(got), "{uid} changed");
    }
    let start = Instant::now();
    while std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the outbox is not emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
