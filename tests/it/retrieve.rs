//! C-MOVE through a production. Relayed as it is (`move = "as-is"`): DCMTK's
//! `movescu` asks the engine, the engine asks `dcmqrscp`, which stores to
//! the destination it knows (`storescp`); the counts, A801 for a destination
//! the upstream does not know, and a C-CANCEL come back through the engine.
//! Through the engine (the default), a destination not in the namespace's
//! AE directory is refused A801 before anything goes upstream.

use std::path::PathBuf;

use integration_tests::dcmtk::{Archive, dcmqrscp, dcmtk_command, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, data_set_bytes, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomService, Production};
use integration_tests::uids::{EXPLICIT, IMPLICIT};

const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";

/// MOVESCU asks ROUTER on `port`, which relays Study Root queries and moves
/// to QRSCP on `qr` (from the AE directory), with `move = "<mode>"`.
fn production(port: u16, qr: u16, mode: &str) -> String {
    let models = [STUDY_ROOT_FIND, STUDY_ROOT_MOVE];
    let syntaxes = [IMPLICIT, EXPLICIT];
    let text = Production::new()
        .association(Association::new("MOVESCU", "ROUTER", &models, &syntaxes))
        .association(Association::new("ROUTER", "QRSCP", &models, &syntaxes))
        .dicom_service(DicomService::new("IN", port, "ROUTER").targets(["TO-QRSCP"]));
    format!(
        "{text}\n[[ae_directory]]\nae_title = \"QRSCP\"\nhost = \"127.0.0.1\"\nport = {qr}\n\n\
         [operations.TO-QRSCP]\ntype = \"dicom-query\"\nremote_ae_title = \"QRSCP\"\n\
         local_ae_title = \"ROUTER\"\nmove = \"{mode}\"\n"
    )
}

/// `movescu -S` of the study `study` to `destination` through ROUTER on
/// `port`, with more options: what it printed.
async fn movescu(port: u16, destination: &str, study: &str, more: &[&str]) -> String {
    let out = dcmtk_command("movescu")
        .args([
            "-S",
            "-d",
            "-aet",
            "MOVESCU",
            "-aec",
            "ROUTER",
            "-aem",
            destination,
        ])
        .args(more)
        .args(["-k", "QueryRetrieveLevel=STUDY"])
        .args(["-k", &format!("StudyInstanceUID={study}")])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The study of instances written by `write_instances` (see `instances.rs`).
fn study_of(sop_instance_uid: &str) -> String {
    let series = sop_instance_uid.rsplit_once('.').unwrap().0;
    format!("{series}.9")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_relayed_as_is_arrives_whole_with_its_counts_and_unknown_destinations_and_cancel_come_back()
 {
    let (port, qr_port, dest_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let (qr, dest) = (qr_port.get(), dest_port.get());
    let text = production(port.get(), qr, "as-is");
    let engine = TestEngine::start(&[("radiology", "retrieve", &text)]).await;
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let _dcmqrscp = dcmqrscp(
        &engine.folder("qr"),
        "QRSCP",
        qr_port,
        &[("STORESCP", dest)],
    )
    .await;
    let input = engine.folder("input");
    let small = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 12, 4096);
    let large = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 200, 16384);
    for set in [&small, &large] {
        let files: Vec<PathBuf> = set.iter().map(|(p, _)| p.clone()).collect();
        let stored = storescu("QRSCP", qr, &files, &[]).await;
        assert!(stored.ok && stored.acknowledged() == set.len(), "{stored}");
    }

    // The study arrives whole and bit for bit, and the counts say so.
    let moved = movescu(port.get(), "STORESCP", &study_of(&small[0].1), &[]).await;
    let last = final_response(&moved);
    assert!(last.contains("0x0000: Success"), "{moved}");
    assert!(
        last.contains("Completed Suboperations       : 12"),
        "{moved}"
    );
    assert!(
        last.contains("Failed Suboperations          : 0"),
        "{moved}"
    );
    assert!(
        moved.contains("Remaining Suboperations       : 11"),
        "a pending response per instance: {moved}"
    );
    let received = destination.received();
    for (path, uid) in &small {
        let got = received
            .get(uid)
            .unwrap_or_else(|| panic!("{uid} missing: {moved}"));
        assert_eq!(data_set_bytes(got), data_set_bytes(path), "{uid}");
    }

    // A destination the upstream does not know: its A801 comes back.
    let unknown = movescu(port.get(), "NOSUCHAE", &study_of(&small[0].1), &[]).await;
    assert!(final_response(&unknown).contains("0xa801"), "{unknown}");

    // C-CANCEL after the first pending response goes upstream: the move
    // ends with FE00 before the 200 instances are all sent.
    let cancelled = movescu(
        port.get(),
        "STORESCP",
        &study_of(&large[0].1),
        &["--cancel", "1"],
    )
    .await;
    assert!(cancelled.contains("Sending Cancel Request"), "{cancelled}");
    let last = final_response(&cancelled);
    assert!(last.contains("0xfe00"), "{cancelled}");
    assert!(
        !last.contains("Completed Suboperations       : 200"),
        "{cancelled}"
    );
    assert!(
        engine.log().contains("C-MOVE answered."),
        "{}",
        engine.log()
    );
}

/// What `movescu -d` printed of the final response.
fn final_response(text: &str) -> &str {
    text.split_once("Received Final Move Response")
        .map_or("", |(_, last)| last)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_through_the_engine_to_a_destination_not_in_the_ae_directory_gets_a801_without_asking_upstream()
 {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    // Nothing listens on the upstream's port: it must not be needed.
    let text = production(port.get(), qr_port.get(), "through-engine");
    let engine = TestEngine::start(&[("radiology", "retrieve", &text)]).await;
    let refused = movescu(port.get(), "NOSUCHAE", "1.2.3.9", &[]).await;
    assert!(final_response(&refused).contains("0xa801"), "{refused}");
    assert!(
        refused.contains("NOSUCHAE is not in the AE directory of namespace radiology"),
        "the Error Comment says why: {refused}"
    );
    assert!(engine.log().contains("C-MOVE refused"), "{}", engine.log());
}
