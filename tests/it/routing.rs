//! Routing plugins in a running engine, with DCMTK peers: the routing demo
//! (every CT only at CT-ARCHIVE, every MR only at ARCHIVE), and messages
//! that make a plugin loop, trap or run out of memory fail alone while the
//! others are delivered.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration_tests::archive::Archive;
use integration_tests::dicom::{EXPLICIT, dcmtk_command, free_port};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, data_set_bytes, write_instances};
use integration_tests::plugins::{plugin, write_image_with_uid};

fn association(calling: &str, called: &str) -> String {
    format!(
        "[[associations]]\ncalling_ae_title = \"{calling}\"\ncalled_ae_title = \"{called}\"\nabstract_syntaxes = [\"storage\"]\ntransfer_syntaxes = [\"{EXPLICIT}\", \"1.2.840.10008.1.2\"]\n\n"
    )
}

fn operation(name: &str, port: u16) -> String {
    format!(
        "[operations.{name}]\ntype = \"dicom-tcp\"\nhost = \"127.0.0.1\"\nport = {port}\nremote_ae_title = \"{name}\"\nlocal_ae_title = \"ROUTER-MOD\"\nmax_associations = 1\nidle_release = \"1s\"\nretry = {{ initial_delay = \"100ms\", factor = 2.0, max_delay = \"1s\" }}\n\n"
    )
}

async fn wait_until(what: &str, engine: &TestEngine, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{what}; engine log:\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every file storescp wrote so far is complete (it may still be
/// writing the last one when it appears in the folder).
async fn wait_complete(archive: &Archive) {
    for path in archive.received().values() {
        let start = Instant::now();
        let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        loop {
            let before = size();
            tokio::time::sleep(Duration::from_millis(20)).await;
            if before == size() && dicom_object::open_file(path).is_ok() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} stays incomplete",
                path.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn storescu(port: u16, files: &[PathBuf]) -> (bool, usize, String) {
    let out = dcmtk_command("storescu")
        .args(["-v", "-aec", "ROUTER-MOD", "127.0.0.1"])
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

#[tokio::test(flavor = "multi_thread")]
async fn the_routing_demo_sends_ct_only_to_the_ct_archive_and_the_rest_to_the_archive() {
    let (port, ct_port, archive_port) = (free_port(), free_port(), free_port());
    let wasm = plugin("route-by-modality");
    let text = format!(
        "version = 1\n\n{}{}{}[services.IN]\ntype = \"dicom-tcp\"\nport = {port}\nae_title = \"ROUTER-MOD\"\ntargets = [\"BY-MODALITY\"]\n\n\
         [processes.BY-MODALITY]\ntype = \"wasm\"\nplugin = \"{}\"\nconfig = {{ routes = {{ CT = [\"CT-ARCHIVE\"] }}, default = [\"ARCHIVE\"] }}\ntargets = [\"CT-ARCHIVE\", \"ARCHIVE\"]\n\n{}{}",
        association("STORESCU", "ROUTER-MOD"),
        association("ROUTER-MOD", "CT-ARCHIVE"),
        association("ROUTER-MOD", "ARCHIVE"),
        wasm.display(),
        operation("CT-ARCHIVE", ct_port),
        operation("ARCHIVE", archive_port),
    );
    let engine = TestEngine::start(&[("demo", "route-by-modality", text.as_str())]).await;
    let ct_archive = Archive::start("CT-ARCHIVE", ct_port, &engine.folder("ct-archive")).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 10, 2048);
    let mr = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 10, 2048);
    let files: Vec<PathBuf> = ct.iter().chain(&mr).map(|(p, _)| p.clone()).collect();
    let (ok, acked, out) = storescu(port, &files).await;
    assert!(ok && acked == files.len(), "{out}");

    wait_until("every instance arrives", &engine, || {
        ct_archive.received().len() == ct.len() && archive.received().len() == mr.len()
    })
    .await;
    wait_complete(&ct_archive).await;
    wait_complete(&archive).await;
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
    let (port, archive_port) = (free_port(), free_port());
    let wasm = plugin("test-misbehave");
    let text = format!(
        "version = 1\n\n{}{}[services.IN]\ntype = \"dicom-tcp\"\nport = {port}\nae_title = \"ROUTER-MOD\"\ntargets = [\"BAD-PLUGIN\"]\n\n\
         [processes.BAD-PLUGIN]\ntype = \"wasm\"\nplugin = \"{}\"\ntargets = [\"ARCHIVE\"]\n\n{}",
        association("STORESCU", "ROUTER-MOD"),
        association("ROUTER-MOD", "ARCHIVE"),
        wasm.display(),
        operation("ARCHIVE", archive_port),
    );
    let engine = TestEngine::start(&[("test", "misbehave", text.as_str())]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let good = write_instances(&input, "good", Modality::Ct, EXPLICIT, 1000, 64);
    let bad_kinds = ["loop", "trap", "panic", "oom", "unknown-target"];
    let mut files: Vec<PathBuf> = good.iter().map(|(p, _)| p.clone()).collect();
    let mut bad_uids = Vec::new();
    for (i, kind) in bad_kinds.iter().enumerate() {
        let uid = format!("1.2.826.0.1.3680043.10.1142.99.{}", i + 1);
        let path = input.join(format!("bad-{kind}.dcm"));
        write_image_with_uid(&path, "CT", kind, &uid);
        // Spread the bad messages among the good ones.
        files.insert(100 + i * 200, path);
        bad_uids.push(uid);
    }
    let (ok, acked, out) = storescu(port, &files).await;
    assert!(
        ok && acked == files.len(),
        "every message is acknowledged: {out}"
    );

    wait_until("the good instances arrive", &engine, || {
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
    let (port, archive_port) = (free_port(), free_port());
    let wasm = plugin("tag-morph");
    let text = format!(
        "version = 1\n\n{}{}[services.IN]\ntype = \"dicom-tcp\"\nport = {port}\nae_title = \"ROUTER-MOD\"\ntargets = [\"MORPH\"]\n\n\
         [processes.MORPH]\ntype = \"wasm\"\nplugin = \"{}\"\nconfig = {{ remove = [\"PatientName\"], set = [{{ tag = \"InstitutionName\", value = \"ANON\" }}] }}\ntargets = [\"ARCHIVE\"]\n\n{}",
        association("STORESCU", "ROUTER-MOD"),
        association("ROUTER-MOD", "ARCHIVE"),
        wasm.display(),
        operation("ARCHIVE", archive_port),
    );
    let engine = TestEngine::start(&[("test", "morph", text.as_str())]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let sent = write_instances(
        &engine.folder("input"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        5,
        1024,
    );
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();
    let (ok, acked, out) = storescu(port, &files).await;
    assert!(ok && acked == files.len(), "{out}");
    wait_until("the copies arrive", &engine, || {
        archive.received().len() == sent.len()
    })
    .await;

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
