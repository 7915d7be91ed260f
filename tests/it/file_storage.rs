//! Files in and out: a DICOM service files what it receives as
//! `<SOPInstanceUID>.dcm` Part 10 files with the data set unchanged, and a
//! folder service sends the files dropped into it to an archive.

use std::path::{Path, PathBuf};

use integration_tests::dcmtk::{Archive, dcmtk, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, data_set_bytes, paths_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{
    Association, DicomOperation, DicomService, FileOperation, FileService, Production,
};
use integration_tests::uids::EXPLICIT;

/// DICOM in, files out (`FILER` → `RECEIVED`); files in, DICOM out
/// (`OUTBOX` → `ARCHIVE`).
fn production(port: u16, archive_port: u16, received: &Path, outbox: &Path) -> String {
    Production::new()
        .association(Association::new(
            "STORESCU",
            "FILER",
            &["storage"],
            &[EXPLICIT],
        ))
        .association(Association::new(
            "FILER",
            "ARCHIVE",
            &["storage"],
            &[EXPLICIT],
        ))
        .dicom_service(DicomService::new("FILER", port, "FILER").targets(["RECEIVED"]))
        .file_operation(FileOperation::new("RECEIVED", received))
        .file_service(FileService::new("OUTBOX", outbox, ["ARCHIVE"]).poll_interval("100ms"))
        .dicom_operation(DicomOperation::new(
            "ARCHIVE",
            archive_port,
            "ARCHIVE",
            "FILER",
        ))
        .to_string()
}

async fn wait_for_files(dir: &Path, n: usize, engine: &TestEngine) -> Vec<PathBuf> {
    let files = || {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        });
        files.sort();
        files
    };
    engine
        .wait_until(&format!("{n} files in {}", dir.display()), async || {
            files().len() >= n && engine.all_delivered("files").await
        })
        .await;
    files()
}

#[tokio::test(flavor = "multi_thread")]
async fn received_instances_are_filed_and_dropped_files_are_sent() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let root = integration_tests::private_tempdir();
    let received = root.path().join("received");
    let outbox = root.path().join("outbox");
    let text = production(port.get(), archive_port.get(), &received, &outbox);
    let engine = TestEngine::start(&[("files", "file-storage", &text)]).await;
    let archive_dir = engine.folder("archive");
    let _archive = Archive::start("ARCHIVE", archive_port, &archive_dir).await;

    // DICOM in, files out.
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 3, 2048);
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = storescu("FILER", port.get(), &files, &[]).await;
    assert!(stored.ok, "{stored}");
    wait_for_files(&received, 3, &engine).await;
    // For other programs: the production's file_mode (default 0640), not
    // the engine's private 0600, and a folder they can enter.
    assert_eq!(mode(&received), 0o750);
    for (path, uid) in &sent {
        let filed = received.join(format!("{uid}.dcm"));
        assert_eq!(mode(&filed), 0o640, "{}", filed.display());
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
    engine
        .wait_until("the outbox emptied", async || {
            std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) == 0
        })
        .await;
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}
