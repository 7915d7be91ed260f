//! Routing plugins in a running engine, with DCMTK peers: the routing demo
//! (every CT only at CT-ARCHIVE, every MR only at ARCHIVE), and messages
//! that make a plugin loop, trap or run out of memory fail alone while the
//! others are delivered.

use std::path::PathBuf;

use integration_tests::dcmtk::{Archive, Ran, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{
    Instance, Modality, data_set_bytes, paths_of, uids_of, write_instances,
};
use integration_tests::net::Port;
use integration_tests::plugins::plugin;
use integration_tests::production::{
    Association, DicomOperation, DicomService, Process, Production,
};
use integration_tests::uids::EXPLICIT;

/// STORESCU sends to `IN` (AE title ROUTER-MOD) on `port`, which hands
/// every instance to `process`, which routes to an operation per (AE title,
/// port) in `archives`, named after the AE title.
fn production(port: u16, process: Process, archives: &[(&str, u16)]) -> String {
    let mut production = Production::new()
        .association(Association::storage("STORESCU", "ROUTER-MOD"))
        .dicom_service(DicomService::new("IN", port, "ROUTER-MOD").targets([process.name()]))
        .process(process);
    for (ae_title, archive_port) in archives {
        production = production
            .association(Association::storage("ROUTER-MOD", ae_title))
            .dicom_operation(
                DicomOperation::new(ae_title, *archive_port, ae_title, "ROUTER-MOD")
                    .max_associations(1)
                    .idle_release("1s")
                    .retry("100ms", 2.0, "1s"),
            );
    }
    production.to_string()
}

async fn send(port: u16, files: &[PathBuf]) -> Ran {
    storescu("ROUTER-MOD", port, files, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_routing_demo_sends_ct_only_to_the_ct_archive_and_the_rest_to_the_archive() {
    let (port, ct_port, archive_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let by_modality = Process::wasm(
        "BY-MODALITY",
        &plugin("route-by-modality"),
        r#"{ routes = { CT = ["CT-ARCHIVE"] }, default = ["ARCHIVE"] }"#,
        ["CT-ARCHIVE", "ARCHIVE"],
    );
    let archives = [
        ("CT-ARCHIVE", ct_port.get()),
        ("ARCHIVE", archive_port.get()),
    ];
    let text = production(port.get(), by_modality, &archives);
    let engine = TestEngine::start(&[("demo", "route-by-modality", &text)]).await;
    let ct_archive = Archive::start("CT-ARCHIVE", ct_port, &engine.folder("ct-archive")).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 10, 2048);
    let mr = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 10, 2048);
    let files: Vec<PathBuf> = ct.iter().chain(&mr).map(|(p, _)| p.clone()).collect();
    let sent = send(port.get(), &files).await;
    assert!(sent.ok && sent.acknowledged() == files.len(), "{sent}");

    ct_archive.wait_for(&uids_of(&ct), &engine, "demo").await;
    archive.wait_for(&uids_of(&mr), &engine, "demo").await;
    let (at_ct, at_archive) = (ct_archive.received(), archive.received());
    for (path, uid) in &ct {
        let got = at_ct
            .get(uid)
            .unwrap_or_else(|| panic!("CT {uid} is not at CT-ARCHIVE"));
        assert!(
            data_set_bytes(path) == data_set_bytes(got),
            "CT {uid} changed on the way"
        );
        assert!(
            !at_archive.contains_key(uid),
            "CT {uid} also went to ARCHIVE"
        );
    }
    for (path, uid) in &mr {
        let got = at_archive
            .get(uid)
            .unwrap_or_else(|| panic!("MR {uid} is not at ARCHIVE"));
        assert!(
            data_set_bytes(path) == data_set_bytes(got),
            "MR {uid} changed on the way"
        );
        assert!(!at_ct.contains_key(uid), "MR {uid} also went to CT-ARCHIVE");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_that_break_the_plugin_fail_alone_while_a_thousand_others_are_delivered() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let bad = Process::wasm("BAD-PLUGIN", &plugin("test-misbehave"), "{}", ["ARCHIVE"]);
    let text = production(port.get(), bad, &[("ARCHIVE", archive_port.get())]);
    let engine = TestEngine::start(&[("test", "misbehave", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let good = write_instances(&input, "good", Modality::Ct, EXPLICIT, 1000, 64);
    let bad_kinds = ["loop", "trap", "panic", "oom", "unknown-target"];
    let mut files: Vec<PathBuf> = paths_of(&good);
    let mut bad_uids = Vec::new();
    for (i, kind) in bad_kinds.iter().enumerate() {
        let uid = format!("1.2.826.0.1.3680043.10.1142.99.{}", i + 1);
        let path = input.join(format!("bad-{kind}.dcm"));
        Instance::new(Modality::Ct)
            .sop_instance_uid(&uid)
            .patient_id(kind)
            .write(&path);
        // Spread the bad messages among the good ones.
        files.insert(100 + i * 200, path);
        bad_uids.push(uid);
    }
    let sent = send(port.get(), &files).await;
    assert!(
        sent.ok && sent.acknowledged() == files.len(),
        "every message is acknowledged: {sent}"
    );

    engine
        .wait_until("the good instances arrive", async || {
            archive.received().len() >= good.len()
        })
        .await;
    let got = archive.received();
    for (_, uid) in &good {
        assert!(got.contains_key(uid), "{uid} did not arrive");
    }
    for uid in &bad_uids {
        assert!(!got.contains_key(uid), "{uid} should have failed");
    }
    // Each bad message failed with the plugin's error in its trace.
    let list = integration_tests::switchboard(&[
        "--data-dir",
        engine.data_dir().to_str().unwrap(),
        "--namespace",
        "test",
        "messages",
        "list",
        "--status",
        "failed",
    ]);
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        list.status.success(),
        "{listed}{}",
        String::from_utf8_lossy(&list.stderr)
    );
    for uid in &bad_uids {
        assert!(
            listed.contains(uid.as_str()),
            "{uid} is not listed as failed:\n{listed}"
        );
    }
    assert_eq!(
        listed.lines().filter(|l| l.contains("1.2.826")).count(),
        bad_uids.len(),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_reach_the_archive_as_a_copy_while_the_original_stays_as_received() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let morph = Process::wasm(
        "MORPH",
        &plugin("tag-morph"),
        r#"{ remove = ["PatientName"], set = [{ tag = "InstitutionName", value = "ANON" }] }"#,
        ["ARCHIVE"],
    );
    let text = production(port.get(), morph, &[("ARCHIVE", archive_port.get())]);
    let engine = TestEngine::start(&[("test", "morph", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let sent = write_instances(
        &engine.folder("input"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        5,
        1024,
    );
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = send(port.get(), &files).await;
    assert!(
        stored.ok && stored.acknowledged() == files.len(),
        "{stored}"
    );
    archive.wait_for(&uids_of(&sent), &engine, "test").await;

    let got = archive.received();
    for (_, uid) in &sent {
        let file = dicom_object::open_file(&got[uid]).expect("a DICOM file at the archive");
        let text = |g, e| {
            file.get(dicom_core::Tag(g, e))
                .map(|v| v.to_str().unwrap().trim().to_string())
        };
        assert_eq!(text(0x0008, 0x0080).as_deref(), Some("ANON"), "{uid}");
        assert_eq!(text(0x0010, 0x0010), None, "{uid}: PatientName was removed");
    }
    // The originals stay as received in the store, and say where their copy went.
    let shown = integration_tests::switchboard(&[
        "--data-dir",
        engine.data_dir().to_str().unwrap(),
        "--namespace",
        "test",
        "messages",
        "show",
        "1",
    ]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains("the edited copy is message"), "{shown}");
}
