//! Store-and-forward with real peers: DCMTK storescu → engine → DCMTK
//! storescp. Every acknowledged instance arrives with an identical data set,
//! also when the archive is down for a while or the engine is killed with
//! `kill -9` in the middle of a transfer; SIGTERM exits 0.

use std::path::PathBuf;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, uids_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::Production;
use integration_tests::uids::{EXPLICIT, IMPLICIT};

#[tokio::test(flavor = "multi_thread")]
async fn every_instance_arrives_identical_and_sigterm_exits_zero() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let mut engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 25, 8 * 1024);
    let mr = write_instances(&input, "mr", Modality::Mr, IMPLICIT, 25, 8 * 1024);

    let ct_files: Vec<PathBuf> = paths_of(&ct);
    let sent = storescu("ROUTER", port.get(), &ct_files, &[]).await;
    assert!(sent.ok && sent.acknowledged() == ct.len(), "{sent}");
    // Implicit VR only, so that the data set travels unconverted.
    let mr_files: Vec<PathBuf> = paths_of(&mr);
    let sent = storescu("ROUTER", port.get(), &mr_files, &["-xi"]).await;
    assert!(sent.ok && sent.acknowledged() == mr.len(), "{sent}");

    let all: Vec<(PathBuf, String)> = ct.into_iter().chain(mr).collect();
    let uids: Vec<String> = uids_of(&all);
    archive.wait_for(&uids, &engine, "test").await;
    archive.assert_identical(&all);

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
    let files: Vec<PathBuf> = paths_of(&sent);
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
    let uids: Vec<String> = uids_of(&sent);
    archive.wait_for(&uids, &engine, "test").await;
    archive.assert_identical(&sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_stream_loses_no_acknowledged_instance() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let mut engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 60, 64 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);

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
    acknowledged_arrive_after_restart(&mut engine, archive_port, sent, acked).await;
}

/// After a `kill -9`: restarts the engine, starts the archive, and checks
/// that the first `acked` of `sent` arrive identical (storescu sends in
/// order, so those were acknowledged).
async fn acknowledged_arrive_after_restart(
    engine: &mut TestEngine,
    archive_port: Port,
    sent: Vec<(PathBuf, String)>,
    acked: usize,
) -> Archive {
    engine.restart().await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let acknowledged: Vec<(PathBuf, String)> = sent.into_iter().take(acked).collect();
    let uids: Vec<String> = uids_of(&acknowledged);
    archive.wait_for(&uids, engine, "test").await;
    archive.assert_identical(&acknowledged);
    archive
}

/// An engine whose retention has just recycled the files of `count`
/// delivered bodies of 64 KiB into the spool pool (retention purges every
/// delivered body at each pass, the first at start), and its archive.
async fn with_recycled_files(
    port: &Port,
    archive_port: Port,
    count: usize,
) -> (TestEngine, Archive) {
    let text = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let mut engine = TestEngine::start_with(
        &[("test", "forward", &text)],
        &["--retention-size-mib", "0"],
        |_| {},
    )
    .await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let first = write_instances(
        &engine.folder("input"),
        "a",
        Modality::Ct,
        EXPLICIT,
        count,
        64 * 1024,
    );
    let files: Vec<PathBuf> = paths_of(&first);
    let sent = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(sent.ok && sent.acknowledged() == first.len(), "{sent}");
    let uids: Vec<String> = uids_of(&first);
    archive.wait_for(&uids, &engine, "test").await;
    assert!(engine.stop().await.success());
    engine.restart().await;
    engine
        .wait_for_log("Bodies of delivered messages purged by retention.", 1)
        .await;
    (engine, archive)
}

/// The SOP Instance UIDs of the bodies in recycled files, sorted.
fn in_recycled_files(engine: &TestEngine) -> Vec<String> {
    let mut uids: Vec<String> = std::fs::read_dir(engine.data_dir().join("bodies"))
        .expect("bodies folder")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-r"))
        .filter_map(|e| switchboard::store::Bodies::read_trailer(&e.path()).ok())
        .map(|trailer| trailer.header.sop_instance_uid)
        .collect();
    uids.sort();
    uids
}

/// Retention hands the files of purged bodies to the spool pool: new
/// instances are written over them (their blocks already allocated), arrive
/// identical, and each such file ends with its new message's trailer, also
/// when the new data set is shorter than what the file held.
#[tokio::test(flavor = "multi_thread")]
async fn instances_spooled_into_recycled_body_files_arrive_identical() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let (engine, archive) = with_recycled_files(&port, archive_port, 20).await;
    let second = write_instances(
        &engine.folder("input"),
        "b",
        Modality::Ct,
        EXPLICIT,
        20,
        48 * 1024,
    );
    let files: Vec<PathBuf> = paths_of(&second);
    let sent = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(sent.ok && sent.acknowledged() == second.len(), "{sent}");
    let mut uids: Vec<String> = uids_of(&second);
    archive.wait_for(&uids, &engine, "test").await;
    archive.assert_identical(&second);
    uids.sort();
    assert_eq!(
        in_recycled_files(&engine),
        uids,
        "every new instance went into a recycled file"
    );
}

/// `kill -9` while instances are spooled into recycled files: every
/// acknowledged one arrives identical after the restart, and a file cut
/// short over an old body comes back as neither.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_storing_into_recycled_files_loses_no_acknowledged_instance() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    // As many recycled files as instances: the kill comes while they are
    // in use.
    let (mut engine, archive) = with_recycled_files(&port, archive_port, 60).await;
    // The archive is down: what is acknowledged waits in the store.
    let archive_port = archive.stop().await;
    let sent = write_instances(
        &engine.folder("input"),
        "b",
        Modality::Ct,
        EXPLICIT,
        60,
        48 * 1024,
    );
    let files: Vec<PathBuf> = paths_of(&sent);
    let to = port.get();
    let sender = tokio::spawn(async move { storescu("ROUTER", to, &files, &[]).await });
    engine
        .wait_until("ten instances in recycled files", async || {
            in_recycled_files(&engine).len() >= 10
        })
        .await;
    let acked = engine.kill9_while_storing(sender).await;
    let archive = acknowledged_arrive_after_restart(&mut engine, archive_port, sent, acked).await;
    let arrived = archive.received().len();
    assert!(
        arrived <= 60 + acked + 1,
        "{arrived} instances arrived: 60 before, {acked} acknowledged, at most one more"
    );
}
