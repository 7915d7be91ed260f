//! Cut-through forwarding with real peers: a large instance goes out to
//! DCMTK storescp while storescu is still sending it to the engine. It
//! arrives identical and is not sent twice; when the inbound transfer
//! fails half-way, the outbound one is aborted and the archive keeps
//! nothing; `kill -9` of the engine during a cut-through loses no
//! acknowledged instance.

use std::path::PathBuf;
use std::time::Duration;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, data_set_bytes, paths_of, uids_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomOperation, DicomService, Production};
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT};
use switchboard::dimse::scu::{ScuOptions, connect};
use tokio::io::AsyncWriteExt;

const CUT_THROUGH: &str = "sent while it arrived (cut-through)";

/// Store and forward whose service sends on what passes 1 MiB while it
/// arrives.
fn production(port: u16, archive_port: u16) -> String {
    Production::new()
        .association(Association::storage("STORESCU", "ROUTER"))
        .association(Association::storage("ROUTER", "ARCHIVE"))
        .dicom_service(
            DicomService::new("IN", port, "ROUTER")
                .targets(["OUT"])
                .cut_through_above(1 << 20),
        )
        .dicom_operation(DicomOperation::archive(archive_port))
        .to_string()
}

/// The engine running the production above, the archive it forwards to,
/// and a folder for the instances to send.
struct Setup {
    port: Port,
    engine: TestEngine,
    archive: Archive,
    input: PathBuf,
}

async fn start() -> Setup {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = production(port.get(), archive_port.get());
    let engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    Setup {
        port,
        engine,
        archive,
        input,
    }
}

/// The note of each message's delivery, by SOP instance UID.
async fn notes(engine: &TestEngine) -> Vec<(String, String)> {
    engine
        .messages("test")
        .await
        .iter()
        .map(|m| {
            (
                m["header"]["sop_instance_uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                m["deliveries"][0]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn large_instances_go_out_while_they_arrive_and_arrive_identical() {
    let Setup {
        port,
        engine,
        archive,
        input,
    } = start().await;
    let large = write_instances(&input, "large", Modality::Ct, EXPLICIT, 2, 30 << 20);
    let small = write_instances(&input, "small", Modality::Ct, EXPLICIT, 1, 64 << 10);
    let sent: Vec<(PathBuf, String)> = large.iter().chain(&small).cloned().collect();
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == sent.len(), "{stored}");

    let uids: Vec<String> = uids_of(&sent);
    archive.wait_for(&uids, &engine, "test").await;
    archive.assert_identical(&sent);
    let notes = notes(&engine).await;
    for (_, uid) in &large {
        assert!(
            notes.contains(&(uid.clone(), CUT_THROUGH.to_string())),
            "{uid} was not sent while it arrived: {notes:?}\n{}",
            engine.log()
        );
    }
    assert!(
        notes.contains(&(small[0].1.clone(), String::new())),
        "below the threshold, store then forward: {notes:?}"
    );
}

/// Half of an 8 MiB data set is sent to the engine and goes on to the
/// archive; then the sender aborts. The engine aborts its association to
/// the archive, which keeps nothing, and nothing is taken in.
#[tokio::test(flavor = "multi_thread")]
async fn an_inbound_transfer_that_fails_half_way_leaves_nothing_at_the_archive() {
    let Setup {
        port,
        engine,
        archive,
        input,
    } = start().await;
    let (path, uid) = write_instances(&input, "cut", Modality::Ct, EXPLICIT, 1, 8 << 20).remove(0);
    let data = data_set_bytes(&path);

    let options = ScuOptions::new("STORESCU", "ROUTER").with_context(CT_IMAGE_STORAGE, &[EXPLICIT]);
    let mut association = connect(&format!("127.0.0.1:{}", port.get()), &options)
        .await
        .expect("an association");
    // The data set comes through a pipe that gets only its first half.
    let (mut feed, pipe) = tokio::io::duplex(64 << 10);
    let half = data.len() / 2;
    let fed = tokio::spawn(async move {
        feed.write_all(&data[..half]).await.expect("the first half");
        feed
    });
    {
        let store = association.store(CT_IMAGE_STORAGE, &uid, EXPLICIT, pipe);
        let at_archive = async {
            while !archive.received().contains_key(&uid) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            stored = store => panic!("the C-STORE ended with half its data set: {stored:?}"),
            () = at_archive => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {
                panic!("nothing reached the archive while it arrived; engine log:\n{}", engine.log())
            }
        }
    }
    association.abort().await;
    drop(fed.await);

    engine
        .wait_for_log("Not sent while it arrived (cut-through)", 1)
        .await;
    engine
        .wait_until("the archive drops the partial instance", async || {
            !archive.received().contains_key(&uid)
        })
        .await;
    assert!(engine.messages("test").await.is_empty(), "nothing taken in");
}

/// The engine is killed while the second of three 40 MiB instances goes
/// out as it arrives. After a restart every acknowledged instance arrives
/// identical, and the archive holds no partial instance.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_cut_through_loses_no_acknowledged_instance() {
    let Setup {
        port,
        mut engine,
        archive,
        input,
    } = start().await;
    let sent = write_instances(&input, "large", Modality::Ct, EXPLICIT, 3, 40 << 20);
    let files: Vec<PathBuf> = paths_of(&sent);
    let to = port.get();
    let sender = tokio::spawn(async move { storescu("ROUTER", to, &files, &[]).await });
    let second = sent[1].1.clone();
    engine
        .wait_until("the second instance going out", async || {
            archive.received().contains_key(&second)
        })
        .await;
    let acked = engine.kill9_while_storing(sender).await;
    engine.restart().await;
    let acknowledged: Vec<(PathBuf, String)> = sent.iter().take(acked).cloned().collect();
    let uids: Vec<String> = uids_of(&acknowledged);
    archive.wait_for(&uids, &engine, "test").await;
    // Whatever the archive holds is whole: the acknowledged instances, and
    // at most one that went out whole before the engine could answer.
    let got = archive.received();
    for (path, uid) in &sent {
        if let Some(arrived) = got.get(uid) {
            assert!(
                data_set_bytes(path) == data_set_bytes(arrived),
                "{uid} is not whole at the archive"
            );
        }
    }
}
