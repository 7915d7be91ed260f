//! Store-and-forward with real peers: DCMTK storescu → engine → DCMTK
//! storescp. Every acknowledged instance arrives with an identical data set,
//! also when the archive is down for a while or the engine is killed with
//! `kill -9` in the middle of a transfer; SIGTERM exits 0.

use std::path::PathBuf;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, data_set_bytes, write_instances};
use integration_tests::net::Port;
use integration_tests::production::Production;
use integration_tests::uids::{EXPLICIT, IMPLICIT};

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
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let mut engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 25, 8 * 1024);
    let mr = write_instances(&input, "mr", Modality::Mr, IMPLICIT, 25, 8 * 1024);

    let ct_files: Vec<PathBuf> = ct.iter().map(|(p, _)| p.clone()).collect();
    let sent = storescu("ROUTER", port.get(), &ct_files, &[]).await;
    assert!(sent.ok && sent.acknowledged() == ct.len(), "{sent}");
    // Implicit VR only, so that the data set travels unconverted.
    let mr_files: Vec<PathBuf> = mr.iter().map(|(p, _)| p.clone()).collect();
    let sent = storescu("ROUTER", port.get(), &mr_files, &["-xi"]).await;
    assert!(sent.ok && sent.acknowledged() == mr.len(), "{sent}");

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
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 10, 4 * 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();
    // Acknowledged although the archive does not run.
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == sent.len(), "{stored}");
    // Let a few attempts fail.
    engine
        .wait_until("two failed attempts", async || {
            engine.messages("test").await.iter().any(|m| {
                m["deliveries"][0]["attempts"]
                    .as_u64()
                    .is_some_and(|n| n >= 2)
            })
        })
        .await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let uids: Vec<String> = sent.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
    assert_identical(&sent, &archive);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_stream_loses_no_acknowledged_instance() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let mut engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 60, 64 * 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();

    // The archive is down: everything acknowledged waits in the store.
    let to = port.get();
    let sender = tokio::spawn(async move { storescu("ROUTER", to, &files, &[]).await });
    let bodies = engine.data_dir().join("bodies");
    // Bodies with content: the folder also holds empty spool files made
    // ahead of time. One at most is still being received, so at least nine
    // of ten were acknowledged.
    engine
        .wait_until("ten bodies with content", async || {
            std::fs::read_dir(&bodies).is_ok_and(|d| {
                d.flatten()
                    .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
                    .count()
                    >= 10
            })
        })
        .await;
    let acked = engine.kill9_while_storing(sender).await;
    engine.restart().await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    // storescu sends in order: the first `acked` files were acknowledged.
    let acknowledged: Vec<(PathBuf, String)> = sent.into_iter().take(acked).collect();
    let uids: Vec<String> = acknowledged.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
    assert_identical(&acknowledged, &archive);
}
